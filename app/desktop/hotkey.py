"""The global recall shortcut (default Ctrl+Shift+Space), without Qt.

X11: the key is grabbed on the root window (XGrabKey through python-xlib), once
per combination of the lock modifiers (Caps Lock, Num Lock), which X treats as
part of the key. A daemon thread waits for the presses and calls back; the
desktop app relays the call to its GUI thread. Windows and macOS have their own
backends (app/desktop/hotkey_native.py). Where none works (Wayland, another program holds
the key) `start` says why, and the app points the user at `engram recall` as a
custom shortcut of their desktop.
"""
from __future__ import annotations

import logging
import os
import select
import sys
import threading
from collections.abc import Callable
from typing import Any

from app.desktop.shortcut import HotkeyUnavailable, split_shortcut

log = logging.getLogger(__name__)

_X_MASKS = {"ctrl": "ControlMask", "shift": "ShiftMask", "alt": "Mod1Mask", "super": "Mod4Mask"}
_KEY_NAMES = {"space": "space", "enter": "Return", "return": "Return", "tab": "Tab", "esc": "Escape",
              "escape": "Escape"}


def parse(shortcut: str) -> tuple[list[str], str]:
    """"Ctrl+Shift+Space" -> (["ControlMask", "ShiftMask"], "space"): X11's names."""
    mods, key = split_shortcut(shortcut)
    # X keysyms are case-sensitive: "F5", "Home"; a single letter is its lowercase keysym.
    return [_X_MASKS[m] for m in mods], _KEY_NAMES.get(key.lower(), key if len(key) > 1 else key.lower())


def shortcut_listener(shortcut: str, on_press: Callable[[], None]) -> Any:
    """The backend for this OS; its `start()` raises HotkeyUnavailable when it cannot listen."""
    if sys.platform == "win32":
        from app.desktop.hotkey_native import WindowsHotkey

        return WindowsHotkey(shortcut, on_press)
    if sys.platform == "darwin":
        from app.desktop.hotkey_native import MacHotkey

        return MacHotkey(shortcut, on_press)
    return X11Hotkey(shortcut, on_press)


class X11Hotkey:
    def __init__(self, shortcut: str, on_press: Callable[[], None], display_name: str | None = None) -> None:
        self.shortcut = shortcut
        self._on_press = on_press
        self._display_name = display_name
        self._display: Any = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if not (self._display_name or os.environ.get("DISPLAY")):
            raise HotkeyUnavailable("no X11 display (on Wayland, bind `engram recall` to a shortcut in your "
                                    "desktop's keyboard settings)")
        from Xlib import X, XK, display, error

        modifiers, key = parse(self.shortcut)
        try:
            self._display = display.Display(self._display_name)
        except (error.DisplayError, error.ConnectionClosedError, OSError) as exc:
            raise HotkeyUnavailable(f"cannot reach the X server ({exc})") from None
        keysym = XK.string_to_keysym(key)
        keycode = self._display.keysym_to_keycode(keysym) if keysym else 0
        if not keycode:
            self._display.close()
            raise HotkeyUnavailable(f"this keyboard has no key {key!r}")
        mask = 0
        for name in modifiers:
            mask |= getattr(X, name)
        root = self._display.screen().root
        failed: list[Any] = []
        # Grab with every combination of Caps Lock and Num Lock (Mod2): X counts them as modifiers.
        for extra in (0, X.LockMask, X.Mod2Mask, X.LockMask | X.Mod2Mask):
            root.grab_key(keycode, mask | extra, True, X.GrabModeAsync, X.GrabModeAsync,
                          onerror=lambda err, *_: failed.append(err))
        self._display.sync()
        if failed:
            self._display.close()
            raise HotkeyUnavailable(f"{self.shortcut} is already taken by another program; choose another "
                                    "shortcut in Settings or bind `engram recall`")
        self._keycode, self._mask = keycode, mask
        self._stop.clear()
        self._thread = threading.Thread(target=self._listen, name="engram-hotkey", daemon=True)
        self._thread.start()

    def _listen(self) -> None:
        from Xlib import X

        display = self._display
        while not self._stop.is_set():
            # select with a timeout: next_event() alone would block shutdown forever.
            readable, _, _ = select.select([display.fileno()], [], [], 0.2)
            if not readable and not display.pending_events():
                continue
            while display.pending_events():
                event = display.next_event()
                if event.type == X.KeyPress and event.detail == self._keycode:
                    try:
                        self._on_press()
                    except Exception as exc:  # the listener must survive a failing callback
                        log.error("hotkey callback failed: %s", type(exc).__name__)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2)
            self._thread = None
        if self._display is not None:
            from Xlib import X

            try:
                self._display.screen().root.ungrab_key(self._keycode, X.AnyModifier)
                self._display.close()
            except Exception:  # the X server may be gone already at shutdown
                pass
            self._display = None
