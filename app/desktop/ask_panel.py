"""The ask panel: a chat with Engram about your past, answers streamed, sources one click away.

Asking runs off the GUI thread (ops.run_in_background); the answer's pieces
are handed to the GUI thread as they come (ops.post_to_gui). While the model
reads its notes (most of the wait) the panel lists them; while a question is
typed, the model reads ahead the notes its words so far find (after a short
pause in typing), so the question waits only for what differs. Every [S1] in an
answer and every listed source or note is a link that opens that memory or
frame. One question at a time: a second Enter while answering is ignored.
"""
from __future__ import annotations

import html
import logging
import re
from collections.abc import Callable
from typing import Any

from storage.search import Hit

from app.desktop.ops import post_to_gui, run_in_background
from app.desktop.style import error_colour
from app.qt import (QHBoxLayout, QLineEdit, QPalette, QPushButton, QTextBrowser, QTimer, QVBoxLayout, QWidget,
                    isValid)

log = logging.getLogger(__name__)
_CITE = re.compile(r"\[(S\d+)\]")
READING_LISTED = 5   # notes listed while the model reads them
# A pause in typing this long (ms) reads the draft's notes ahead: a typist's pause between words is shorter.
READ_AHEAD_PAUSE_MS = 600
# This many characters arriving in one edit are a paste, not typing: read at once, since Enter tends to follow
# a paste sooner than any pause (a pasted question waited ~3.4 s for its first words, one read ahead ~1.4 s).
PASTED_CHARS = 8
_MODE_NOTE = {"extractive": "quoted from your memories", "episodes": "from your activity", "model": "",
              "unknown": ""}


