"""One writer at a time, across threads and processes.

LanceDB commits each write atomically, but two processes committing at once
(the tray app and a CLI command, say) would race on maintenance such as
compaction. Every write therefore holds an exclusive lock on a file in the
store directory; readers never take it (LanceDB's commits are atomic, so a reader
sees the last whole one). A writer that finds the lock taken says so once and
waits, up to a bound, then gives up with `WriterBusy`, having written nothing.
"""
from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

if sys.platform == "win32":  # pragma: no cover - exercised on Windows only
    import msvcrt

    def _try_lock(fd: int) -> bool:
        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True

    def _unlock(fd: int) -> None:
        msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)
else:
    import fcntl

    def _try_lock(fd: int) -> bool:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True

    def _unlock(fd: int) -> None:
        fcntl.flock(fd, fcntl.LOCK_UN)


DEFAULT_WAIT_SECONDS = 120.0
_POLL_SECONDS = 0.2


class WriterBusy(Exception):
    """Another process held the writer lock for longer than this one would wait."""

    def __init__(self, waited: float, undone: str = "nothing was written") -> None:
        super().__init__(f"another Engram kept the store busy for {waited:g} s, so {undone}; "
                         "try again once it is done (or close the other Engram)")
        self.waited = waited


def say_on_stderr(message: str) -> None:
    """The default notice: the user waiting on a command (or reading the app's output) learns why."""
    print(f"engram: {message}", file=sys.stderr, flush=True)


class WriterLock:
    def __init__(self, path: Path, wait_seconds: float = DEFAULT_WAIT_SECONDS,
                 on_wait: Callable[[str], None] = say_on_stderr) -> None:
        self._path = path
        self.wait_seconds = wait_seconds
        self.on_wait = on_wait
        self._thread_lock = threading.RLock()
        self._depth = 0
        self._fd: int | None = None

    @contextmanager
    def held(self, wait_seconds: float | None = None) -> Iterator[None]:
        """`wait_seconds`: this time's bound instead of the lock's own (0: only if free now, said to no one)."""
        with self._thread_lock:
            if self._depth == 0:
                fd = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o600)
                try:
                    self._acquire(fd, self.wait_seconds if wait_seconds is None else wait_seconds)
                except BaseException:
                    os.close(fd)
                    raise
                self._fd = fd
            self._depth += 1
            try:
                yield
            finally:
                self._depth -= 1
                if self._depth == 0 and self._fd is not None:
                    _unlock(self._fd)
                    os.close(self._fd)
                    self._fd = None

    def _acquire(self, fd: int, wait_seconds: float) -> None:
        if _try_lock(fd):
            return
        if wait_seconds <= 0:
            raise WriterBusy(0)
        self.on_wait("another Engram is writing; waiting (up to %g s)..." % wait_seconds)
        deadline = time.monotonic() + wait_seconds
        while not _try_lock(fd):
            if time.monotonic() >= deadline:
                raise WriterBusy(wait_seconds)
            time.sleep(_POLL_SECONDS)
