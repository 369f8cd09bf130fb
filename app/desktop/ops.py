"""Background work for the GUI, through one helper.

`run_in_background(work, on_done, on_error)` runs `work()` on a worker thread
and calls `on_done(result)` or `on_error(exc)` on the GUI thread. All store,
OCR and model work goes through here, so the GUI thread never waits on it.
Store writes are serialised by the store's own writer lock, so several
operations may be in flight at once.

Never touch widgets inside `work`: it runs on a worker thread.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from app.qt import QObject, QRunnable, QThreadPool, Signal, isValid


class _Relay(QObject):
    done = Signal(object)
    failed = Signal(object)


class _Job(QRunnable):
    def __init__(self, work: Callable[[], Any], relay: _Relay) -> None:
        super().__init__()
        self._work, self._relay = work, relay

    def run(self) -> None:
        try:
            result = self._work()
        except Exception as exc:  # handed to on_error on the GUI thread
            self._relay.failed.emit(exc)
        else:
            self._relay.done.emit(result)


_live: set[_Relay] = set()  # keeps relays alive until their job reports


def run_in_background(work: Callable[[], Any], on_done: Callable[[Any], None],
                      on_error: Callable[[Exception], None] | None = None, *, owner: QObject | None = None) -> None:
    """`owner`: the widget the callbacks update; if it is gone by the time the work ends
    (the window was closed meanwhile), the result is dropped instead of touching it."""
    relay = _Relay()
    _live.add(relay)

    def finish(callback: Callable[[Any], None] | None, value: Any) -> None:
        _live.discard(relay)
        if owner is not None and not isValid(owner):
            return
        if callback is not None:
            callback(value)

    relay.done.connect(lambda result: finish(on_done, result))
    relay.failed.connect(lambda exc: finish(on_error, exc))
    QThreadPool.globalInstance().start(_Job(work, relay))


def wait_for_background(timeout_ms: int = 30_000) -> bool:
    """Block until every job has finished (used at shutdown, and by tests)."""
    return bool(QThreadPool.globalInstance().waitForDone(timeout_ms))