class AskPanel(QWidget):
    def __init__(self, ask: Callable[[str, Callable[[str], None], Callable[[list[Any]], None]], Any],
                 open_source: Callable[[Hit], None], read_ahead: Callable[[str], Any] | None = None) -> None:
        """`ask(question, on_text, on_reading)` answers on a worker thread (agents.ask.Asker.ask's callbacks);
        `read_ahead(draft)` has the model read a draft's notes, on a worker thread (agents.ask.Asker.read_ahead)."""
        super().__init__()
        self.setWindowTitle("Ask Engram")
        self.resize(720, 560)
        self._ask, self._open_source, self._read_ahead = ask, open_source, read_ahead
        self._drafted = ""                     # the last draft read ahead
        self._length = 0                       # of the field's text at the last edit
        self._pause = QTimer(self)
        self._pause.setSingleShot(True)
        self._pause.setInterval(READ_AHEAD_PAUSE_MS)
        self._pause.timeout.connect(self._read_draft)
        self._blocks: list[str] = []
        self._streaming = ""
        self._reading: list[Any] = []          # the notes the model is reading (agents.ask.Source)
        self._sources: dict[str, Hit] = {}     # link -> what it opens
        self._links: dict[str, str] = {}       # memory id -> its link
        self.busy = False
        self.view = QTextBrowser()
        self.view.setOpenLinks(False)
        self.view.anchorClicked.connect(lambda url: self._open(url.toString()))
        self.input = QLineEdit()
        self.input.setPlaceholderText("Ask about your past — e.g. “what did I do yesterday?”")
        self.input.returnPressed.connect(self.submit)
        self.input.textEdited.connect(self._edited)
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

    def _edited(self, text: str) -> None:
        pasted = len(text) - self._length >= PASTED_CHARS
        self._length = len(text)
        if pasted:
            self._pause.stop()
            self._read_draft()
        else:
            self._pause.start()

    def _read_draft(self) -> None:
        draft = self.input.text().strip()
        if self._read_ahead is None or self.busy or not draft or draft == self._drafted:
            return
        self._drafted = draft
        read_ahead = self._read_ahead
        run_in_background(lambda: read_ahead(draft), lambda _read: None,
                          lambda exc: log.info("reading ahead failed: %s", exc), owner=self)

    def submit(self) -> None:
        question = self.input.text().strip()
        if not question or self.busy:
            return
        self._pause.stop()
        self.busy = True
        self.button.setEnabled(False)
        self.input.clear()
        self._length = 0
        self._blocks.append(f"<p><b>You:</b> {html.escape(question)}</p>")
        self._streaming, self._reading = "", []
        self._render(pending=True)
        run_in_background(lambda: self._ask(question, self._arrived, self._read), self._answered, self._failed,
                          owner=self)

    def _arrived(self, piece: str) -> None:
        """On the worker thread: hand the piece to the GUI thread."""
        post_to_gui(lambda: self._piece(piece) if isValid(self) else None)

    def _read(self, sources: list[Any]) -> None:
        """On the worker thread: the model starts reading these notes."""
        post_to_gui(lambda: self._notes(sources) if isValid(self) else None)

    def _notes(self, sources: list[Any]) -> None:
        self._reading = sources
        self._render(pending=True)

    def _piece(self, piece: str) -> None:
        self._streaming += piece
        self._render(pending=True)

    def _answered(self, answer: Any) -> None:
        keys = {source.key: self._link(source) for source in answer.sources}
        body = _CITE.sub(lambda m: f"<a href='{keys[m.group(1)]}'>[{m.group(1)}]</a>" if m.group(1) in keys
                         else m.group(0), html.escape(answer.text)).replace("\n", "<br>")
        note = " · ".join(n for n in (_MODE_NOTE.get(answer.mode, ""), answer.note) if n)
        self._blocks.append(f"<p><b>Engram:</b> {body}</p>"
                            + (f"<p class='muted'><small>{html.escape(note)}</small></p>" if note else "")
                            + self._listed(answer.sources))
        self._done()

    def _link(self, source: Any) -> str:
        """The link that opens a source; a memory listed while read and then cited keeps one link."""
        link = self._links.get(source.memory_id)
        if link is None:
            link = self._links[source.memory_id] = f"src{len(self._links) + 1}"
            self._sources[link] = Hit(source.memory_id, source.kind, source.time, source.text, 0.0, source.app,
                                      source.title, frame_id=source.frame_id)
        return link

    def _listed(self, sources: list[Any]) -> str:
        """An answer's sources: where each comes from, and its words."""
        items = "".join(
            f"<li><a href='{self._link(s)}'>[{s.key}]</a> {s.time.astimezone():%d %b %Y %H:%M}"
            f"{' · ' + html.escape(s.app) if s.app else ''} · {s.kind}<br>"
            f"<span>{html.escape(s.excerpt())}</span></li>" for s in sources)
        return f"<ul class='muted'>{items}</ul>" if items else ""

    def _being_read(self) -> str:
        """The notes the model reads, one short line each (a dozen full ones would push the question away)."""
        shown, more = self._reading[:READING_LISTED], len(self._reading) - READING_LISTED
        items = "".join(f"<li><a href='{self._link(s)}'>[{s.key}]</a> {s.time.astimezone():%d %b %Y} · "
                        f"{html.escape(s.excerpt(80))}</li>" for s in shown)
        items += f"<li>and {more} more</li>" if more > 0 else ""
        return f"<ul class='muted'>{items}</ul>" if items else ""

    def _failed(self, exc: Exception) -> None:
        self._blocks.append(f"<p class='error'><b>Engram:</b> could not answer "
                            f"({html.escape(str(exc) or type(exc).__name__)}).</p>")
        self._done()

    def _done(self) -> None:
        self.busy = False
        self._streaming, self._reading = "", []
        self.button.setEnabled(True)
        self._render()
        self.input.setFocus()

    def _render(self, pending: bool = False) -> None:
        blocks = list(self._blocks)
        if pending:
            count = len(self._reading)
            waiting = (f"reading {count} note{'s' if count != 1 else ''} from your memories…" if count
                       else "thinking…")
            blocks.append(f"<p><b>Engram:</b> {html.escape(self._streaming) or f'<i>{waiting}</i>'}</p>"
                          + self._being_read())
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
