"""Window metadata on X11 through python-xlib (EWMH when a window manager provides it, plain X otherwise).

Focus: `_NET_ACTIVE_WINDOW` when the window manager publishes it; without one (bare Xvfb, some
kiosks) the X input focus, walked up to its top-level window (and, under focus-follows-pointer,
the top-level under the pointer). Visible windows: `_NET_CLIENT_LIST_STACKING`, else the root's
children, which X returns in stacking order; then the override-redirect ones (menus, tooltips) whose
owner is known, so an excluded app's popup is blacked out like its window. Idle time: the MIT-SCREEN-SAVER extension.

Lock detection is best effort, because X has no lock concept. Only a lock counts, never a screen
saver that blanks the screen (the X server's own, MIT-SCREEN-SAVER, locks nothing; Engram has its
own idle auto-lock): systemd-logind's LockedHint for this session says so (set by GNOME, KDE,
Cinnamon and light-locker; GNOME's own lock screen has no X window of its own), or a locker's window
is mapped (i3lock, xsecurelock, slock, …), or xscreensaver says LOCK (not BLANK) in its
_SCREENSAVER_STATUS, or another desktop's screen saver (which locks unless told not to) is up and
logind cannot tell. A locker outside these lists goes unnoticed.
"""
from __future__ import annotations

import gc
import os
import shutil
import socket
import subprocess
import threading
import time
import warnings
from collections.abc import Callable
from typing import Any, TypeVar

from app.capture.windows import WindowInfo, process_name

LOCKERS = frozenset({
    "i3lock", "xsecurelock", "slock", "light-locker", "xlock", "xtrlock", "betterlockscreen", "kscreenlocker_greet",
    "sflock", "alock", "xss-lock",
})
# Screen savers that may only blank the screen: a lock only when they say so (or logind cannot tell).
SAVERS = frozenset({"gnome-screensaver", "xfce4-screensaver", "mate-screensaver", "cinnamon-screensaver"})
LOGIND_CACHE_SECONDS = 10.0  # loginctl costs a process start: ask at most this often
T = TypeVar("T")
_ATOMS = ("_NET_ACTIVE_WINDOW", "_NET_CLIENT_LIST_STACKING", "_NET_WM_NAME", "UTF8_STRING", "_NET_WM_PID",
          "WM_STATE", "_NET_WM_STATE", "_NET_WM_STATE_HIDDEN", "WM_CLIENT_MACHINE", "_SCREENSAVER_STATUS")


