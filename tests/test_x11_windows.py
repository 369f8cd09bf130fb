"""X11Windows and MssScreen against a real X server (Xvfb) with real Qt windows, without and with an
EWMH window manager (openbox). Needs the Debian packages xvfb and openbox; skipped without Xvfb."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator

import pytest

from app.capture.screen import MssScreen
from app.capture.factory import window_provider
from app.capture.windows import NullWindows, WindowInfo
from app.capture.windows_x11 import X11Windows
from xvfb import start_xvfb

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not shutil.which("Xvfb"), reason="needs Xvfb (apt-get install xvfb)")]

Spawn = Callable[..., subprocess.Popen[str]]
TITLE = "Engram X11 test — ünïcode"
WINDOW = textwrap.dedent("""
    import sys
    from PySide6.QtWidgets import QApplication, QWidget
    app = QApplication(sys.argv)
    window = QWidget()
    window.setWindowTitle(sys.argv[1])
    window.setGeometry(int(sys.argv[2]), int(sys.argv[3]), 400, 300)
    window.setStyleSheet("background: #30a050")
    window.show()
    window.raise_()
    window.activateWindow()
    print("ready", flush=True)
    app.exec()
""")


def wait_for(condition: Callable[[], object], timeout: float = 10.0) -> object:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := condition():
            return value
        time.sleep(0.05)
    raise AssertionError("condition not met in time")


@pytest.fixture
def xvfb() -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """A fresh Xvfb; -displayfd lets the server pick a free display number (no races with other runs)."""
    server, display = start_xvfb()
    try:
        yield display, server
    finally:
        server.terminate()
        server.wait(10)


@pytest.fixture
def display(xvfb: tuple[str, subprocess.Popen[bytes]]) -> str:
    return xvfb[0]


@pytest.fixture
def spawn(display: str) -> Iterator[Spawn]:
    """Start processes on the display; all of them are stopped at the end."""
    started: list[subprocess.Popen[str]] = []
    env = dict(os.environ, DISPLAY=display, QT_QPA_PLATFORM="xcb")
    env.pop("WAYLAND_DISPLAY", None)

    def start(*args: str) -> subprocess.Popen[str]:
        process = subprocess.Popen(list(args), env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        started.append(process)
        return process

    yield start
    for process in reversed(started):
        process.terminate()
        process.wait(10)
        if process.stdout:
            process.stdout.close()


def open_window(spawn: Spawn, title: str, x: int, y: int) -> subprocess.Popen[str]:
    process = spawn(sys.executable, "-c", WINDOW, title, str(x), str(y))
    assert process.stdout and process.stdout.readline().strip() == "ready"
    return process


def wm_running(display: str) -> bool:
    from Xlib import display as xdisplay

    d = xdisplay.Display(display)
    try:
        root = d.screen().root
        return root.get_full_property(d.intern_atom("_NET_SUPPORTING_WM_CHECK"), 0) is not None
    finally:
        d.close()


def focused_title(provider: X11Windows, title: str) -> Callable[[], WindowInfo | None]:
    return lambda: (w if (w := provider.focused()) and w.title == title else None)


def assert_is_our_window(info: WindowInfo, process: subprocess.Popen[str], x: int, y: int, frame: bool) -> None:
    assert info.pid == process.pid
    assert info.app.startswith("python")  # /proc/PID/comm of the interpreter
    gx, gy, gw, gh = info.geometry
    if frame:  # reparented: the frame holds the title bar, so it is at least as big and starts above
        assert gx <= x and gy <= y and gw >= 400 and gh > 300 and gx + gw <= x + 420 and gy + gh <= y + 360
    else:
        assert info.geometry == (x, y, 400, 300)


def test_without_window_manager_focus_comes_from_the_x_input_focus(display: str, spawn: Spawn) -> None:
    process = open_window(spawn, TITLE, 100, 120)
    provider = X11Windows(display)
    info = wait_for(focused_title(provider, TITLE))
    assert isinstance(info, WindowInfo)
    assert_is_our_window(info, process, 100, 120, frame=False)
    assert [w.title for w in provider.visible()] == [TITLE]
    idle = provider.idle_seconds()
    assert isinstance(idle, float) and 0 <= idle < 600
    assert provider.screen_locked() is False
    provider.close()


def test_focus_follows_pointer_and_no_focus(display: str, spawn: Spawn) -> None:
    from Xlib import X
    from Xlib import display as xdisplay

    open_window(spawn, TITLE, 100, 120)
    provider = X11Windows(display)
    wait_for(focused_title(provider, TITLE))
    d = xdisplay.Display(display)
    try:
        root = d.screen().root
        d.set_input_focus(X.PointerRoot, X.RevertToPointerRoot, X.CurrentTime)
        root.warp_pointer(300, 250)  # over the window
        d.sync()
        assert wait_for(focused_title(provider, TITLE))
        root.warp_pointer(1000, 700)  # over the bare root
        d.sync()
        wait_for(lambda: provider.focused() is None)
        d.set_input_focus(X.NONE, X.RevertToNone, X.CurrentTime)
        d.sync()
        assert provider.focused() is None
    finally:
        d.close()
        provider.close()


def test_with_ewmh_window_manager_focus_and_stacking_come_from_it(display: str, spawn: Spawn) -> None:
    if not shutil.which("openbox"):
        pytest.skip("needs openbox (apt-get install --no-install-recommends openbox)")
    provider = X11Windows(display)
    spawn("openbox", "--sm-disable")
    wait_for(lambda: wm_running(display))
    first = open_window(spawn, "First window", 100, 120)
    wait_for(focused_title(provider, "First window"))
    second = open_window(spawn, TITLE, 500, 300)
    info = wait_for(focused_title(provider, TITLE))
    assert isinstance(info, WindowInfo)
    assert_is_our_window(info, second, 500, 300, frame=True)
    wait_for(lambda: len(provider.visible()) == 2)
    visible = provider.visible()
    assert [w.title for w in visible] == ["First window", TITLE]  # bottom to top
    assert visible[0].pid == first.pid
    assert provider.idle_seconds() is not None and provider.screen_locked() is False
    provider.close()


def test_a_locker_locks_and_a_screen_saver_blanking_the_screen_does_not(display: str) -> None:
    """Issue 21: the X screen saver's blanking locked Engram before its own auto-lock."""
    from Xlib import X, Xatom
    from Xlib import display as xdisplay
    from Xlib.ext import screensaver

    provider = X11Windows(display)
    assert provider.screen_locked() is False
    d = xdisplay.Display(display)
    try:
        root = d.screen().root
        locker = root.create_window(0, 0, 1280, 800, 0, X.CopyFromParent, override_redirect=True)
        locker.set_wm_class("i3lock", "i3lock")
        locker.map()
        d.sync()
        assert wait_for(lambda: provider.screen_locked())
        locker.unmap()
        d.sync()
        wait_for(lambda: provider.screen_locked() is False)
        d.force_screen_saver(X.ScreenSaverActive)            # the X server's own blanking (`xset s`)
        d.sync()
        wait_for(lambda: root.screensaver_query_info().state == screensaver.StateOn)
        assert provider.screen_locked() is False
        d.force_screen_saver(X.ScreenSaverReset)
        saver = root.create_window(0, 0, 1280, 800, 0, X.CopyFromParent, override_redirect=True)
        saver.set_wm_class("xscreensaver", "XScreenSaver")
        status = d.intern_atom("_SCREENSAVER_STATUS")
        root.change_property(status, Xatom.INTEGER, 32, [d.intern_atom("BLANK"), 0])
        saver.map()
        d.sync()
        assert provider.screen_locked() is False              # xscreensaver blanking, not locking
        root.change_property(status, Xatom.INTEGER, 32, [d.intern_atom("LOCK"), 0])
        d.sync()
        assert wait_for(lambda: provider.screen_locked())     # ... and now locked
    finally:
        d.close()
        provider.close()


