"""First run (create a passphrase, see the recovery key once) and unlocking later.

Deriving the key takes about a second on purpose (Argon2id), so both dialogs
do it in the background and show that they are working.
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from storage.config import Config
from storage.store import needs_upgrade

from app.desktop.ops import run_in_background
from app.qt import (QApplication, QCheckBox, QDialog, QHBoxLayout, QLabel, QLineEdit, QPlainTextEdit, QPushButton, Qt,
                    QVBoxLayout)

log = logging.getLogger(__name__)


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

    def check_keyring(self, use_keyring: QCheckBox, hint: QLabel) -> None:
        """Where no keyring exists the option would fail without a word: say so and turn it off."""
        from app import keyring_unlock

        def checked(problem: str) -> None:
            if problem:
                use_keyring.setChecked(False)
                use_keyring.setEnabled(False)
                hint.setText(problem)
                hint.show()
                self.adjustSize()   # room for the hint at once, not squeezed into the old height

        run_in_background(keyring_unlock.unavailable, checked, lambda _exc: None, owner=self)


class UnlockDialog(_Dialog):
    """Asks for the passphrase until `open_store(passphrase)` succeeds; `store` holds the result."""

    def __init__(self, open_store: Callable[[str], Any], ask_keyring: bool = False) -> None:
        super().__init__("Unlock Engram")
        self._open_store = open_store
        self.store: Any = None
        self.opened_with = ""      # "passphrase" or "recovery key"
        self.note = ""             # what the user should hear once the dialog has closed
        self.layout_.addWidget(QLabel("Enter your passphrase (or your recovery key) to open your memory."))
        self.passphrase = self.field("Passphrase or recovery key")
        self.use_keyring = QCheckBox("Unlock from the system keyring next time")
        self.use_keyring.setChecked(Config.load().get("security.use_keyring"))
        self.layout_.addWidget(self.use_keyring)
        self.keyring_hint = QLabel()
        self.keyring_hint.setProperty("role", "hint")
        self.keyring_hint.setWordWrap(True)
        self.keyring_hint.hide()
        self.layout_.addWidget(self.keyring_hint)
        self.check_keyring(self.use_keyring, self.keyring_hint)
        self.layout_.addWidget(self.error)
        self.upgrading = QLabel("Engram was updated: your memory is converted to its new layout, once. "
                                "A large one takes up to a minute; nothing is lost if it is interrupted.")
        self.upgrading.setWordWrap(True)
        self.upgrading.hide()
        self.layout_.addWidget(self.upgrading)
        self.button = QPushButton("Unlock")
        self.button.setDefault(True)
        self.button.clicked.connect(self.submit)
        self.layout_.addWidget(self.button, alignment=Qt.AlignmentFlag.AlignRight)
        if ask_keyring and self.use_keyring.isChecked():
            # The secret service can take seconds (or wait on its own prompt): never on the GUI thread.
            from app import keyring_unlock

            self._busy(True, "Asking the keyring…")
            run_in_background(keyring_unlock.recall, self._from_keyring, lambda _exc: self._from_keyring(None),
                              owner=self)

    def _from_keyring(self, passphrase: str | None) -> None:
        if passphrase:
            self.passphrase.setText(passphrase)
            self.submit()  # the dialog shows "Unlocking…" and closes by itself
            return
        self._busy(False)
        self.show_error("The system keyring did not give the passphrase; type it.")

    def submit(self) -> None:
        passphrase = self.passphrase.text()
        if not passphrase:
            return
        self.working(upgrade=needs_upgrade())
        wanted = self.use_keyring.isChecked()
        run_in_background(lambda: open_and_keep_choice(self._open_store, passphrase, wanted), self._opened,
                          self._failed, owner=self)

    def working(self, upgrade: bool) -> None:
        """Busy opening the store; `upgrade`: first converting it to this version's layout (says so)."""
        self.upgrading.setVisible(upgrade)
        self._busy(True, "Upgrading…" if upgrade else "Unlocking…")

    def _opened(self, opened: tuple[Any, str]) -> None:
        self.store, self.note = opened
        self.opened_with = getattr(getattr(self.store, "vault", None), "opened_with", "") or "passphrase"
        self.accept()

    def _failed(self, exc: Exception) -> None:
        self._busy(False)
        self.upgrading.hide()
        self.passphrase.clear()
        self.passphrase.setFocus()
        self.show_error(str(exc))

    def _busy(self, busy: bool, doing: str = "Unlocking…") -> None:
        self.button.setEnabled(not busy)
        self.passphrase.setEnabled(not busy)
        self.button.setText(doing if busy else "Unlock")


