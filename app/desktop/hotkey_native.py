"""The recall shortcut on Windows (user32 RegisterHotKey) and macOS (Carbon RegisterEventHotKey).

Neither can run on the Linux build machine: the key tables and modifier masks are tested there, the
OS calls are the documented ones, kept short, and every failure becomes HotkeyUnavailable, so the
app falls back to explaining `engram recall` as it does on Wayland.
"""
from __future__ import annotations

import ctypes
import logging
import threading
from collections.abc import Callable
from typing import Any

from app.desktop.shortcut import HotkeyUnavailable, split_shortcut

log = logging.getLogger(__name__)

# -- Windows ----------------------------------------------------------------------------------

WIN_MODIFIERS = {"alt": 0x0001, "ctrl": 0x0002, "shift": 0x0004, "super": 0x0008}
MOD_NOREPEAT = 0x4000  # holding the keys down opens the popup once, not once per auto-repeat
WM_HOTKEY, WM_QUIT = 0x0312, 0x0012
_WIN_KEYS = {"space": 0x20, "enter": 0x0D, "return": 0x0D, "tab": 0x09, "esc": 0x1B, "escape": 0x1B}


def windows_key(shortcut: str) -> tuple[int, int]:
    """(modifier flags, virtual-key code) for RegisterHotKey."""
    mods, key = split_shortcut(shortcut)
    flags = MOD_NOREPEAT
    for mod in mods:
        flags |= WIN_MODIFIERS[mod]
    name = key.lower()
    if name in _WIN_KEYS:
        return flags, _WIN_KEYS[name]
    if len(name) == 1 and name.isascii() and name.isalnum():
        return flags, ord(name.upper())  # VK codes of A-Z and 0-9 are their ASCII capitals
    if name[:1] == "f" and name[1:].isdigit() and 1 <= int(name[1:]) <= 24:
        return flags, 0x70 + int(name[1:]) - 1
    raise ValueError(f"no key {key!r} for a Windows shortcut; use a letter, a digit, F1-F24 or Space")


class WindowsHotkey:
    """RegisterHotKey belongs to the thread that registered it, so one thread registers, waits in
    GetMessage for WM_HOTKEY, and unregisters when stop() posts it WM_QUIT."""

    HOTKEY_ID = 0xE6A1

    def __init__(self, shortcut: str, on_press: Callable[[], None]) -> None:
        self.shortcut = shortcut
        self._on_press = on_press
        self._thread: threading.Thread | None = None
        self._thread_id = 0
        self._started = threading.Event()
        self._problem = ""

    def start(self) -> None:
        flags, vk = windows_key(self.shortcut)
        self._thread = threading.Thread(target=self._run, args=(flags, vk), name="engram-hotkey", daemon=True)
        self._thread.start()
        self._started.wait(5)
        if self._problem:
            self._thread.join(2)
            raise HotkeyUnavailable(self._problem)

    def _run(self, flags: int, vk: int) -> None:
        from ctypes import wintypes

        user32: Any = ctypes.WinDLL("user32", use_last_error=True)  # type: ignore[attr-defined]
        kernel32: Any = ctypes.WinDLL("kernel32")  # type: ignore[attr-defined]
        self._thread_id = kernel32.GetCurrentThreadId()
        if not user32.RegisterHotKey(None, self.HOTKEY_ID, flags, vk):
            self._problem = (f"{self.shortcut} is already taken by another program (error "
                             f"{ctypes.get_last_error()}); choose another shortcut in Settings")  # type: ignore[attr-defined]
            self._started.set()
            return
        self._started.set()
        message = wintypes.MSG()
        try:
            while user32.GetMessageW(ctypes.byref(message), None, 0, 0) > 0:
                if message.message == WM_HOTKEY and message.wParam == self.HOTKEY_ID:
                    try:
                        self._on_press()
                    except Exception as exc:  # the listener must survive a failing callback
                        log.error("hotkey callback failed: %s", type(exc).__name__)
        finally:
            user32.UnregisterHotKey(None, self.HOTKEY_ID)

    def stop(self) -> None:
        if self._thread is not None and self._thread_id:
            ctypes.WinDLL("user32").PostThreadMessageW(self._thread_id, WM_QUIT, 0, 0)  # type: ignore[attr-defined]
            self._thread.join(2)
        self._thread = None


# -- macOS ------------------------------------------------------------------------------------

