"""The timeline: a day of screens on an axis, the chosen moment large, its text and what happened around it.

- The axis shows the day's frames as bands coloured by app; click or drag to
  move, arrow keys step frame by frame, the mouse wheel zooms from the whole
  day down to ten minutes around the pointer. Below it, a strip of thumbnails
  of the frames around the chosen one (click one to go there).
- The chosen frame is shown large with its screen text; words matching the
  "highlight" box are marked on the image by their OCR word boxes.
- The day's episodes are listed beside it; choosing one jumps to its start.
- "Forget this frame" and "Forget a time range" delete for good, after confirmation (the range
  dialog shows how many screens it holds).
Reading the day (ids, times, apps only) and each frame run in the background.
"""
from __future__ import annotations

import hashlib
from bisect import bisect_left
from collections.abc import Callable
from datetime import date, datetime, time, timedelta
from typing import Any

from agents.forget import forget, forget_range

from app.desktop.ops import run_in_background
from app.desktop.pixmaps import fitted, frame_image, load_thumbnails, pixmaps_from
from app.desktop.forget_range import ForgetRangeDialog
from app.qt import (QBrush, QColor, QDate, QDateEdit, QDialog, QGuiApplication, QHBoxLayout, QImage, QIcon, QLabel, QLineEdit, QListWidget,
                    QListWidgetItem, QMessageBox, QPainter, QPen, QPixmap, QPlainTextEdit, QPushButton, QRectF, QSize,
                    QSizePolicy, QSplitter, Qt, QTimer, QVBoxLayout, QWidget, Signal)

_MIN_SPAN = timedelta(minutes=10)
_STRIP_SIDE = 7  # thumbnails shown on each side of the chosen frame
_DAY = timedelta(days=1)
# While the screen shown waits for its text, how often to look whether it has been read.
PENDING_POLL_MS = 2000


def app_colour(app: str) -> QColor:
    """A stable, distinct colour per app name (the same app is the same colour every day)."""
    hue = int(hashlib.blake2b(app.lower().encode(), digest_size=2).hexdigest(), 16) % 360
    return QColor.fromHsl(hue, 150, 150)


