"""Copying a value that should not linger: the clipboard is cleared after a while if it still holds it.

Password managers do the same: a copied IBAN or passport number is meant to be
pasted now, not found in the clipboard history of the afternoon. If the user
copied something else meanwhile, that is left alone.
"""
from __future__ import annotations

from app.qt import QApplication, QTimer

CLEAR_AFTER_SECONDS = 30


def copy_for_a_while(value: str, seconds: float = CLEAR_AFTER_SECONDS) -> None:
    clipboard = QApplication.clipboard()
    clipboard.setText(value)

    def clear_if_unchanged() -> None:
        if clipboard.text() == value:
            clipboard.clear()

    QTimer.singleShot(int(seconds * 1000), clear_if_unchanged)
