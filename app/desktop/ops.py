"""Background work for the GUI, through one helper.

`run_in_background(work, on_done, on_error)` runs `work()` on a worker thread
and calls `on_done(result)` or `on_error(exc)` on the GUI thread. All store,
OCR and model work goes through here, so the GUI thread never waits on it.
Store writes are serialised by the store's own writer lock, so several
operations may be in flight at once. `post_to_gui(fn)` hands any other thread's
news (a streamed answer's pieces, the global shortcut) to the GUI thread.

How results cross threads: worker threads never call Qt. They put a callable
in a queue and write one byte to a pipe; a QSocketNotifier on the pipe wakes
the GUI thread, which runs the queued callables. (Emitting a Qt signal from a
worker thread, the usual way, corrupts reference counts in PySide6 6.12 under
load: "bool_dealloc: deallocating True or False" after a few thousand
emissions, reproduced with 3,000 jobs. The pipe also costs nothing when idle.)

Never touch widgets inside `work`: it runs on a worker thread.
"""
from __future__ import annotations

import os
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import wait as wait_for
from typing import Any

from app.qt import QObject, QSocketNotifier, isValid

_POOL = ThreadPoolExecutor(max_workers=4, thread_name_prefix="engram-background")
_INBOX: queue.SimpleQueue[Callable[[], None]] = queue.SimpleQueue()
_PENDING: set[Future[None]] = set()
_LOCK = threading.Lock()
_READ_FD, _WRITE_FD = os.pipe()
os.set_blocking(_READ_FD, False)
os.set_blocking(_WRITE_FD, False)
_notifier: QSocketNotifier | None = None


def start() -> None:
    """Listen for posted work; call once on the GUI thread (run_in_background does it too)."""
    global _notifier
    if _notifier is None:
        _notifier = QSocketNotifier(_READ_FD, QSocketNotifier.Type.Read)
        _notifier.activated.connect(_wake)


def post_to_gui(fn: Callable[[], None]) -> None:
    """Run `fn` on the GUI thread soon; safe from any thread."""
    _INBOX.put(fn)
    try:
        os.write(_WRITE_FD, b"!")
    except BlockingIOError:
        pass  # the pipe is full: the GUI thread has been woken already


def run_in_background(work: Callable[[], Any], on_done: Callable[[Any], None],
                      on_error: Callable[[Exception], None] | None = None, *, owner: QObject | None = None) -> None:
    """`owner`: the widget the callbacks update; if it is gone by the time the work ends
    (the window was closed meanwhile), the result is dropped instead of touching it."""
    start()

    def finish(callback: Callable[[Any], None] | None, value: Any) -> None:
        if owner is not None and not isValid(owner):
            return
        if callback is not None:
            callback(value)

    def job() -> None:
        try:
            result = work()
        except Exception as exc:  # handed to on_error on the GUI thread (bound now: `exc` ends with the block)
            post_to_gui(lambda error=exc: finish(on_error, error))
        else:
            post_to_gui(lambda: finish(on_done, result))

    future = _POOL.submit(job)
    with _LOCK:
        _PENDING.add(future)
    future.add_done_callback(_forget)


def _forget(future: Future[None]) -> None:
    with _LOCK:
        _PENDING.discard(future)


def _wake() -> None:
    try:
        while os.read(_READ_FD, 4096):
            pass
    except BlockingIOError:
        pass
    _drain()


def _drain() -> None:
    while True:
        try:
            fn = _INBOX.get_nowait()
        except queue.Empty:
            return
        fn()


def wait_for_background(timeout_ms: int = 30_000) -> bool:
    """Block until every job has finished and its callback has run (at shutdown, and in tests).
    Call on the GUI thread: the callbacks run here."""
    deadline = timeout_ms / 1000
    while True:
        with _LOCK:
            pending = list(_PENDING)
        if not pending:
            _drain()
            with _LOCK:
                if not _PENDING:
                    return True
            continue
        done, not_done = wait_for(pending, timeout=deadline)
        _drain()
        if not_done:
            return False