class TimeAxis(QWidget):
    """Bands per app along the visible span; a marker at the chosen moment."""

    moved = Signal(int)   # index of the chosen frame

    def __init__(self) -> None:
        super().__init__()
        self.setMinimumHeight(56)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.frames: list[tuple[str, datetime, str]] = []
        self.start = self.end = datetime.now().astimezone()
        self.index = -1

    def show_day(self, frames: list[tuple[str, datetime, str]], day_start: datetime) -> None:
        self.frames, self.start, self.end = frames, day_start, day_start + _DAY
        self.index = len(frames) - 1 if frames else -1
        self.update()

    def choose(self, index: int) -> None:
        if not self.frames:
            return
        self.index = max(0, min(len(self.frames) - 1, index))
        moment = self.frames[self.index][1]
        if not self.start <= moment < self.end:  # keep the chosen moment in view when zoomed in
            span = self.end - self.start
            self.start, self.end = moment - span / 2, moment + span / 2
        self.update()
        self.moved.emit(self.index)

    def zoom(self, factor: float, around: datetime) -> None:
        span = max(_MIN_SPAN, min(_DAY, (self.end - self.start) * factor))
        share = (around - self.start) / (self.end - self.start) if self.end > self.start else 0.5
        self.start = around - span * share
        self.end = self.start + span
        self.update()

    def time_at(self, x: float) -> datetime:
        return self.start + (self.end - self.start) * max(0.0, min(1.0, x / max(1, self.width())))

    def _x(self, moment: datetime) -> float:
        return (moment - self.start) / (self.end - self.start) * self.width()

    def paintEvent(self, event: Any) -> None:  # noqa: N802 (Qt's name)
        painter = QPainter(self)
        painter.fillRect(self.rect(), self.palette().base())
        height = self.height()
        for i, (_, moment, app) in enumerate(self.frames):
            following = self.frames[i + 1][1] if i + 1 < len(self.frames) else moment + timedelta(seconds=3)
            following = min(following, moment + timedelta(minutes=5))  # a long gap is a gap, not the same app
            x0, x1 = self._x(moment), self._x(following)
            if x1 < 0 or x0 > self.width():
                continue
            painter.fillRect(QRectF(x0, 18, max(1.0, x1 - x0), height - 22), QBrush(app_colour(app)))
        painter.setPen(QPen(self.palette().text().color()))
        span = self.end - self.start
        step = timedelta(hours=2) if span > timedelta(hours=8) else timedelta(minutes=30) \
            if span > timedelta(hours=2) else timedelta(minutes=5)
        tick = datetime.combine(self.start.date(), time(0), self.start.tzinfo)
        while tick < self.end:
            if tick >= self.start:
                x = self._x(tick)
                painter.drawLine(int(x), 12, int(x), 18)
                painter.drawText(int(x) + 2, 11, tick.strftime("%H:%M"))
            tick += step
        if 0 <= self.index < len(self.frames):
            x = self._x(self.frames[self.index][1])
            painter.setPen(QPen(QColor("#d93025"), 2))
            painter.drawLine(int(x), 12, int(x), height)
        painter.end()

    def _nearest(self, x: float) -> int:
        moment = self.time_at(x)
        times = [f[1] for f in self.frames]
        i = bisect_left(times, moment)
        candidates = [j for j in (i - 1, i) if 0 <= j < len(times)]
        return min(candidates, key=lambda j: abs(times[j] - moment)) if candidates else -1

    def mousePressEvent(self, event: Any) -> None:  # noqa: N802
        self.choose(self._nearest(event.position().x()))

    def mouseMoveEvent(self, event: Any) -> None:  # noqa: N802
        if event.buttons() & Qt.MouseButton.LeftButton:
            self.choose(self._nearest(event.position().x()))

    def wheelEvent(self, event: Any) -> None:  # noqa: N802
        self.zoom(0.8 if event.angleDelta().y() > 0 else 1.25, self.time_at(event.position().x()))

    def keyPressEvent(self, event: Any) -> None:  # noqa: N802
        steps = {Qt.Key.Key_Left: -1, Qt.Key.Key_Right: 1, Qt.Key.Key_PageUp: -20, Qt.Key.Key_PageDown: 20}
        if event.key() in steps:
            self.choose(self.index + steps[event.key()])
        else:
            super().keyPressEvent(event)


def _window_size() -> QSize:
    """Most of the screen: a screenshot shown in a small window is too small to read."""
    screen = QGuiApplication.primaryScreen()
    room = screen.availableGeometry().size() if screen is not None else QSize(1200, 760)
    return QSize(int(room.width() * 0.85), int(room.height() * 0.85)).expandedTo(QSize(960, 640)).boundedTo(room)


class FittedPicture(QLabel):
    """The chosen screen, scaled to whatever room the window gives it: drawn again on every resize.
    (Its size does not follow the picture's, or a large screenshot would push the window apart.)"""

    def __init__(self, redraw: Callable[[], None]) -> None:
        super().__init__("")
        self._redraw = redraw
        self.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Ignored)
        self.setMinimumSize(480, 300)

    def resizeEvent(self, event: Any) -> None:  # noqa: N802 (Qt's name)
        super().resizeEvent(event)
        self._redraw()


