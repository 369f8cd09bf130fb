"""The doctor's report in a window: what works on this computer, opened from the tray.

The checks (app/doctor.py) load the OCR and language models once, so they run in the background; the
window says "Checking…" until they are done. The running app passes what it knows about its own
shortcut, which a probe could not tell from another program holding the key.
"""
from __future__ import annotations

import html
from collections.abc import Callable
from typing import Any

from app.desktop.ops import run_in_background
from app.qt import QDialog, QDialogButtonBox, QGuiApplication, QLabel, QPushButton, QTextBrowser, QVBoxLayout

_COLOURS = {"ok": "#3cb371", "info": "#8a8f98", "warn": "#f0b429", "fail": "#e0483e"}
_WORDS = {"ok": "works", "info": "note", "warn": "limited", "fail": "not working"}


def findings_html(findings: list[Any]) -> str:
    rows = []
    for f in findings:
        todo = f"<br><span style='color:#8a8f98'>→ {html.escape(f.todo)}</span>" if f.todo else ""
        rows.append(f"<tr><td style='padding:4px 8px 4px 0; color:{_COLOURS[f.status]}; white-space:nowrap'>"
                    f"● {_WORDS[f.status]}</td><td style='padding:4px 8px 4px 0; white-space:nowrap'>"
                    f"<b>{html.escape(f.area)}</b></td><td style='padding:4px 0'>{html.escape(f.what)}{todo}</td></tr>")
    return "<table cellspacing='0'>" + "".join(rows) + "</table>"


class DoctorWindow(QDialog):
    """`check()` runs the doctor in the background and shows its findings; `check_again` repeats it."""

    def __init__(self, run_checks: Callable[[], list[Any]] | None = None) -> None:
        super().__init__()
        self.setWindowTitle("Engram — what works on this computer")
        self.resize(900, 640)
        self._run_checks = run_checks or _default_checks
        self.findings: list[Any] = []
        self.summary = QLabel()
        self.summary.setWordWrap(True)
        self.view = QTextBrowser()
        self.view.setOpenLinks(False)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        self.again = QPushButton("Check again")
        self.copy = QPushButton("Copy report")
        buttons.addButton(self.again, QDialogButtonBox.ButtonRole.ActionRole)
        buttons.addButton(self.copy, QDialogButtonBox.ButtonRole.ActionRole)
        buttons.rejected.connect(self.close)
        self.again.clicked.connect(self.check)
        self.copy.clicked.connect(self._copy)
        layout = QVBoxLayout(self)
        for widget in (self.summary, self.view, buttons):
            layout.addWidget(widget)

    def check(self) -> None:
        self.again.setEnabled(False)
        self.copy.setEnabled(False)
        self.summary.setText("Checking the display, the models and the store… (a few seconds; nothing is unlocked)")
        run_in_background(self._run_checks, self.show_findings, self._failed, owner=self)

    def show_findings(self, findings: list[Any]) -> None:
        self.findings = findings
        failed = sum(f.status == "fail" for f in findings)
        limited = sum(f.status == "warn" for f in findings)
        self.summary.setText(f"{failed} not working, {limited} working with limits; each says what to do. "
                             "The same report: <code>engram doctor</code>." if failed or limited else
                             "Everything checked works. The same report: <code>engram doctor</code>.")
        self.view.setHtml(findings_html(findings))
        self.again.setEnabled(True)
        self.copy.setEnabled(True)

    def _failed(self, exc: Exception) -> None:
        self.summary.setText(f"The checks could not run: {exc}. Try `engram doctor` in a terminal.")
        self.again.setEnabled(True)

    def _copy(self) -> None:
        from app.doctor import report

        QGuiApplication.clipboard().setText(report(self.findings))


def _default_checks() -> list[Any]:
    from app.doctor import run

    return run()
