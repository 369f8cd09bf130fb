"""The recall popup: a Spotlight-like search box over everything Engram remembers.

Results come as you type: a short debounce, the search on a worker thread, and
results of an older query dropped if a newer one was typed meanwhile.
"""
from __future__ import annotations

import html
import re
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any

from app.desktop.ops import run_in_background
from app.desktop.pixmaps import pixmaps_from
from app.desktop.result_rows import KIND_ROLE, META_ROLE, SNIPPET_ROLE, ResultDelegate
from app.qt import (QApplication, QColor, QEvent, QHBoxLayout, QKeySequence, QLabel, QLineEdit, QListWidget,
                    QListWidgetItem, QPainter, QPalette, QPixmap, QPushButton, Qt, QTimer, QVBoxLayout, QWidget)
from storage.search import Hit, SearchOptions
from storage.search_first import SEARCH_FIRST

DEBOUNCE_MS = 150
SHOWN = 20
THUMBS_KEPT = 200  # thumbnails kept between searches (240x135 pixmaps, ~130 KB each: 26 MB)
# The cosine (all-MiniLM-L6-v2) under which a result found by meaning alone is left out. Measured: "quokka"
# is 0.28 from "nice" and 0.22 from "ok"; "flight" is 0.41 from a boarding pass, "budget" 0.44 from a
# budget review, "regex" 0.51 from a regular expression.
MIN_LIKENESS = 0.3
KIND_NAMES = {"frame": "Screen", "message": "Chat", "core": "About you", "episodic": "Event", "semantic": "Fact",
              "procedural": "How-to", "resource": "File", "vault": "Vault"}
CHIPS = (("Everything", None, None), ("Screens", ("frame",), None), ("Memories", ("core", "episodic", "semantic",
         "procedural", "resource", "vault", "message"), None), ("Today", None, "today"), ("This week", None, "week"))


def relative_time(moment: datetime, now: datetime | None = None) -> str:
    seconds = ((now or datetime.now(timezone.utc)) - moment).total_seconds()
    for limit, unit, size in ((90, "just now", 0), (5400, "min ago", 60), (129600, "h ago", 3600)):
        if seconds < limit:
            return unit if not size else f"{round(seconds / size)} {unit}"
    return moment.astimezone().strftime("%d %b %Y")


def collapse_repeats(hits: list[Hit]) -> tuple[list[Hit], dict[str, int]]:
    """Screens showing the same words in the same app, and chat lines saying the same words, are one
    result (the best-ranked) with a count: a document left open is captured many times, "ok, see you
    there" is said again and again, and ten identical rows would hide everything else."""
    kept: list[Hit] = []
    first: dict[tuple[str, str, str], Hit] = {}
    repeats: dict[str, int] = {}
    for hit in hits:
        if hit.kind in ("frame", "message"):
            same = (hit.kind, hit.app if hit.kind == "frame" else "", " ".join(hit.snippet.lower().split()))
            if same in first:
                repeats[first[same].id] = repeats.get(first[same].id, 0) + 1
                continue
            first[same] = hit
        kept.append(hit)
    return kept, repeats


def describe(hit: Hit, more: int, now: datetime | None = None) -> str:
    """The line under a result: its kind, who said it in which chat, the app, when, and its twins."""
    said = ""
    if hit.kind == "message" and (hit.speaker or hit.title):
        said = " in ".join(part for part in (hit.speaker, hit.title) if part)
    return " · ".join(part for part in (KIND_NAMES.get(hit.kind, hit.kind.title()), said, hit.app,
                                        relative_time(hit.time, now), f"{more} more like it" if more else "") if part)


def highlighted(snippet: str, matched: list[str]) -> str:
    """The snippet as rich text with the matched words in bold (everything else escaped)."""
    text = html.escape(snippet)
    for word in sorted(set(matched), key=len, reverse=True):
        text = re.sub(rf"\b({re.escape(html.escape(word))})\b", r"<b>\1</b>", text)
    return text