class TimelineWindow(QWidget):
    def __init__(self, store: Any, confirm: Callable[[str], bool] | None = None,
                 pick_range: Callable[..., tuple[datetime, datetime] | None] | None = None) -> None:
        """`confirm(question)` and `pick_range(day_start, start, end, frame_times)` ask the user (tests script them)."""
        super().__init__()
        self.setWindowTitle("Engram — Timeline")
        self.resize(_window_size())
        self.store = store
        self._confirm = confirm or self._ask
        self._pick_range = pick_range or self._ask_range
        self.frame: Any = None
        self._wanted = ""          # the frame id being loaded; older loads are dropped
        self._day_loads = 0        # only the newest load of a day is shown
        self._pending_timer = QTimer(self)  # looks again at a screen whose text is being read
        self._pending_timer.setSingleShot(True)
        self._pending_timer.timeout.connect(self._look_again)
        self.day = QDateEdit(QDate.currentDate())
        self.day.setCalendarPopup(True)
        self.day.setDisplayFormat("dddd d MMMM yyyy")
        self.day.dateChanged.connect(lambda _: self.load_day())
        self.highlight = QLineEdit()
        self.highlight.setPlaceholderText("Highlight words on the screen…")
        self.highlight.textChanged.connect(lambda _: self._draw())
        self.forget_frame = QPushButton("Forget this frame…")
        self.forget_frame.clicked.connect(self.forget_this_frame)
        self.forget_hour = QPushButton("Forget a time range…")
        self.forget_hour.clicked.connect(self.forget_a_range)
        top = QHBoxLayout()
        for widget in (self.day, self.highlight, self.forget_frame, self.forget_hour):
            top.addWidget(widget, stretch=1 if widget is self.highlight else 0)
        self.axis = TimeAxis()
        self.axis.moved.connect(self.show_frame)
        self.strip = QListWidget()
        self.strip.setViewMode(QListWidget.ViewMode.IconMode)
        self.strip.setFlow(QListWidget.Flow.LeftToRight)
        self.strip.setWrapping(False)
        self.strip.setIconSize(QSize(160, 90))
        # A fixed cell: thumbnails arrive after the items, and cells sized by their text alone overlap.
        self.strip.setGridSize(QSize(178, 122))
        self.strip.setFixedHeight(150)
        self.strip.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.strip.itemClicked.connect(self._strip_chosen)
        self._thumbs: dict[str, QPixmap] = {}
        self.caption = QLabel("")
        self.image = FittedPicture(lambda: self._draw())
        self.text = QPlainTextEdit()
        self.text.setReadOnly(True)
        self.episodes = QListWidget()
        self.episodes.setWordWrap(True)
        self.episodes.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.episodes.itemActivated.connect(self._jump_to_episode)
        self.episodes.itemClicked.connect(self._jump_to_episode)
        # The screen is what the timeline is for: its text below it starts at a few lines, and the line
        # between them can be dragged.
        self.text.setMinimumHeight(48)
        self.detail = QSplitter(Qt.Orientation.Vertical)
        self.detail.addWidget(self.image)
        self.detail.addWidget(self.text)
        self.detail.setStretchFactor(0, 1)
        self.detail.setStretchFactor(1, 0)
        self.detail.setChildrenCollapsible(False)
        self.detail.setSizes([10_000, 96])
        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(0, 0, 0, 0)
        left_layout.addWidget(self.caption)
        left_layout.addWidget(self.detail, stretch=1)
        right = QWidget()
        right_layout = QVBoxLayout(right)
        right_layout.addWidget(QLabel("<b>What happened this day</b>"))
        right_layout.addWidget(self.episodes)
        split = QSplitter()
        split.addWidget(left)
        split.addWidget(right)
        split.setStretchFactor(0, 4)
        split.setStretchFactor(1, 1)
        split.setSizes([10_000, 300])
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.axis)
        layout.addWidget(self.strip)
        layout.addWidget(split, stretch=1)
        self.status = QLabel("")
        layout.addWidget(self.status)
        self._pixmap: QPixmap | None = None
        self.load_day()

    # the day

    def day_start(self) -> datetime:
        chosen: date = self.day.date().toPython()
        return datetime.combine(chosen, time(0)).astimezone()

    def load_day(self, target: str | None = None) -> None:
        """Load the chosen day and show `target` (a frame id), else the day's newest screen."""
        start = self.day_start()
        self._day_loads += 1
        load = self._day_loads
        self.status.setText("Loading the day…")

        def work() -> tuple[list[Any], list[Any]]:
            return (self.store.frame_times(start, start + _DAY),
                    self.store.list_range(start, start + _DAY, kinds=["episodic"], limit=2000))

        run_in_background(work, lambda loaded: self._day_loaded(load, start, target, *loaded),
                          lambda exc: self.status.setText(f"Could not load the day: {exc}"), owner=self)

    def _day_loaded(self, load: int, start: datetime, target: str | None, frames: list[Any],
                    episodes: list[Any]) -> None:
        if load != self._day_loads:
            # A newer load was asked for (the window opening on today, then a search result's screen):
            # showing this one after it would replace the chosen screen with the day's newest.
            return
        self.axis.show_day(frames, start)
        self.episodes.clear()
        for episode in episodes:
            end = episode.ended or episode.time
            item = QListWidgetItem(f"{episode.time.astimezone():%H:%M}–{end.astimezone():%H:%M}  {episode.text}")
            item.setData(Qt.ItemDataRole.UserRole, episode.time)
            self.episodes.addItem(item)
        self.status.setText(f"{len(frames):,} screens, {len(episodes):,} episodes" if frames or episodes
                            else "Nothing was captured this day.")
        if frames:
            ids = [f[0] for f in frames]
            self.axis.choose(ids.index(target) if target in ids else len(frames) - 1)
        else:
            self.frame, self._pixmap = None, None
            self.image.setText("No screens this day.")
            self.text.clear()
            self.caption.setText("")

    def refresh(self) -> None:
        """Load the day again (screens stored since it was opened), staying on the screen shown."""
        self.load_day(self.frame.id if self.frame is not None else None)

    def show_moment(self, frame_id: str, moment: datetime) -> None:
        """Open the timeline at one frame (from a search result)."""
        local = moment.astimezone()
        self.day.blockSignals(True)  # the date's own load would show the day's newest screen
        self.day.setDate(QDate(local.year, local.month, local.day))
        self.day.blockSignals(False)
        self.load_day(frame_id)

    def _jump_to_episode(self, item: QListWidgetItem) -> None:
        moment = item.data(Qt.ItemDataRole.UserRole)
        times = [f[1] for f in self.axis.frames]
        if times:
            self.axis.choose(min(bisect_left(times, moment), len(times) - 1))

    # one frame

    def show_frame(self, index: int) -> None:
        frame_id = self.axis.frames[index][0]
        self._wanted = frame_id
        self._fill_strip(index)

        def work() -> tuple[Any, QImage | None, int]:
            frame = self.store.get(frame_id)
            return frame, frame_image(self.store, frame), self._waiting(frame)

        run_in_background(work, lambda loaded: self._frame_loaded(frame_id, *loaded), owner=self)

    def _waiting(self, frame: Any) -> int:
        """Off the GUI thread: how many screens are read before this one, if its text is not read yet."""
        return self.store.count_pending_text(before=frame.time) if frame is not None and frame.text_pending else 0

    def _look_again(self) -> None:
        """The screen shown was still being read: fetch it again (its text and word boxes), not its picture."""
        frame_id = self._wanted
        if self.frame is None or self.frame.id != frame_id or not self.frame.text_pending:
            return
        if not self.isVisible():
            self._pending_timer.start(PENDING_POLL_MS)
            return

        def work() -> tuple[Any, int]:
            frame = self.store.get(frame_id)
            return frame, self._waiting(frame)

        run_in_background(work, lambda loaded: self._text_loaded(frame_id, *loaded), owner=self)

    def _text_loaded(self, frame_id: str, frame: Any, waiting: int) -> None:
        if frame_id != self._wanted or frame is None:
            return
        self.frame = frame
        self._show_text(frame, waiting)
        self._draw()

    def _show_text(self, frame: Any, waiting: int) -> None:
        if not frame.text_pending:
            self.text.setPlainText(frame.text)
            return
        queue = f" {waiting:,} screen{'s' if waiting != 1 else ''} before it in the queue." if waiting else ""
        self.text.setPlainText(f"Reading the text of this screen…{queue}")
        self._pending_timer.start(PENDING_POLL_MS)

    # the strip of thumbnails around the chosen frame

    def _fill_strip(self, index: int) -> None:
        frames = self.axis.frames[max(0, index - _STRIP_SIDE): index + _STRIP_SIDE + 1]
        self.strip.clear()
        for frame_id, moment, app in frames:
            item = QListWidgetItem(f"{moment.astimezone():%H:%M:%S}")
            item.setData(Qt.ItemDataRole.UserRole, frame_id)
            item.setToolTip(app)
            if frame_id in self._thumbs:
                item.setIcon(QIcon(self._thumbs[frame_id]))
            self.strip.addItem(item)
            if frame_id == self._wanted:
                self.strip.setCurrentItem(item)
                self.strip.scrollToItem(item)
        missing = [f[0] for f in frames if f[0] not in self._thumbs]
        if missing:
            run_in_background(lambda: load_thumbnails(self.store, missing), self._thumbs_loaded, owner=self)

    def _thumbs_loaded(self, loaded: dict[str, bytes]) -> None:
        if len(self._thumbs) > 500:  # a day of scrubbing should not hold every thumbnail
            self._thumbs.clear()
        self._thumbs.update(pixmaps_from(loaded))
        for row in range(self.strip.count()):
            item = self.strip.item(row)
            frame_id = item.data(Qt.ItemDataRole.UserRole)
            if frame_id in loaded and frame_id in self._thumbs:
                item.setIcon(QIcon(self._thumbs[frame_id]))

    def _strip_chosen(self, item: QListWidgetItem) -> None:
        ids = [f[0] for f in self.axis.frames]
        frame_id = item.data(Qt.ItemDataRole.UserRole)
        if frame_id in ids:
            self.axis.choose(ids.index(frame_id))

    def _frame_loaded(self, frame_id: str, frame: Any, image: QImage | None, waiting: int = 0) -> None:
        if frame_id != self._wanted or frame is None:
            return  # the user has moved on; this answer is stale
        self.frame = frame
        self.caption.setText(f"<b>{frame.time.astimezone():%H:%M:%S}</b> · {frame.app or 'unknown app'}"
                             f"{' · ' + frame.title if frame.title else ''}")
        self._show_text(frame, waiting)
        self._pixmap = None
        if image is not None:
            self._pixmap = QPixmap.fromImage(image)
        self._draw()

    def _draw(self) -> None:
        if self._pixmap is None:
            had_one = self.frame is not None and bool(self.frame.fields.get("image_id") or self.frame.fields.get("key"))
            self.image.setText("This screen's picture is damaged; its text is kept." if had_one else
                               "The screenshot was dropped by retention; its text is kept." if self.frame else "")
            return
        pixmap = QPixmap(self._pixmap)
        needles = [w.lower() for w in self.highlight.text().split() if w.strip()]
        if needles and self.frame is not None:
            painter = QPainter(pixmap)
            painter.setPen(QPen(QColor(230, 160, 0), 2))
            painter.setBrush(QBrush(QColor(255, 210, 0, 90)))
            for text, x, y, w, h in self.frame.fields.get("boxes", []):
                if any(n in str(text).lower() for n in needles):
                    painter.drawRect(QRectF(x, y, w, h))
            painter.end()
        self.image.setPixmap(fitted(pixmap, self.image.size(), self.image.devicePixelRatioF()))

    def matched_boxes(self) -> int:
        """How many word boxes the highlight marks on the current frame."""
        needles = [w.lower() for w in self.highlight.text().split() if w.strip()]
        boxes = self.frame.fields.get("boxes", []) if self.frame is not None else []
        return sum(1 for box in boxes if needles and any(n in str(box[0]).lower() for n in needles))

    # forgetting

    def _ask(self, question: str) -> bool:
        answer = QMessageBox.question(self, "Engram", question,
                                      QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Cancel,
                                      QMessageBox.StandardButton.Cancel)
        return bool(answer == QMessageBox.StandardButton.Yes)

    def forget_this_frame(self) -> None:
        frame = self.frame
        if frame is None or not self._confirm(f"Forget the screen of {frame.time.astimezone():%H:%M:%S} for good? "
                                              "It disappears now and is erased from disk within the hour; this cannot be undone."):
            return
        run_in_background(lambda: forget(self.store, [frame.id]), lambda _: self.load_day(), owner=self)

    def forget_a_range(self) -> None:
        """The chosen frame's hour to begin with; the dialog shows how many screens the range holds."""
        moment = self.frame.time.astimezone() if self.frame is not None else datetime.now().astimezone()
        start = moment.replace(minute=0, second=0, microsecond=0)
        picked = self._pick_range(self.day_start(), start, start + timedelta(hours=1), [t for _, t, _ in self.axis.frames])
        if picked is None:
            return
        # The range's screens and episodes, and what was made only from them (links, files, vault items).
        run_in_background(lambda: forget_range(self.store, *picked, kinds=["frame", "episodic"]),
                          lambda _: self.load_day(), owner=self)

    @staticmethod
    def _ask_range(day_start: datetime, start: datetime, end: datetime,
                   times: list[datetime]) -> tuple[datetime, datetime] | None:
        dialog = ForgetRangeDialog(day_start, start, end, times)
        return dialog.chosen() if dialog.exec() == QDialog.DialogCode.Accepted else None
