"""Choosing a stretch of a day to forget, with the number of screens it holds shown before anything goes."""
from __future__ import annotations

from datetime import datetime, timedelta

from app.qt import QDialog, QDialogButtonBox, QFormLayout, QLabel, QPushButton, QTime, QTimeEdit, QVBoxLayout

# A time edit stops at 23:59: as an end, it means the end of the day.
_LAST_MINUTE = QTime(23, 59)


class ForgetRangeDialog(QDialog):
    def __init__(self, day_start: datetime, start: datetime, end: datetime, frame_times: list[datetime]) -> None:
        super().__init__()
        self.setWindowTitle("Forget a time range")
        self.setMinimumWidth(420)
        self._day_start, self._times = day_start, frame_times
        self.since = QTimeEdit(QTime(start.hour, start.minute))
        self.until = QTimeEdit(_LAST_MINUTE if end - day_start >= timedelta(days=1) else QTime(end.hour, end.minute))
        for edit in (self.since, self.until):
            edit.setDisplayFormat("HH:mm")
            edit.timeChanged.connect(lambda _t: self._update())
        form = QFormLayout()
        form.addRow("From", self.since)
        form.addRow("Up to", self.until)
        self.summary = QLabel()
        self.summary.setWordWrap(True)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        self.forget = QPushButton()
        self.forget.setObjectName("danger")
        buttons.addButton(self.forget, QDialogButtonBox.ButtonRole.AcceptRole)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.summary)
        layout.addWidget(buttons)
        self._update()

    def chosen(self) -> tuple[datetime, datetime]:
        def at(time: QTime) -> datetime:
            return self._day_start + timedelta(hours=time.hour(), minutes=time.minute())

        end = self._day_start + timedelta(days=1) if self.until.time() == _LAST_MINUTE else at(self.until.time())
        return at(self.since.time()), end

    def count(self) -> int:
        start, end = self.chosen()
        return sum(start <= t < end for t in self._times)

    def _update(self) -> None:
        start, end = self.chosen()
        if end <= start:
            self.summary.setText("The end must come after the start.")
            self.forget.setEnabled(False)
            self.forget.setText("Forget")
            return
        n = self.count()
        self.summary.setText(f"{n} screen{'s' if n != 1 else ''} between {start:%H:%M} and {end:%H:%M} on "
                             f"{self._day_start:%A %d %B}, their text, and what was made only from them (episodes, links, "
                             "files, vault items) disappear now and are erased from disk within the hour (vault items at "
                             "once). This cannot be undone.")
        self.forget.setText(f"Forget {n} screen{'s' if n != 1 else ''}")
        self.forget.setEnabled(n > 0)