class RecallPopup(QWidget):
    """`search(query, options) -> SearchResult` runs off the GUI thread; `open_hit(hit)` on Enter."""

    def __init__(self, search: Callable[[str, SearchOptions], Any], open_hit: Callable[[Hit], None],
                 thumbnails: Callable[[list[str]], dict[str, bytes]] | None = None) -> None:
        """`thumbnails(frame_ids) -> {frame_id: image bytes}` also runs off the GUI thread."""
        super().__init__(None, Qt.WindowType.FramelessWindowHint | Qt.WindowType.WindowStaysOnTopHint
                         | Qt.WindowType.Tool)
        self.setObjectName("recall")
        self.setWindowTitle("Engram recall")
        self._search, self._open_hit, self._thumbnails = search, open_hit, thumbnails
        self._thumbs: dict[str, QPixmap] = {}
        self._repeats: dict[str, int] = {}   # hit id -> how many screens just like it were folded into it
        self._generation = 0
        self._chip = 0
        self.hits: list[Hit] = []
        layout = QVBoxLayout(self)
        self.query = QLineEdit()
        self.query.setPlaceholderText("Search everything you have seen…   (Esc closes)")
        self.query.textChanged.connect(lambda _text: self._debounce.start())
        self.query.installEventFilter(self)
        layout.addWidget(self.query)
        chips = QHBoxLayout()
        self.chip_buttons: list[QPushButton] = []
        for index, (label, _kinds, _when) in enumerate(CHIPS):
            button = QPushButton(label)
            button.setCheckable(True)
            button.setChecked(index == 0)
            button.clicked.connect(lambda _checked, i=index: self.choose_chip(i))
            chips.addWidget(button)
            self.chip_buttons.append(button)
        chips.addStretch()
        layout.addLayout(chips)
        self.results = QListWidget()
        self.results.setItemDelegate(ResultDelegate(self.results))
        self.results.setUniformItemSizes(True)
        self.results.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)  # rows elide instead
        self.results.itemActivated.connect(lambda _item: self.open_current())
        layout.addWidget(self.results)
        self.status = QLabel("Type to search.")
        self.status.setObjectName("status")
        layout.addWidget(self.status)
        self._debounce = QTimer(self)
        self._debounce.setSingleShot(True)
        self._debounce.setInterval(DEBOUNCE_MS)
        self._debounce.timeout.connect(self.run_search)
        self.resize(720, 460)

    def paintEvent(self, event: Any) -> None:  # noqa: N802 (Qt's name)
        """A frameless window over other windows needs its own edge: a line of the text colour, faint
        enough not to shout, strong enough to show on a window of the same colour (light or dark)."""
        painter = QPainter(self)
        palette = self.palette()
        background, text = palette.color(QPalette.ColorRole.Window), palette.color(QPalette.ColorRole.WindowText)
        painter.fillRect(self.rect(), background)
        painter.setPen(QColor.fromRgbF(*(b + (t - b) * 0.45 for b, t in ((background.redF(), text.redF()),
                                                                         (background.greenF(), text.greenF()),
                                                                         (background.blueF(), text.blueF())))))
        painter.drawRect(self.rect().adjusted(0, 0, -1, -1))
        painter.end()

    def changeEvent(self, event: Any) -> None:  # noqa: N802 (Qt's name)
        """Clicking anywhere else closes it, as a menu or Spotlight does (it stays on top otherwise)."""
        super().changeEvent(event)
        if event.type() == QEvent.Type.ActivationChange and self.isVisible() and not self.isActiveWindow():
            self.hide()

    def popup(self) -> None:
        screen = QApplication.primaryScreen().availableGeometry()
        self.move(screen.center().x() - self.width() // 2, screen.top() + screen.height() // 5)
        self.show()
        self.raise_()
        self.activateWindow()
        self.query.setFocus()
        self.query.selectAll()

    def choose_chip(self, index: int) -> None:
        self._chip = index
        for i, button in enumerate(self.chip_buttons):
            button.setChecked(i == index)
        self.run_search()

    def options(self) -> SearchOptions:
        _label, kinds, when = CHIPS[self._chip]
        now = datetime.now().astimezone()
        midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
        since = {"today": midnight, "week": midnight - timedelta(days=now.weekday())}.get(when or "")
        # Twice what is shown: screens just like a better-ranked one are folded into it. Nearest neighbours
        # by meaning always exist: below MIN_LIKENESS they are padding ("nice" for "quokka"), not results.
        return SearchOptions(kinds=kinds, since=since, k=2 * SHOWN, min_similarity=MIN_LIKENESS)

    def run_search(self) -> None:
        query = self.query.text().strip()
        self._generation += 1
        generation = self._generation
        if not query:
            self._show([], "Type to search.")
            return
        self.status.setText("Searching…")
        options = self.options()
        run_in_background(lambda: self._searched(query, options),
                          lambda result: self._arrived(generation, result),
                          lambda exc: self._arrived(generation, exc), owner=self)

    def _searched(self, query: str, options: SearchOptions) -> Any:
        """On the worker thread: someone is waiting for these results, so the agents step aside."""
        with SEARCH_FIRST.searching():
            return self._search(query, options)

    def _arrived(self, generation: int, result: Any) -> None:
        if generation != self._generation:
            return  # a newer query was typed meanwhile
        if isinstance(result, Exception):
            self._show([], f"Search failed: {result}")
            return
        hits, self._repeats = collapse_repeats(result.hits)
        hits = hits[:SHOWN]
        note = f"{len(hits)} result(s)" + (f" · {result.time_phrase}" if result.time_phrase else "")
        if result.time_ignored:
            note += " · nothing from that time, so any time"
        self._show(hits, note if hits else "Nothing found.")

    def _show(self, hits: list[Hit], status: str) -> None:
        self.hits = hits
        self.results.clear()
        for hit in hits:
            item = QListWidgetItem()
            item.setData(KIND_ROLE, hit.kind)
            item.setData(SNIPPET_ROLE, highlighted(hit.snippet, hit.matched))
            item.setData(META_ROLE, describe(hit, self._repeats.get(hit.id, 0)))
            if hit.frame_id in self._thumbs:
                item.setData(Qt.ItemDataRole.DecorationRole, self._thumbs[hit.frame_id])
            self.results.addItem(item)
        if hits:
            self.results.setCurrentRow(0)
        self.status.setText(status)
        self._load_thumbnails(hits)

    def _load_thumbnails(self, hits: list[Hit]) -> None:
        missing = list(dict.fromkeys(h.frame_id for h in hits if h.frame_id and h.frame_id not in self._thumbs))
        if not missing or self._thumbnails is None:
            return
        generation, load = self._generation, self._thumbnails
        run_in_background(lambda: load(missing), lambda found: self._thumbnails_loaded(generation, found),
                          lambda _exc: None, owner=self)

    def _thumbnails_loaded(self, generation: int, found: dict[str, bytes]) -> None:
        if len(self._thumbs) > THUMBS_KEPT:  # a day of searching should not keep every screen it showed
            shown = {hit.frame_id for hit in self.hits}
            self._thumbs = {frame_id: thumb for frame_id, thumb in self._thumbs.items() if frame_id in shown}
        self._thumbs.update(pixmaps_from(found))
        if generation != self._generation:
            return
        for row, hit in enumerate(self.hits):
            if hit.frame_id in found and hit.frame_id in self._thumbs:
                self.results.item(row).setData(Qt.ItemDataRole.DecorationRole, self._thumbs[hit.frame_id])

    def forget(self) -> None:
        """On lock: nothing remembered stays in the popup (query, results, thumbnails)."""
        self.hide()
        self._generation += 1
        self.query.blockSignals(True)
        self.query.clear()
        self.query.blockSignals(False)
        self._thumbs.clear()
        self._show([], "Type to search.")

    def open_current(self) -> None:
        row = self.results.currentRow()
        if 0 <= row < len(self.hits):
            self.hide()
            self._open_hit(self.hits[row])

    def eventFilter(self, watched: Any, event: Any) -> bool:  # noqa: N802 (Qt's name)
        if watched is self.query and event.type() == event.Type.KeyPress:
            key = event.key()
            if key in (Qt.Key.Key_Down, Qt.Key.Key_Up) and self.hits:
                step = 1 if key == Qt.Key.Key_Down else -1
                self.results.setCurrentRow(max(0, min(len(self.hits) - 1, self.results.currentRow() + step)))
                return True
            if key in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
                self.open_current()
                return True
            if key == Qt.Key.Key_Escape:
                self.hide()
                return True
            if event.matches(QKeySequence.StandardKey.Copy) and not self.query.hasSelectedText() and self.hits:
                QApplication.clipboard().setText(self.hits[max(0, self.results.currentRow())].snippet)
                self.status.setText("Copied.")
                return True
        return super().eventFilter(watched, event)