def test_window_provider_picks_x11_and_mss_grabs_the_display(display: str, spawn: Spawn,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    open_window(spawn, TITLE, 100, 120)
    provider = window_provider("linux", {"DISPLAY": display})
    assert isinstance(provider, X11Windows) and not isinstance(provider, NullWindows)
    wait_for(focused_title(provider, TITLE))
    provider.close()
    monkeypatch.setenv("DISPLAY", display)  # mss reads it when its handle opens
    screen = MssScreen()
    try:
        [monitor] = screen.monitors()
        assert (monitor.left, monitor.top, monitor.width, monitor.height) == (0, 0, 1280, 800)
        image = screen.grab(monitor)
        assert image.size == (1280, 800) and image.mode == "RGB"
        assert image.getpixel((300, 270)) == (0x30, 0xA0, 0x50)  # inside the window: its green background
    finally:
        screen.close()


def test_a_vanished_x_server_means_unknown_not_a_crash(xvfb: tuple[str, subprocess.Popen[bytes]]) -> None:
    name, server = xvfb
    provider = X11Windows(name)
    assert provider.screen_locked() is False
    server.terminate()
    server.wait(10)
    assert provider.focused() is None and provider.visible() == []
    assert provider.idle_seconds() is None and provider.screen_locked() is None
    assert provider.focused() is None  # the reconnect attempt fails quietly too


POPUP = textwrap.dedent("""
    import sys
    from PySide6.QtCore import Qt
    from PySide6.QtWidgets import QApplication, QLabel
    app = QApplication(sys.argv)
    tip = QLabel("a password manager's tooltip")
    tip.setWindowFlags(Qt.WindowType.ToolTip)   # override-redirect under xcb
    tip.setGeometry(700, 500, 300, 40)
    tip.show()
    print("ready", flush=True)
    app.exec()
""")


def test_override_redirect_popups_are_visible_windows_of_their_app(display: str, spawn: Spawn) -> None:
    provider = X11Windows(display)
    open_window(spawn, "Editor", 100, 100)
    tip = spawn(sys.executable, "-c", POPUP)
    assert tip.stdout and tip.stdout.readline().strip() == "ready"
    found = wait_for(lambda: next((w for w in provider.visible() if w.pid == tip.pid), None))
    assert isinstance(found, WindowInfo)
    assert found.geometry == (700, 500, 300, 40) and found.app.startswith("python")
    provider.close()
