"""Window metadata on Windows (user32 through ctypes) and macOS (Quartz through pyobjc).

Neither can be exercised on the Linux build machine: both stay short, import their OS modules only
when constructed, and report "unknown" rather than guess when a call fails.

Coordinates: both report the same virtual-desktop coordinates mss uses on that platform, provided the
process is DPI aware on Windows (mss makes it per-monitor aware when it starts) and in points on
macOS (FrameFilter scales points to the grab's pixels).
"""
from __future__ import annotations

import ctypes
import os
from typing import Any

from app.capture.windows import WindowInfo

PROCESS_QUERY_LIMITED_INFORMATION = 0x1000
DWMWA_CLOAKED = 14  # hidden UWP windows and those on other virtual desktops report visible but cloaked
DESKTOP_SWITCHDESKTOP = 0x0100


class Win32Windows:
    """user32: GetForegroundWindow, EnumWindows, GetLastInputInfo; lock = the input desktop is not ours."""

    def __init__(self) -> None:
        from ctypes import wintypes as w

        self._w = w
        self._user32: Any = ctypes.WinDLL("user32", use_last_error=True)  # type: ignore[attr-defined]
        self._kernel32: Any = ctypes.WinDLL("kernel32", use_last_error=True)  # type: ignore[attr-defined]
        self._dwm: Any = ctypes.WinDLL("dwmapi")  # type: ignore[attr-defined]
        u, k, P = self._user32, self._kernel32, ctypes.POINTER
        # Handles are pointers: without these ctypes would pass and return them as 32-bit ints.
        u.GetForegroundWindow.restype = w.HWND
        u.OpenInputDesktop.restype = w.HANDLE
        k.OpenProcess.restype = w.HANDLE
        signatures = (
            (u.IsWindowVisible, [w.HWND]), (u.IsIconic, [w.HWND]), (u.CloseDesktop, [w.HANDLE]),
            (u.GetWindowTextLengthW, [w.HWND]), (u.GetWindowTextW, [w.HWND, w.LPWSTR, ctypes.c_int]),
            (u.GetWindowRect, [w.HWND, P(w.RECT)]), (u.GetWindowThreadProcessId, [w.HWND, P(w.DWORD)]),
            (k.CloseHandle, [w.HANDLE]), (k.QueryFullProcessImageNameW, [w.HANDLE, w.DWORD, w.LPWSTR, P(w.DWORD)]),
            (self._dwm.DwmGetWindowAttribute, [w.HWND, w.DWORD, ctypes.c_void_p, w.DWORD]),
        )
        for function, args in signatures:
            function.argtypes = args
        self._enum_proc = ctypes.WINFUNCTYPE(w.BOOL, w.HWND, w.LPARAM)  # type: ignore[attr-defined]

    def focused(self) -> WindowInfo | None:
        hwnd = self._user32.GetForegroundWindow()
        return self._info(hwnd) if hwnd else None

    def visible(self) -> list[WindowInfo]:
        found: list[int] = []

        def collect(hwnd: int, _: int) -> bool:
            found.append(hwnd)
            return True

        self._user32.EnumWindows(self._enum_proc(collect), 0)  # top to bottom
        return [self._info(h) for h in reversed(found) if self._shown(h)]

    def idle_seconds(self) -> float | None:
        class LastInputInfo(ctypes.Structure):
            _fields_ = [("cbSize", ctypes.c_uint), ("dwTime", ctypes.c_uint)]

        info = LastInputInfo(ctypes.sizeof(LastInputInfo), 0)
        if not self._user32.GetLastInputInfo(ctypes.byref(info)):
            return None
        now = int(self._kernel32.GetTickCount())
        return ((now - int(info.dwTime)) & 0xFFFFFFFF) / 1000.0  # both wrap every 49.7 days

    def screen_locked(self) -> bool | None:
        desktop = self._user32.OpenInputDesktop(0, False, DESKTOP_SWITCHDESKTOP)
        if not desktop:  # the secure desktop (lock screen, UAC prompt) cannot be opened by a user process
            return True
        self._user32.CloseDesktop(desktop)
        return False

    def _shown(self, hwnd: int) -> bool:
        u = self._user32
        if not u.IsWindowVisible(hwnd) or u.IsIconic(hwnd) or not u.GetWindowTextLengthW(hwnd):
            return False
        cloaked = ctypes.c_int(0)
        self._dwm.DwmGetWindowAttribute(hwnd, DWMWA_CLOAKED, ctypes.byref(cloaked), 4)
        return not cloaked.value

    def _info(self, hwnd: int) -> WindowInfo:
        u, w = self._user32, self._w
        title = ctypes.create_unicode_buffer(u.GetWindowTextLengthW(hwnd) + 1)
        u.GetWindowTextW(hwnd, title, len(title))
        rect = w.RECT()
        u.GetWindowRect(hwnd, ctypes.byref(rect))
        pid = w.DWORD(0)
        u.GetWindowThreadProcessId(hwnd, ctypes.byref(pid))
        geometry = (rect.left, rect.top, rect.right - rect.left, rect.bottom - rect.top)
        return WindowInfo(app=self._process_name(pid.value), title=title.value, geometry=geometry,
                          pid=pid.value or None)

    def _process_name(self, pid: int) -> str:
        handle = self._kernel32.OpenProcess(PROCESS_QUERY_LIMITED_INFORMATION, False, pid)
        if not handle:
            return ""  # elevated processes refuse a normal user
        try:
            size = self._w.DWORD(32768)
            path = ctypes.create_unicode_buffer(size.value)
            ok = self._kernel32.QueryFullProcessImageNameW(handle, 0, path, ctypes.byref(size))
            name = os.path.basename(path.value) if ok else ""
            return name[:-4] if name.lower().endswith(".exe") else name
        finally:
            self._kernel32.CloseHandle(handle)


