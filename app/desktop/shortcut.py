"""A shortcut as the user writes it ("Ctrl+Shift+Space"), read once for every platform's listener.

Below both `hotkey` (X11 and the choice of backend) and `hotkey_native` (Windows, macOS), so neither
imports the other at module level.
"""
from __future__ import annotations


_MODIFIERS = {"ctrl": "ctrl", "control": "ctrl", "shift": "shift", "alt": "alt", "option": "alt",
              "super": "super", "meta": "super", "win": "super", "cmd": "super", "command": "super"}


class HotkeyUnavailable(Exception):
    """No way to listen for the shortcut here; the message says why and what to do instead."""


def split_shortcut(shortcut: str) -> tuple[list[str], str]:
    """"Ctrl+Shift+Space" -> (["ctrl", "shift"], "Space"): modifiers by their role, the key as written."""
    parts = [p.strip() for p in shortcut.split("+") if p.strip()]
    if not parts:
        raise ValueError("an empty shortcut")
    *mods, key = parts
    unknown = [m for m in mods if m.lower() not in _MODIFIERS]
    if unknown:
        raise ValueError(f"unknown modifier(s) {', '.join(unknown)} in {shortcut!r}; use Ctrl, Shift, Alt, Super")
    if not mods:
        raise ValueError(f"{shortcut!r} needs a modifier (Ctrl, Shift, Alt or Super): a bare key would be taken "
                         "from every program")
    return [_MODIFIERS[m.lower()] for m in mods], key
