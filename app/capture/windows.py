"""What is on screen besides pixels: the focused window, the visible windows, idleness and the lock state.

`WindowProvider` is the seam; `app.capture.factory.window_provider()` picks the one for this platform: `X11Windows`
(python-xlib) when an X display is reachable, `Win32Windows` (ctypes) on Windows, `QuartzWindows` on
macOS, and `NullWindows` (knows nothing, never fails) otherwise, e.g. on Wayland, where no common
protocol tells a client which window is focused.

Everything a provider reports comes from other programs and is untrusted text; titles can hold
anything a web page puts in its <title>.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Protocol

Box = tuple[int, int, int, int]  # x, y, w, h on the virtual desktop (the coordinates mss monitors use)


BROWSERS = frozenset({
    "firefox", "firefox-esr", "firefox-bin", "librewolf", "waterfox", "floorp", "chrome", "google-chrome",
    "chromium", "chromium-browser", "brave", "brave-browser", "msedge", "microsoft-edge", "opera", "vivaldi",
    "vivaldi-bin", "safari", "epiphany", "qutebrowser", "falkon", "midori", "yandex_browser",
})
# Case-sensitive on purpose: these are the exact words the browsers append to a private window's title
# (Firefox "… — Mozilla Firefox Private Browsing", Chrome/Brave "… (Incognito)", Edge "[InPrivate]").
# A page that merely mentions them is also hidden: a false positive costs one frame, a miss leaks a
# private window.
PRIVATE_MARKERS = ("Private Browsing", "Incognito", "InPrivate")
BROWSER_PRIVATE = "(Private)"  # Brave and other Chromium forks that renamed "Incognito"; browsers only
SAFARI_PRIVATE = "Private"  # Safari's marker is too common a word to trust outside Safari
_URL = re.compile(r"\b(?:https?|ftp|file)://[^\s<>\"'`]+", re.IGNORECASE)
_URL_TAIL = ".,;:!?)]}>'\""


def url_in_title(title: str) -> str | None:
    """The first explicit URL in a title, else None.

    Browsers put the page title, not its address, into the window title; only some setups (an
    "URL in title" extension, qutebrowser's `{current_url}`) expose the address, always with a scheme.
    A bare host shown for an untitled page is not taken: its scheme is unknown.
    """
    found = _URL.search(title)
    return found.group(0).rstrip(_URL_TAIL) if found else None


def is_private_title(title: str, app: str = "") -> bool:
    if any(marker in title for marker in PRIVATE_MARKERS):
        return True
    app = app.lower()
    return (app in BROWSERS and BROWSER_PRIVATE in title) or (app == "safari" and SAFARI_PRIVATE in title)


@dataclass(frozen=True)
class WindowInfo:
    """One top-level window as the user sees it."""

    app: str        # process name ("firefox", "keepassxc"); on X11 the WM_CLASS instance when the pid is unknown
    title: str
    geometry: Box   # including the window manager's frame, so a hidden window's title bar is hidden too
    pid: int | None = None
    url: str | None = None  # taken from the title when not given
    wm_class: str = ""  # X11 WM_CLASS class ("KeePassXC"), empty elsewhere

    def __post_init__(self) -> None:
        if self.url is None:
            object.__setattr__(self, "url", url_in_title(self.title))

    @property
    def is_private(self) -> bool:
        return is_private_title(self.title, self.app)

    @property
    def is_browser(self) -> bool:
        return self.app.lower() in BROWSERS or self.wm_class.lower() in BROWSERS


class WindowProvider(Protocol):
    """Window metadata of the desktop. Implementations answer "unknown" (None, []) instead of raising."""

    def focused(self) -> WindowInfo | None:
        """The window with keyboard focus, or None when unknown or nothing is focused."""
        ...

    def visible(self) -> list[WindowInfo]:
        """Mapped top-level windows, in stacking order from bottom to top, geometry in desktop coordinates."""
        ...

    def idle_seconds(self) -> float | None:
        """Seconds since the last keyboard/pointer input, or None when the platform cannot tell."""
        ...

    def screen_locked(self) -> bool | None:
        """True when a lock screen (or screen saver) is up, None when the platform cannot tell."""
        ...


class NullWindows:
    """Knows nothing: no focus, no windows, idleness and lock state unknown."""

    def focused(self) -> WindowInfo | None:
        return None

    def visible(self) -> list[WindowInfo]:
        return []

    def idle_seconds(self) -> float | None:
        return None

    def screen_locked(self) -> bool | None:
        return None


class ReplayWindows:
    """Someone at the keyboard looking at `current` (or at no known window), nothing locked: the window
    side of a replayed screen (tests, benchmarks, the demo screens)."""

    def __init__(self, current: WindowInfo | None = None) -> None:
        self.current = current

    def focused(self) -> WindowInfo | None:
        return self.current

    def visible(self) -> list[WindowInfo]:
        return [self.current] if self.current else []

    def idle_seconds(self) -> float:
        return 0.0

    def screen_locked(self) -> bool:
        return False


def process_name(pid: int) -> str | None:
    """The short process name of a local pid (Linux /proc), None if it is gone or unreadable."""
    try:
        with open(f"/proc/{pid}/comm", encoding="utf-8", errors="replace") as f:
            return f.read().strip() or None
    except OSError:
        return None