def open_and_keep_choice(open_store: Callable[[str], Any], passphrase: str, use_keyring: bool) -> tuple[Any, str]:
    """Open (or create) the store, then keep the passphrase in the system keyring or forget it, as the
    user chose; the setting records whether the keyring took it. Returns what `open_store` gave and a
    note for the user ("" when all went as chosen).

    A recovery key typed in place of the passphrase is never kept: the keyring and the setting are left as
    they were, and the note asks for a new passphrase.

    Runs in the background: both the key derivation and the secret service take their time."""
    from app import keyring_unlock

    store = open_store(passphrase)
    if getattr(getattr(store, "vault", None), "opened_with", "") == "recovery key":
        return store, ("Opened with your recovery key. Choose a new passphrase in Settings (Your data → "
                       "Change passphrase); the recovery key keeps working.")
    kept = keyring_unlock.remember(passphrase) if use_keyring else False
    if not use_keyring:
        keyring_unlock.forget()
    config = Config.load()
    if kept != config.get("security.use_keyring"):
        config.set("security.use_keyring", kept)
        config.save()
    if use_keyring and not kept:
        return store, (keyring_unlock.unavailable() or
                       "The system keyring did not take the passphrase: Engram will ask for it next time.")
    return store, ""


class FirstRunDialog(_Dialog):
    """Create the passphrase, then show the recovery key once; `store` holds the new store."""

    def __init__(self, create_store: Callable[[str], tuple[Any, str]]) -> None:
        super().__init__("Welcome to Engram")
        self.setMinimumWidth(560)
        self._create_store = create_store
        self.store: Any = None
        self.recovery_key = ""
        self.note = ""             # what the user should hear once the dialog has closed
        intro = QLabel("Engram remembers what you see on screen, so you can find it again. Everything stays on this "
                       "computer, encrypted with a passphrase only you know.")
        intro.setWordWrap(True)
        self.layout_.addWidget(intro)
        self.passphrase = self.field("Choose a passphrase")
        self.repeat = self.field("Repeat it")
        self.hint = QLabel()
        self.layout_.addWidget(self.hint)
        self.passphrase.textChanged.connect(lambda text: self.hint.setText(strength_hint(text)))
        for edit in (self.passphrase, self.repeat):
            edit.textChanged.connect(self._recheck)
        self.capture = QCheckBox("Capture my screen while unlocked (pause it from the tray any time)")
        self.capture.setChecked(True)
        self.layout_.addWidget(self.capture)
        never = QLabel("Never captured: private browser windows, Engram itself, and these apps (one per line):")
        never.setWordWrap(True)
        self.layout_.addWidget(never)
        self.excluded = QPlainTextEdit("\n".join(Config.load().get("capture.excluded_apps")))
        self.excluded.setMaximumHeight(80)
        self.layout_.addWidget(self.excluded)
        self.capture.toggled.connect(self.excluded.setEnabled)
        self.at_login = QCheckBox("Start Engram when I log in")
        self.at_login.setChecked(Config.load().get("desktop.start_at_login"))  # as chosen at install
        self.layout_.addWidget(self.at_login)
        self.use_keyring = QCheckBox("Unlock from the system keyring, without typing the passphrase")
        self.layout_.addWidget(self.use_keyring)
        self.keyring_hint = QLabel("Convenient, but then anyone using this login can open your memory.")
        self.keyring_hint.setProperty("role", "hint")
        self.keyring_hint.setWordWrap(True)
        self.layout_.addWidget(self.keyring_hint)
        self.check_keyring(self.use_keyring, self.keyring_hint)
        self.layout_.addWidget(self.error)
        self.button = QPushButton("Create my memory")
        self.button.setDefault(True)
        self.button.clicked.connect(self.submit)
        self.layout_.addWidget(self.button, alignment=Qt.AlignmentFlag.AlignRight)

    def problem(self) -> str:
        """What keeps the typed passphrases from being used, or ""."""
        if len(self.passphrase.text()) < 8:
            return "Use at least 8 characters."
        if self.passphrase.text() != self.repeat.text():
            return "The two passphrases differ."
        return ""

    def _recheck(self) -> None:
        """A complaint goes as soon as the typing fixes it; a new one waits for "Create" (no nagging while typing)."""
        shown = self.error.text()
        if shown in ("Use at least 8 characters.", "The two passphrases differ.") and self.problem() != shown:
            self.error.hide()
            self.error.clear()

    def submit(self) -> None:
        passphrase = self.passphrase.text()
        if self.problem():
            self.show_error(self.problem())
            return
        self.button.setEnabled(False)
        self.button.setText("Creating…")
        wanted = self.use_keyring.isChecked()
        run_in_background(lambda: open_and_keep_choice(self._create_store, passphrase, wanted), self._created,
                          self._failed, owner=self)

    def _failed(self, exc: Exception) -> None:
        self.button.setEnabled(True)
        self.button.setText("Create my memory")
        self.show_error(str(exc))

    def _created(self, created: tuple[tuple[Any, str], str]) -> None:
        (self.store, self.recovery_key), self.note = created
        self.save_choices()
        RecoveryKeyDialog(self.recovery_key).exec()
        self.accept()

    def save_choices(self) -> None:
        """The consent, the exclusions and start-at-login, as settings (changeable later in Settings)."""
        from app.autostart import set_enabled

        config = Config.load()
        config.set("capture.enabled", self.capture.isChecked())
        config.set("capture.excluded_apps", [line.strip() for line in self.excluded.toPlainText().splitlines()
                                             if line.strip()])
        config.set("desktop.start_at_login", self.at_login.isChecked())
        config.save()
        try:
            set_enabled(self.at_login.isChecked())
        except OSError as exc:
            log.warning("start at login not set: %s", exc)


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
