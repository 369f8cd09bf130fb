"""The ask panel: a chat with Engram about your past, answers streamed, sources one click away.

Asking runs off the GUI thread (ops.run_in_background); the answer's pieces
are handed to the GUI thread as they come (ops.post_to_gui). Every [S1]
in an answer and every listed source is a link that opens that memory or
frame. One question at a time: a second Enter while answering is ignored.
"""
from __future__ import annotations

import html
import re
from collections.abc import Callable
from typing import Any

from storage.search import Hit

from app.desktop.ops import post_to_gui, run_in_background
from app.desktop.style import error_colour
from app.qt import QHBoxLayout, QLineEdit, QPalette, QPushButton, QTextBrowser, QVBoxLayout, QWidget, isValid

_CITE = re.compile(r"\[(S\d+)\]")
_MODE_NOTE = {"extractive": "quoted from your memories", "episodes": "from your activity", "model": "",
              "unknown": ""}


class AskPanel(QWidget):
    def __init__(self, ask: Callable[[str, Callable[[str], None]], Any], open_source: Callable[[Hit], None]) -> None:
        super().__init__()
        self.setWindowTitle("Ask Engram")
        self.resize(720, 560)
        self._ask, self._open_source = ask, open_source
        self._blocks: list[str] = []
        self._streaming = ""
        self._sources: dict[str, Hit] = {}
        self.busy = False
        self.view = QTextBrowser()
        self.view.setOpenLinks(False)
        self.view.anchorClicked.connect(lambda url: self._open(url.toString()))
        self.input = QLineEdit()
        self.input.setPlaceholderText("Ask about your past — e.g. “what did I do yesterday?”")
        self.input.returnPressed.connect(self.submit)
        self.button = QPushButton("Ask")
        self.button.clicked.connect(self.submit)
        row = QHBoxLayout()
        row.addWidget(self.input, stretch=1)
        row.addWidget(self.button)
        layout = QVBoxLayout(self)
        layout.addWidget(self.view, stretch=1)
        layout.addLayout(row)
        self._blocks.append("<p class='muted'>Answers come from your memories and say where from. "
                            "Nothing leaves this computer.</p>")
        self._render()
        self.input.setFocus()          # opened to type a question: the field has the keyboard at once

    def showEvent(self, event: Any) -> None:
        super().showEvent(event)
        self.input.setFocus()

    def submit(self) -> None:
        question = self.input.text().strip()
        if not question or self.busy:
            return
        self.busy = True
        self.button.setEnabled(False)
        self.input.clear()
        self._blocks.append(f"<p><b>You:</b> {html.escape(question)}</p>")
        self._streaming = ""
        self._render(pending=True)
        run_in_background(lambda: self._ask(question, self._arrived), self._answered, self._failed, owner=self)

    def _arrived(self, piece: str) -> None:
        """On the worker thread: hand the piece to the GUI thread."""
        post_to_gui(lambda: self._piece(piece) if isValid(self) else None)

    def _piece(self, piece: str) -> None:
        self._streaming += piece
        self._render(pending=True)

    def _answered(self, answer: Any) -> None:
        base = len(self._sources)
        keys = {}
        for source in answer.sources:
            link = f"src{base + len(keys) + 1}"
            keys[source.key] = link
            self._sources[link] = Hit(source.memory_id, source.kind, source.time, source.text, 0.0, source.app,
                                      source.title, frame_id=source.frame_id)
        body = _CITE.sub(lambda m: f"<a href='{keys[m.group(1)]}'>[{m.group(1)}]</a>" if m.group(1) in keys
                         else m.group(0), html.escape(answer.text)).replace("\n", "<br>")
        note = " · ".join(n for n in (_MODE_NOTE.get(answer.mode, ""), answer.note) if n)
        listed = "".join(
            f"<li><a href='{keys[s.key]}'>[{s.key}]</a> {s.time.astimezone():%d %b %Y %H:%M}"
            f"{' · ' + html.escape(s.app) if s.app else ''} · {s.kind}<br>"
            f"<span>{html.escape(s.excerpt())}</span></li>" for s in answer.sources)
        self._blocks.append(f"<p><b>Engram:</b> {body}</p>"
                            + (f"<p class='muted'><small>{html.escape(note)}</small></p>" if note else "")
                            + (f"<ul class='muted'>{listed}</ul>" if listed else ""))
        self._done()

    def _failed(self, exc: Exception) -> None:
        self._blocks.append(f"<p class='error'><b>Engram:</b> could not answer "
                            f"({html.escape(str(exc) or type(exc).__name__)}).</p>")
        self._done()

    def _done(self) -> None:
        self.busy = False
        self._streaming = ""
        self.button.setEnabled(True)
        self._render()
        self.input.setFocus()

    def _render(self, pending: bool = False) -> None:
        blocks = list(self._blocks)
        if pending:
            blocks.append(f"<p><b>Engram:</b> {html.escape(self._streaming) or '<i>thinking…</i>'}</p>")
        # Colours from the palette when drawn, so the page reads in light and dark (and after a switch).
        palette = self.view.palette()
        self.view.document().setDefaultStyleSheet(
            f".muted {{ color: {palette.color(QPalette.ColorRole.PlaceholderText).name()}; }} "
            f".error {{ color: {error_colour(palette)}; }}")
        self.view.setHtml("".join(blocks))
        bar = self.view.verticalScrollBar()
        bar.setValue(bar.maximum())

    def _open(self, link: str) -> None:
        hit = self._sources.get(link)
        if hit is not None:
            self._open_source(hit)
