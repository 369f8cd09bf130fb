"""Where screen pixels come from: the real monitors (mss) or a replay of image files.

`ScreenSource` is the seam capture uses; tests and benchmarks pass a `ReplayScreen`. Images are always
RGB `PIL.Image`s in the monitor's own pixels (on a HiDPI Mac that can be twice the monitor's size in
points; `FrameFilter` scales window geometry accordingly).
"""
from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from PIL import Image

Box = tuple[int, int, int, int]  # x, y, w, h (as app/capture/ocr.py)


@dataclass(frozen=True)
class Monitor:
    """One physical monitor, placed on the virtual desktop (the coordinates window geometry uses)."""

    index: int  # position in ScreenSource.monitors(), from 0
    left: int
    top: int
    width: int
    height: int

    @property
    def box(self) -> Box:
        return (self.left, self.top, self.width, self.height)


class ScreenSource(Protocol):
    def monitors(self) -> list[Monitor]: ...

    def grab(self, monitor: Monitor) -> Image.Image:
        """The monitor's pixels now, as an RGB image."""
        ...

    def grab_later(self, monitor: Monitor, seconds: float) -> Image.Image:
        """The monitor's pixels `seconds` after the last grab (to tell a moving picture from a new screen)."""
        ...


class MssScreen:
    """The real screen through mss (X11, Windows, macOS; not Wayland without XWayland).

    An mss handle wraps a display connection / device context that must not be shared between threads,
    so each thread gets its own, created on its first use. The monitor list is read once per handle:
    call `close()` after a monitor change (hotplug) and the next call rebuilds it.
    """

    def __init__(self, *, with_cursor: bool = False) -> None:
        # Off by default: the pointer wandering over an unchanged screen would defeat de-duplication.
        self._with_cursor = with_cursor
        self._local = threading.local()
        self._lock = threading.Lock()
        self._handles: list[Any] = []

    def monitors(self) -> list[Monitor]:
        found = self._handle().monitors[1:]  # [0] is the bounding box of all of them
        return [Monitor(i, m["left"], m["top"], m["width"], m["height"]) for i, m in enumerate(found)]

    def grab(self, monitor: Monitor) -> Image.Image:
        region = {"left": monitor.left, "top": monitor.top, "width": monitor.width, "height": monitor.height}
        shot = self._handle().grab(region)
        return Image.frombuffer("RGB", shot.size, shot.raw, "raw", "BGRX", 0, 1)

    def grab_later(self, monitor: Monitor, seconds: float) -> Image.Image:
        time.sleep(seconds)
        return self.grab(monitor)

    def close(self) -> None:
        """Close every thread's handle. Only call it when no grab is in flight."""
        with self._lock:
            handles, self._handles = self._handles, []
        for handle in handles:
            handle.close()
        self._local = threading.local()

    def _handle(self) -> Any:
        handle = getattr(self._local, "handle", None)
        if handle is None:
            handle = _open_mss(self._with_cursor)
            self._local.handle = handle
            with self._lock:
                self._handles.append(handle)
        return handle


def _open_mss(with_cursor: bool) -> Any:
    import mss  # lazily: `engram --help` must not open a display connection

    factory = getattr(mss, "MSS", None)  # mss >= 10.2; mss.mss() is deprecated there
    if factory is None:
        factory = mss.mss
    return factory(with_cursor=True) if with_cursor else factory()


class ReplayScreen:
    """Replays images (files or PIL images) in order as one monitor, for tests and benchmarks.

    The monitor has the first image's size; `grab` raises `IndexError` after the last image. Each image
    stands still until the next grab (`grab_later` returns it again).
    """

    def __init__(self, images: Sequence[str | Path | Image.Image], *, left: int = 0, top: int = 0) -> None:
        if not images:
            raise ValueError("ReplayScreen needs at least one image")
        self._images = list(images)
        self._next = 0
        width, height = self._load(0).size
        self._monitor = Monitor(0, left, top, width, height)

    @property
    def remaining(self) -> int:
        return len(self._images) - self._next

    def monitors(self) -> list[Monitor]:
        return [self._monitor]

    def grab(self, monitor: Monitor) -> Image.Image:
        if self._next >= len(self._images):
            raise IndexError("replay finished")
        self._next += 1
        return self._load(self._next - 1)

    def grab_later(self, monitor: Monitor, seconds: float) -> Image.Image:
        return self._load(max(0, self._next - 1))

    def _load(self, i: int) -> Image.Image:
        item = self._images[i]
        if isinstance(item, Image.Image):
            return item.convert("RGB")
        with Image.open(item) as image:
            return image.convert("RGB")