class QuartzWindows:
    """CGWindowListCopyWindowInfo for windows, NSWorkspace for the frontmost app, CGSession for the lock.

    Window titles need the Screen Recording permission, which capture needs anyway.
    """

    def __init__(self) -> None:
        import Quartz

        self._q: Any = Quartz

    def focused(self) -> WindowInfo | None:
        windows = self._on_screen()
        front = self._frontmost_pid()
        mine = [w for w in windows if front is None or w.get("kCGWindowOwnerPID") == front]
        return self._info(mine[0]) if mine else None

    def visible(self) -> list[WindowInfo]:
        return [self._info(w) for w in reversed(self._on_screen())]  # Quartz lists front to back

    def idle_seconds(self) -> float | None:
        q = self._q
        return float(q.CGEventSourceSecondsSinceLastEventType(q.kCGEventSourceStateCombinedSessionState,
                                                               q.kCGAnyInputEventType))

    def screen_locked(self) -> bool | None:
        session = self._q.CGSessionCopyCurrentDictionary()
        return None if session is None else bool(session.get("CGSSessionScreenIsLocked", False))

    def _on_screen(self) -> list[Any]:
        q = self._q
        options = q.kCGWindowListOptionOnScreenOnly | q.kCGWindowListExcludeDesktopElements
        windows = q.CGWindowListCopyWindowInfo(options, q.kCGNullWindowID) or []
        return [w for w in windows if w.get("kCGWindowLayer", 0) == 0]  # layer 0: ordinary app windows

    @staticmethod
    def _frontmost_pid() -> int | None:
        try:
            from AppKit import NSWorkspace  # pyobjc-framework-Cocoa, a dependency of the Quartz wrapper

            return int(NSWorkspace.sharedWorkspace().frontmostApplication().processIdentifier())
        except Exception:  # no AppKit, or no frontmost app: fall back to the frontmost window
            return None

    @staticmethod
    def _info(window: Any) -> WindowInfo:
        bounds = window.get("kCGWindowBounds") or {}
        geometry = (int(bounds.get("X", 0)), int(bounds.get("Y", 0)),
                    int(bounds.get("Width", 0)), int(bounds.get("Height", 0)))
        pid = window.get("kCGWindowOwnerPID")
        return WindowInfo(app=str(window.get("kCGWindowOwnerName") or ""), title=str(window.get("kCGWindowName") or ""),
                          geometry=geometry, pid=int(pid) if pid else None)