MAC_MODIFIERS = {"super": 0x0100, "shift": 0x0200, "alt": 0x0800, "ctrl": 0x1000}  # cmdKey, shiftKey, optionKey, controlKey
# Virtual key codes of the ANSI layout (Carbon's kVK_ANSI_*): where the key sits, not what it types.
_MAC_KEYS = {"space": 0x31, "enter": 0x24, "return": 0x24, "tab": 0x30, "esc": 0x35, "escape": 0x35,
             "a": 0x00, "s": 0x01, "d": 0x02, "f": 0x03, "h": 0x04, "g": 0x05, "z": 0x06, "x": 0x07, "c": 0x08,
             "v": 0x09, "b": 0x0B, "q": 0x0C, "w": 0x0D, "e": 0x0E, "r": 0x0F, "y": 0x10, "t": 0x11, "1": 0x12,
             "2": 0x13, "3": 0x14, "4": 0x15, "6": 0x16, "5": 0x17, "9": 0x19, "7": 0x1A, "8": 0x1C, "0": 0x1D,
             "o": 0x1F, "u": 0x20, "i": 0x22, "p": 0x23, "l": 0x25, "j": 0x26, "k": 0x28, "n": 0x2D, "m": 0x2E}


def _four_cc(code: str) -> int:
    return int.from_bytes(code.encode("ascii"), "big")


def mac_key(shortcut: str) -> tuple[int, int]:
    """(Carbon modifier mask, virtual key code) for RegisterEventHotKey."""
    mods, key = split_shortcut(shortcut)
    mask = 0
    for mod in mods:
        mask |= MAC_MODIFIERS[mod]
    code = _MAC_KEYS.get(key.lower())
    if code is None:
        raise ValueError(f"no key {key!r} for a macOS shortcut; use a letter, a digit or Space")
    return mask, code


class _EventTypeSpec(ctypes.Structure):
    _fields_ = [("eventClass", ctypes.c_uint32), ("eventKind", ctypes.c_uint32)]


class _EventHotKeyID(ctypes.Structure):
    _fields_ = [("signature", ctypes.c_uint32), ("id", ctypes.c_uint32)]


_HANDLER = ctypes.CFUNCTYPE(ctypes.c_int32, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p)


class MacHotkey:
    """Carbon's hot keys still work in Cocoa apps and need no accessibility permission (an event tap
    would). The handler runs on the main thread, inside Qt's event loop."""

    def __init__(self, shortcut: str, on_press: Callable[[], None]) -> None:
        self.shortcut = shortcut
        self._on_press = on_press
        self._carbon: Any = None
        self._hotkey_ref = ctypes.c_void_p()
        self._handler_ref = ctypes.c_void_p()
        self._callback = _HANDLER(self._pressed)  # kept alive as long as the hot key is registered

    def start(self) -> None:
        mask, code = mac_key(self.shortcut)
        try:
            carbon: Any = ctypes.CDLL("/System/Library/Frameworks/Carbon.framework/Carbon")
        except OSError as exc:
            raise HotkeyUnavailable(f"Carbon is not available ({exc})") from None
        carbon.GetApplicationEventTarget.restype = ctypes.c_void_p
        target = carbon.GetApplicationEventTarget()
        spec = _EventTypeSpec(_four_cc("keyb"), 5)  # kEventClassKeyboard, kEventHotKeyPressed
        if carbon.InstallEventHandler(ctypes.c_void_p(target), self._callback, 1, ctypes.byref(spec), None,
                                      ctypes.byref(self._handler_ref)) != 0:
            raise HotkeyUnavailable("macOS refused the key handler")
        status = carbon.RegisterEventHotKey(code, mask, _EventHotKeyID(_four_cc("EGRM"), 1), ctypes.c_void_p(target),
                                            0, ctypes.byref(self._hotkey_ref))
        if status != 0:
            carbon.RemoveEventHandler(self._handler_ref)
            raise HotkeyUnavailable(f"{self.shortcut} is already taken (OSStatus {status}); choose another "
                                    "shortcut in Settings")
        self._carbon = carbon

    def _pressed(self, _call: Any, _event: Any, _data: Any) -> int:
        try:
            self._on_press()
        except Exception as exc:
            log.error("hotkey callback failed: %s", type(exc).__name__)
        return 0  # noErr

    def stop(self) -> None:
        if self._carbon is not None:
            self._carbon.UnregisterEventHotKey(self._hotkey_ref)
            self._carbon.RemoveEventHandler(self._handler_ref)
            self._carbon = None
