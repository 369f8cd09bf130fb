"""First run (create a passphrase, see the recovery key once) and unlocking later.

Deriving the key takes about a second on purpose (Argon2id), so both dialogs
do it in the background and show that they are working.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from app.desktop.ops import run_in_background
from app.qt import QApplication, QDialog, QHBoxLayout, QLabel, QLineEdit, QPushButton, Qt, QVBoxLayout

EXCLUDED_BY_DEFAULT = "password managers (KeePassXC, 1Password, Bitwarden…), private browser windows, Engram itself"


def strength_hint(passphrase: str) -> str:
    """A plain-words hint; length matters most for a passphrase."""
    if not passphrase:
        return ""
    kinds = sum(any(test(c) for c in passphrase) for test in (str.islower, str.isupper, str.isdigit,
                                                                lambda c: not c.isalnum()))
    words = len(passphrase.split())
    if len(passphrase) < 8:
        return "Too short: use at least 8 characters, better a few words."
    if len(passphrase) >= 20 or words >= 4:
        return "Strong."
    if len(passphrase) >= 12 and kinds >= 2:
        return "Good. A few more words make it stronger."
    return "Weak: add words or characters."


class _Dialog(QDialog):
    def __init__(self, title: str) -> None:
        super().__init__()
        self.setWindowTitle(title)
        self.setMinimumWidth(440)
        self.layout_ = QVBoxLayout(self)
        self.error = QLabel()
        self.error.setObjectName("error")
        self.error.setWordWrap(True)
        self.error.hide()

    def field(self, placeholder: str) -> QLineEdit:
        edit = QLineEdit()
        edit.setEchoMode(QLineEdit.EchoMode.Password)
        edit.setPlaceholderText(placeholder)
        self.layout_.addWidget(edit)
        return edit

    def show_error(self, message: str) -> None:
        self.error.setText(message)
        self.error.show()


class UnlockDialog(_Dialog):
    """Asks for the passphrase until `open_store(passphrase)` succeeds; `store` holds the result."""

    def __init__(self, open_store: Callable[[str], Any]) -> None:
        super().__init__("Unlock Engram")
        self._open_store = open_store
        self.store: Any = None
        self.layout_.addWidget(QLabel("Enter your passphrase to open your memory."))
        self.passphrase = self.field("Passphrase")
        self.layout_.addWidget(self.error)
        self.button = QPushButton("Unlock")
        self.button.setDefault(True)
        self.button.clicked.connect(self.submit)
        self.layout_.addWidget(self.button, alignment=Qt.AlignmentFlag.AlignRight)

    def submit(self) -> None:
        passphrase = self.passphrase.text()
        if not passphrase:
            return
        self._busy(True)
        run_in_background(lambda: self._open_store(passphrase), self._opened, self._failed, owner=self)

    def _opened(self, store: Any) -> None:
        self.store = store
        self.accept()

    def _failed(self, exc: Exception) -> None:
        self._busy(False)
        self.passphrase.clear()
        self.passphrase.setFocus()
        self.show_error(str(exc))

    def _busy(self, busy: bool) -> None:
        self.button.setEnabled(not busy)
        self.passphrase.setEnabled(not busy)
        self.button.setText("Unlocking…" if busy else "Unlock")


class FirstRunDialog(_Dialog):
    """Create the passphrase, then show the recovery key once; `store` holds the new store."""

    def __init__(self, create_store: Callable[[str], tuple[Any, str]]) -> None:
        super().__init__("Welcome to Engram")
        self._create_store = create_store
        self.store: Any = None
        self.recovery_key = ""
        intro = QLabel("Engram remembers what you see on screen, so you can find it again. Everything stays on this "
                       "computer, encrypted with a passphrase only you know.\n\nNever captured: "
                       f"{EXCLUDED_BY_DEFAULT}. You can pause capture from the tray at any time.")
        intro.setWordWrap(True)
        self.layout_.addWidget(intro)
        self.passphrase = self.field("Choose a passphrase")
        self.repeat = self.field("Repeat it")
        self.hint = QLabel()
        self.layout_.addWidget(self.hint)
        self.passphrase.textChanged.connect(lambda text: self.hint.setText(strength_hint(text)))
        self.layout_.addWidget(self.error)
        self.button = QPushButton("Create my memory")
        self.button.setDefault(True)
        self.button.clicked.connect(self.submit)
        self.layout_.addWidget(self.button, alignment=Qt.AlignmentFlag.AlignRight)

    def submit(self) -> None:
        passphrase = self.passphrase.text()
        if len(passphrase) < 8:
            self.show_error("Use at least 8 characters.")
            return
        if passphrase != self.repeat.text():
            self.show_error("The two passphrases differ.")
            return
        self.button.setEnabled(False)
        self.button.setText("Creating…")
        run_in_background(lambda: self._create_store(passphrase), self._created, self._failed, owner=self)

    def _failed(self, exc: Exception) -> None:
        self.button.setEnabled(True)
        self.button.setText("Create my memory")
        self.show_error(str(exc))

    def _created(self, result: tuple[Any, str]) -> None:
        self.store, self.recovery_key = result
        RecoveryKeyDialog(self.recovery_key).exec()
        self.accept()


class RecoveryKeyDialog(QDialog):
    def __init__(self, recovery_key: str) -> None:
        super().__init__()
        self.setWindowTitle("Your recovery key")
        layout = QVBoxLayout(self)
        text = QLabel("If you forget your passphrase, this key opens your memory. It is shown only now: "
                      "write it down and keep it away from this computer.")
        text.setWordWrap(True)
        layout.addWidget(text)
        key = QLabel(recovery_key)
        key.setObjectName("recoveryKey")
        key.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout.addWidget(key, alignment=Qt.AlignmentFlag.AlignCenter)
        row = QHBoxLayout()
        copy = QPushButton("Copy")
        copy.setAutoDefault(False)
        copy.clicked.connect(lambda: QApplication.clipboard().setText(recovery_key))
        done = QPushButton("I have written it down")
        done.setDefault(True)
        done.clicked.connect(self.accept)
        row.addWidget(copy)
        row.addStretch()
        row.addWidget(done)
        layout.addLayout(row)
