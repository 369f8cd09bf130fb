"""The global recall shortcut on a real X server (Xvfb), pressed through XTEST like a keyboard would."""
from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest
from xvfb import start_xvfb

from app.desktop.hotkey import X11Hotkey, parse
from app.desktop.shortcut import HotkeyUnavailable


@pytest.fixture
def display() -> Iterator[str]:
    server, name = start_xvfb()
    yield name
    server.terminate()
    server.wait()


def press(display_name: str, *keys: str) -> None:
    from Xlib import XK, X, display
    from Xlib.ext import xtest

    d = display.Display(display_name)
    codes = [d.keysym_to_keycode(XK.string_to_keysym(k)) for k in keys]
    for code in codes:
        xtest.fake_input(d, X.KeyPress, code)
    for code in reversed(codes):
        xtest.fake_input(d, X.KeyRelease, code)
    d.sync()
    d.close()


def wait_for(event: threading.Event, seconds: float = 5.0) -> bool:
    return event.wait(seconds)


def test_the_shortcut_calls_back_and_other_keys_do_not(display: str) -> None:
    heard = threading.Event()
    count = []
    hotkey = X11Hotkey("Ctrl+Shift+Space", lambda: (count.append(1), heard.set()), display_name=display)
    hotkey.start()
    try:
        press(display, "Control_L", "space")             # not the shortcut
        press(display, "Shift_L", "space")
        time.sleep(0.5)
        assert not heard.is_set()
        press(display, "Control_L", "Shift_L", "space")
        assert wait_for(heard) and count == [1]
        heard.clear()
        press(display, "Caps_Lock")                       # Caps Lock on: still the shortcut
        press(display, "Control_L", "Shift_L", "space")
        assert wait_for(heard)
    finally:
        hotkey.stop()


def test_a_shortcut_taken_by_another_program_is_reported(display: str) -> None:
    first = X11Hotkey("Ctrl+Alt+k", lambda: None, display_name=display)
    first.start()
    try:
        with pytest.raises(HotkeyUnavailable, match="already taken"):
            X11Hotkey("Ctrl+Alt+k", lambda: None, display_name=display).start()
    finally:
        first.stop()


def test_no_display_and_bad_shortcuts_give_clear_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DISPLAY", raising=False)
    with pytest.raises(HotkeyUnavailable, match="engram recall"):
        X11Hotkey("Ctrl+Shift+Space", lambda: None).start()
    assert parse("Ctrl+Shift+Space") == (["ControlMask", "ShiftMask"], "space")
    with pytest.raises(ValueError, match="needs a modifier"):
        parse("F12")
    with pytest.raises(ValueError, match="unknown modifier"):
        parse("Hyper+x")


def test_x11_keys_keep_their_keysym_case() -> None:
    assert parse("Ctrl+F5") == (["ControlMask"], "F5")
    assert parse("Super+K") == (["Mod4Mask"], "k")
    assert parse("Cmd+Option+space") == (["Mod4Mask", "Mod1Mask"], "space")


def test_windows_and_macos_key_codes() -> None:
    """The tables the native backends hand to RegisterHotKey and RegisterEventHotKey (the calls
    themselves cannot run on this Linux machine)."""
    from app.desktop.hotkey_native import mac_key, windows_key

    assert windows_key("Ctrl+Shift+Space") == (0x4000 | 0x2 | 0x4, 0x20)    # MOD_NOREPEAT|CONTROL|SHIFT, VK_SPACE
    assert windows_key("Alt+F5") == (0x4000 | 0x1, 0x74)                    # VK_F5
    assert windows_key("Win+k") == (0x4000 | 0x8, ord("K"))
    assert mac_key("Ctrl+Shift+Space") == (0x1000 | 0x200, 0x31)            # controlKey|shiftKey, kVK_Space
    assert mac_key("Cmd+k") == (0x100, 0x28)                                 # cmdKey, kVK_ANSI_K
    for bad in (lambda: windows_key("Ctrl+§"), lambda: mac_key("Ctrl+F5")):
        with pytest.raises(ValueError, match="no key"):
            bad()


def test_each_platform_gets_its_own_listener(monkeypatch: pytest.MonkeyPatch) -> None:
    import app.desktop.hotkey as hotkey
    from app.desktop.hotkey_native import MacHotkey, WindowsHotkey

    for platform, kind in (("linux", X11Hotkey), ("win32", WindowsHotkey), ("darwin", MacHotkey)):
        monkeypatch.setattr(hotkey.sys, "platform", platform)
        assert isinstance(hotkey.shortcut_listener("Ctrl+Shift+Space", lambda: None), kind)
