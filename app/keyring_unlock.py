"""Unlocking from the OS keyring, for users who opt in (off by default).

The passphrase is kept by the desktop's secret service (GNOME Keyring, KWallet,
macOS Keychain, Windows Credential Manager) under this data directory's name,
so Engram opens when the user's session does. It trades a second lock for
convenience: with it, whoever is logged in as the user can open Engram. Any
keyring problem (none installed, locked, refused) means "ask for the passphrase".
"""
from __future__ import annotations

import logging

from storage import paths

log = logging.getLogger(__name__)
SERVICE = "engram"


def _account() -> str:
    return str(paths.home())


def remember(passphrase: str) -> bool:
    try:
        import keyring

        keyring.set_password(SERVICE, _account(), passphrase)
        return True
    except Exception as exc:  # keyring backends raise their own types; type only in the log
        log.warning("the system keyring did not take the passphrase: %s", type(exc).__name__)
        return False


def recall() -> str | None:
    try:
        import keyring

        return keyring.get_password(SERVICE, _account())
    except Exception as exc:
        log.info("no passphrase from the system keyring: %s", type(exc).__name__)
        return None


def forget() -> None:
    try:
        import keyring

        keyring.delete_password(SERVICE, _account())
    except Exception:  # nothing stored, or no keyring: either way nothing is kept
        pass
