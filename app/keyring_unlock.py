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


NO_KEYRING = ("No system keyring on this computer (such as GNOME Keyring or KWallet): "
              "Engram will ask for the passphrase.")


def unavailable() -> str:
    """Why the keyring cannot keep the passphrase here, or "" when a real one is there to try.

    keyring falls back to a backend that refuses everything when no secret service is installed or
    reachable; choosing the option there would fail without a word."""
    try:
        import keyring
        from keyring.backends import fail, null

        backend = keyring.get_keyring()
    except Exception as exc:
        log.info("no system keyring: %s", type(exc).__name__)
        return NO_KEYRING
    chained = getattr(backend, "backends", None)
    if isinstance(backend, (fail.Keyring, null.Keyring)) or (chained is not None and not chained):
        return NO_KEYRING
    return ""


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
