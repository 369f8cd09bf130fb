"""The desktop app's end of `engram mcp`: requests arrive on the single-instance socket.

A connection whose first bytes are `mcp ` carries one JSON request line (app/mcp/relay.py). It is
answered on the same connection once the call has run on a worker thread (app/mcp/service.py does
the work, Qt-free), then closed. The desktop adds what only it can: asking the user before an agent
forgets anything, and a brief tray notice when an agent read memory.
"""
from __future__ import annotations

import copy
import json
import logging
import threading
import time
from typing import Any

from app.desktop.ops import post_to_gui, run_in_background
from app.mcp.relay import MAX_LINE, PREFIX
from app.mcp.service import McpService
from app.qt import QLocalSocket, QMessageBox

log = logging.getLogger(__name__)
APPROVAL_SECONDS = 120.0     # an unanswered "forget?" is a no
NOTICE_EVERY = 60.0          # seconds between two tray notices for one client


class McpBridge:
    def __init__(self, desktop: Any) -> None:
        self.desktop = desktop
        self.service = McpService(lambda: desktop.store, self._ask, lambda c, w: self.approve(c, w),
                                  on_read=lambda client, tool: post_to_gui(lambda: self._notice(client, tool)))
        self._open: dict[QLocalSocket, bytearray] = {}
        self._taken: set[QLocalSocket] = set()   # its request is read (or refused): later bytes are ignored
        self._noticed: dict[str, float] = {}
        self._ask_lock = threading.Lock()
        self.approval_box: QMessageBox | None = None

    # -- the socket (GUI thread) ------------------------------------------------------------------

    def take(self, connection: QLocalSocket, data: bytes) -> None:
        """`data`: what was read so far, starting with the prefix; the rest arrives as it comes."""
        self._open[connection] = bytearray(data)
        connection.readyRead.connect(lambda: self._more(connection))
        connection.disconnected.connect(lambda: self._closed(connection))
        self._check(connection)

    def _more(self, connection: QLocalSocket) -> None:
        data = bytes(connection.readAll().data())
        if connection in self._open and connection not in self._taken:
            self._open[connection] += data
            self._check(connection)

    def _check(self, connection: QLocalSocket) -> None:
        buffer = self._open[connection]
        if len(buffer) > MAX_LINE:
            self._taken.add(connection)
            self._answer(connection, {"ok": False, "error": "the request is too large; nothing was done"})
            return
        if not buffer.endswith(b"\n"):
            return
        self._taken.add(connection)
        try:
            request = json.loads(bytes(buffer[len(PREFIX):]))
        except ValueError:
            self._answer(connection, {"ok": False, "error": "the request could not be read; nothing was done"})
            return
        run_in_background(lambda: self.service.handle(request), lambda answer: self._answer(connection, answer))

    def _answer(self, connection: QLocalSocket, answer: dict[str, Any]) -> None:
        if connection not in self._open:
            return  # the client went away meanwhile
        connection.write(json.dumps(answer, ensure_ascii=False).encode() + b"\n")
        connection.flush()
        connection.disconnectFromServer()  # after the pending bytes are written

    def _closed(self, connection: QLocalSocket) -> None:
        self._taken.discard(connection)
        if self._open.pop(connection, None) is not None:
            connection.deleteLater()

    # -- what only the desktop can do -------------------------------------------------------------

    def approve(self, client: str, what: str) -> bool:
        """On a worker thread: ask the user whether `client` may forget `what`; no answer in time is a no."""
        decided, answer = threading.Event(), [False]
        post_to_gui(lambda: self._ask_user(client, what, answer, decided))
        if not decided.wait(APPROVAL_SECONDS):
            post_to_gui(self._close_box)
        # A yes given after Engram was locked meanwhile does not count: the user locked it.
        return answer[0] and decided.is_set() and self.desktop.store is not None

    def _ask_user(self, client: str, what: str, answer: list[bool], decided: threading.Event) -> None:
        box = QMessageBox(QMessageBox.Icon.Question, "Engram: forget memories?",
                          f"The agent “{client}” asks Engram to forget {what}.\n\nThis cannot be undone. Allow it?",
                          QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No)
        box.setDefaultButton(QMessageBox.StandardButton.No)

        def finished(result: int) -> None:
            answer[0] = box.standardButton(box.clickedButton()) == QMessageBox.StandardButton.Yes
            decided.set()
            self.approval_box = None

        box.finished.connect(finished)
        self.approval_box = box
        box.show()

    def _close_box(self) -> None:
        if self.approval_box is not None:
            self.approval_box.close()
            self.approval_box = None

    def _notice(self, client: str, tool: str) -> None:
        now = time.monotonic()
        if now - self._noticed.get(client, -NOTICE_EVERY) < NOTICE_EVERY:
            return
        self._noticed[client] = now
        self.desktop.tray.showMessage("Engram", f"The agent “{client}” read your memory ({tool}).")

    def _ask(self, question: str) -> Any:
        """On a worker thread: the desktop's model, loaded once; an agent's question is not kept as the user's."""
        from app.cli.ask import build_asker

        with self._ask_lock:
            desktop = self.desktop
            if desktop.store is None:
                raise RuntimeError("Engram is locked")
            if desktop.asker is None:
                desktop.asker = build_asker(desktop.store)
            asker = copy.copy(desktop.asker)
            asker.remember = False
            desktop._asked_at = time.monotonic()
            try:
                return asker.ask(question)
            finally:
                desktop._asked_at = time.monotonic()