class X11Windows:
    """A WindowProvider for one X display. Thread-safe: one connection, used under a lock."""

    def __init__(self, display: str | None = None) -> None:
        self._name = display
        self._display: Any = None
        self._atoms: dict[str, int] = {}
        self._lock = threading.RLock()
        self._hostname = socket.gethostname()
        self._logind: tuple[float, bool | None] = (-LOGIND_CACHE_SECONDS, None)

    def check(self) -> None:
        """Open the connection now; ConnectionError if the display is unreachable."""
        with self._lock, warnings.catch_warnings():
            # python-xlib leaves its sockets open when a connection fails: collect them here, quietly,
            # instead of letting a ResourceWarning surface at some later garbage collection.
            warnings.simplefilter("ignore", ResourceWarning)
            failed = None
            try:
                self._conn()
            except Exception as exc:  # DisplayConnectionError, DisplayNameError, OSError, ...
                failed = f"X display {self._name!r} unreachable ({exc.__class__.__name__})"
            gc.collect()
        if failed:
            raise ConnectionError(failed)

    def close(self) -> None:
        with self._lock:
            if self._display is not None:
                self._display.close()
                self._display = None

    # -- the WindowProvider surface ------------------------------------------------------------------

    def focused(self) -> WindowInfo | None:
        return self._guarded(self._focused, None)

    def visible(self) -> list[WindowInfo]:
        return self._guarded(self._visible, [])

    def idle_seconds(self) -> float | None:
        info = self._guarded(self._saver_info, None)
        return None if info is None else info.idle / 1000.0

    def screen_locked(self) -> bool | None:
        return self._guarded(self._locked, None)

    def _guarded(self, call: Callable[[], T], default: T) -> T:
        """Run one query; the default when a window vanished mid-way or the X server is gone. After
        losing the server (logout, crash) each later call tries to reconnect once, quietly."""
        from Xlib.error import ConnectionClosedError, DisplayError, XError

        with self._lock:
            try:
                if self._display is None:
                    self.check()
                return call()
            except XError:  # a window went away between two requests
                return default
            except (ConnectionClosedError, DisplayError, ConnectionError, OSError):
                self._display = None
                return default

    def _focused(self) -> WindowInfo | None:
        client = self._active_client()
        return None if client is None else self._info(client)

    def _visible(self) -> list[WindowInfo]:
        from Xlib import X
        from Xlib.error import XError

        d, root = self._conn(), self._conn().screen().root
        stacking = self._window_ids(root, "_NET_CLIENT_LIST_STACKING")
        managed = stacking is not None
        if stacking is not None:
            windows = [d.create_resource_object("window", i) for i in stacking]
        else:  # no window manager: the root's children, which X lists bottom to top
            windows = root.query_tree().children
        found = []
        for window in windows:
            try:
                frame = self._top(window)
                attrs = frame.get_attributes()
                if attrs.map_state != X.IsViewable or (not managed and attrs.override_redirect):
                    continue
                if managed and self._minimized(window):
                    continue
                info = self._info(window, frame)
            except XError:  # this window went away: the others still count
                continue
            if info.geometry[2] > 1 and info.geometry[3] > 1:  # toolkits' 1x1 helper windows
                found.append(info)
        return found + self._popups(root)

    def _popups(self, root: Any) -> list[WindowInfo]:
        """Menus, tooltips and drop-downs: override-redirect windows no window manager lists. A
        tooltip of an excluded app shown over another one must be blacked out like its window; those
        nobody owns (no WM_CLASS, no pid) cannot match an exclusion and are left out."""
        from Xlib import X
        from Xlib.error import XError

        found = []
        for window in root.query_tree().children:
            try:
                attrs = window.get_attributes()
                if attrs.map_state != X.IsViewable or not attrs.override_redirect:
                    continue
                if not window.get_wm_class() and not self._pid(window):
                    continue
                info = self._info(window, window)
            except XError:
                continue
            if info.geometry[2] > 1 and info.geometry[3] > 1:
                found.append(info)
        return found

    def _locked(self) -> bool:
        """A session lock, not a screen saver blanking the screen (see the module docstring)."""
        logind = self._logind_locked()
        if logind:
            return True
        names = self._mapped_window_names()
        if names & LOCKERS:
            return True
        if "xscreensaver" in names:
            return self._xscreensaver_locked()
        return bool(names & SAVERS) and logind is None

    # -- focus -------------------------------------------------------------------------------------------

    def _active_client(self) -> Any:
        from Xlib import X

        d = self._conn()
        root = d.screen().root
        active = self._window_ids(root, "_NET_ACTIVE_WINDOW")
        if active is not None:  # an EWMH window manager runs: trust it, including "nothing is active"
            return d.create_resource_object("window", active[0]) if active and active[0] else None
        focus = d.get_input_focus().focus
        if focus == X.PointerRoot:  # focus follows the pointer
            focus = root.query_pointer().child
        if isinstance(focus, int) or focus.id == root.id:  # X.NONE, or nothing under the pointer
            return None
        return self._client(self._top(focus))

    def _top(self, window: Any) -> Any:
        """The ancestor that is a child of the root: the window manager's frame, or the window itself."""
        root_id = self._conn().screen().root.id
        while True:
            parent = window.query_tree().parent
            if not parent or parent.id == root_id:
                return window
            window = parent

    def _client(self, top: Any) -> Any:
        """Inside a frame, the application's window (the one with WM_STATE); `top` when there is none."""
        return top if self._has_wm_state(top) else (self._find_client(top, depth=2) or top)

    def _find_client(self, window: Any, depth: int) -> Any:
        for child in window.query_tree().children:
            if self._has_wm_state(child):
                return child
            found = self._find_client(child, depth - 1) if depth > 1 else None
            if found is not None:
                return found
        return None

    def _has_wm_state(self, window: Any) -> bool:
        return window.get_full_property(self._atom("WM_STATE"), 0) is not None

    # -- properties --------------------------------------------------------------------------------------

    def _info(self, client: Any, frame: Any = None) -> WindowInfo:
        wm_class = client.get_wm_class() or ("", "")
        pid = self._pid(client)
        app = (process_name(pid) if pid else None) or wm_class[0] or wm_class[1]
        geometry = self._geometry(frame or self._top(client))
        return WindowInfo(app=app, title=self._title(client), geometry=geometry, pid=pid, wm_class=wm_class[1])

    def _title(self, window: Any) -> str:
        prop = window.get_full_property(self._atom("_NET_WM_NAME"), self._atom("UTF8_STRING"))
        if prop is not None and prop.value:
            value = prop.value
            return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
        name = window.get_wm_name()
        return name.decode("latin-1") if isinstance(name, bytes) else (name or "")

    def _pid(self, window: Any) -> int | None:
        pids = self._window_ids(window, "_NET_WM_PID")
        if not pids:
            return None
        # A pid from another machine (a remote X client) would name an unrelated local process.
        machine = window.get_full_text_property(self._atom("WM_CLIENT_MACHINE"))
        return int(pids[0]) if machine in (None, "", self._hostname) else None

    def _geometry(self, frame: Any) -> tuple[int, int, int, int]:
        geometry = frame.get_geometry()
        origin = self._conn().screen().root.translate_coords(frame, 0, 0)
        border = geometry.border_width
        return (origin.x - border, origin.y - border, geometry.width + 2 * border, geometry.height + 2 * border)

    def _minimized(self, window: Any) -> bool:
        return self._atom("_NET_WM_STATE_HIDDEN") in (self._window_ids(window, "_NET_WM_STATE") or [])

    def _window_ids(self, window: Any, name: str) -> list[int] | None:
        """A 32-bit list property (windows, cardinals, atoms); None when the property is absent."""
        prop = window.get_full_property(self._atom(name), 0)  # 0: AnyPropertyType
        return None if prop is None or prop.format != 32 else [int(v) for v in prop.value]

    # -- idle and lock -------------------------------------------------------------------------------------

    def _saver_info(self) -> Any:
        d = self._conn()
        if not d.has_extension("MIT-SCREEN-SAVER"):
            return None
        return d.screen().root.screensaver_query_info()

    def _mapped_window_names(self) -> set[str]:
        """The classes and titles of every mapped top-level (lockers use override-redirect windows)."""
        from Xlib import X
        from Xlib.error import XError

        names: set[str] = set()
        for window in self._conn().screen().root.query_tree().children:
            try:
                if window.get_attributes().map_state != X.IsViewable:
                    continue
                names |= {n.lower() for n in (window.get_wm_class() or ())} | {self._title(window).lower()}
            except XError:
                continue
        return names

    def _xscreensaver_locked(self) -> bool:
        """xscreensaver's root property: LOCK when locked, BLANK when only blanking. Without it, locked
        (the safe guess: the passphrase is asked once more, nothing stays open)."""
        d = self._conn()
        status = d.screen().root.get_full_property(self._atom("_SCREENSAVER_STATUS"), 0)
        if status is None or not len(status.value) or not int(status.value[0]):
            return True
        return bool(d.get_atom_name(int(status.value[0])) != "BLANK")

    def _logind_locked(self) -> bool | None:
        checked, value = self._logind
        if time.monotonic() - checked < LOGIND_CACHE_SECONDS:
            return value
        session, loginctl = os.environ.get("XDG_SESSION_ID"), shutil.which("loginctl")
        value = None
        if session and loginctl:
            try:
                done = subprocess.run([loginctl, "show-session", session, "-p", "LockedHint", "--value"],
                                      capture_output=True, text=True, timeout=2)
                value = done.stdout.strip() == "yes" if done.returncode == 0 else None
            except (OSError, subprocess.TimeoutExpired):
                value = None
        self._logind = (time.monotonic(), value)
        return value

    # -- connection ----------------------------------------------------------------------------------------

    def _conn(self) -> Any:
        if self._display is None:
            from Xlib import display

            self._display = display.Display(self._name)
            self._atoms = {name: self._display.intern_atom(name) for name in _ATOMS}
        return self._display

    def _atom(self, name: str) -> int:
        self._conn()
        return self._atoms[name]
