"""What opens when a search result is chosen: the memory in full, with its screenshot for a frame.

(The timeline and memory browser will take this over; until then this is where Enter leads.)
"""
from __future__ import annotations

import html
from typing import Any

from app.desktop.clipboard import CLEAR_AFTER_SECONDS, copy_for_a_while
from app.desktop.ops import run_in_background
from app.desktop.pixmaps import fitted, frame_image
from app.qt import QDialog, QImage, QLabel, QPixmap, QPlainTextEdit, QPushButton, QSize, Qt, QVBoxLayout
from storage.search import Hit


class MemoryDetail(QDialog):
    def __init__(self, store: Any, hit: Hit) -> None:
        super().__init__()
        self.setWindowTitle(f"Engram — {hit.kind} from {hit.time.astimezone():%d %b %Y %H:%M}")
        self.resize(900, 640)
        layout = QVBoxLayout(self)
        header = QLabel(f"<b>{html.escape(hit.title or hit.kind)}</b><br><span style='color:gray'>"
                        f"{html.escape(hit.app or '')} · {hit.time.astimezone():%A %d %B %Y, %H:%M}</span>")
        layout.addWidget(header)
        self.image = QLabel("Loading the screenshot…" if hit.kind == "frame" else "")
        self.image.setAlignment(Qt.AlignmentFlag.AlignCenter)
        layout.addWidget(self.image, stretch=3)
        self.text = QPlainTextEdit()
        self.text.setReadOnly(True)
        layout.addWidget(self.text, stretch=2)
        self.copy_value = QPushButton(f"Copy the value (cleared from the clipboard after {CLEAR_AFTER_SECONDS} s)")
        self.copy_value.setVisible(False)
        self.copy_value.clicked.connect(self._copy_secret)
        layout.addWidget(self.copy_value)
        self._store, self._memory_id = store, hit.id
        run_in_background(lambda: _load(store, hit.id), self._loaded, lambda exc: self.text.setPlainText(str(exc)),
                          owner=self)

    def _loaded(self, loaded: tuple[Any, QImage | None]) -> None:
        memory, image = loaded
        self.text.setPlainText(memory.text if memory else "This memory no longer exists.")
        # A vault value is never shown here; it can be copied for a form, and does not linger.
        self.copy_value.setVisible(memory is not None and memory.kind == "vault" and bool(memory.secret))
        if image is not None:
            self.image.setPixmap(fitted(QPixmap.fromImage(image), QSize(860, 400), self.image.devicePixelRatioF()))
        elif memory is not None and memory.kind == "frame":
            self.image.setText("The screenshot was dropped by retention; its text is kept.")


    def _copy_secret(self) -> None:
        run_in_background(lambda: _secret(self._store, self._memory_id), copy_for_a_while, owner=self)


def _secret(store: Any, memory_id: str) -> str:
    memory = store.get(memory_id)
    return memory.secret if memory is not None and memory.secret else ""


def _load(store: Any, memory_id: str) -> tuple[Any, QImage | None]:
    memory = store.get(memory_id)
    return memory, frame_image(store, memory)
