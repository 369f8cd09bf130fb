"""The capture tick: grab every monitor, decide, store what is worth keeping.

A tick must stay cheap, because it runs every few seconds all day: an
unchanged screen costs a grab, a window query and a thumbnail comparison.
Reading the text (OCR) happens later on the OCR worker; a kept frame is
stored at once with its text pending, so nothing is lost if Engram stops.
"""
from __future__ import annotations

import logging
import math
import shutil
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import partial
from typing import Any

from storage.frame_pictures import (CHAIN_BYTES, GROUP_SPAN, MAX_CHAIN, Rect, apply_moves, bounding_box, merge_rects,
                                    patchable)
from storage.memory import Memory, Trust

from app.capture import pause
from app.capture.encode import encode_frame, stored_size
from app.capture.frame_filter import MOTION_GAP_S, Decision, FrameFilter, exact_changes
from app.capture.quiet_hours import QuietRange, is_quiet
from app.capture.screen import ScreenSource
from app.capture.scroll import find_scroll
from app.capture.windows import NullWindows, WindowProvider

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CaptureSettings:
    idle_after_seconds: float = 300.0     # no input for this long: the user is away, capture nothing
    min_free_disk_mb: int = 1024
    image_scale: float = 1.0
    webp_quality: int = 60
    allow_without_window_info: bool = False
    monitors: tuple[int, ...] = ()        # 1-based monitor numbers to capture; empty = all
    quiet_hours: tuple[QuietRange, ...] = ()


@dataclass
class _Chain:
    """The frames of one monitor stored as patches, each over the one before, since a whole key frame."""

    last_id: str          # the frame the next patch is stored over
    started: datetime
    key_bytes: int        # size of the key frame's picture, the budget of the chain's patches
    patch_bytes: int = 0
    frames: int = 0


class Recorder:
    """Owns the per-monitor reference frames; call `tick()` from one thread only."""

    def __init__(self, store: Any, screen: ScreenSource, windows: WindowProvider,
                 frame_filter: FrameFilter | None = None, settings: CaptureSettings | None = None) -> None:
        self.store = store
        self.screen = screen
        self.windows = windows
        self.filter = frame_filter or FrameFilter()
        self.settings = settings or CaptureSettings()
        self.counts: Counter[str] = Counter()
        self._last_frame: dict[int, str] = {}
        self._chains: dict[int, _Chain] = {}
        self._reference: dict[int, Any] = {}  # the last kept grab per monitor, for exact patch boxes
        self.stopped_reason: str | None = None  # set when capture cannot go on (the tray shows it)
        self.last_kept: datetime | None = None   # when a screen was last kept (the tray shows it)

    def tick(self, now: datetime | None = None) -> str:
        """One capture round; returns what happened ('kept', 'duplicate', 'excluded', 'paused', ...)."""
        now = now or datetime.now(timezone.utc)
        why_not = self._why_not_capture(now)
        if why_not:
            self.counts[why_not] += 1
            self.filter.forget()  # after a break, the first grab is kept whatever it shows
            self._last_frame.clear()
            self._chains.clear()
            self._reference.clear()
            return why_not
        focused = self.windows.focused()
        visible = self.windows.visible()
        outcome = "duplicate"
        for monitor in self.screen.monitors():
            if self.settings.monitors and monitor.index + 1 not in self.settings.monitors:
                continue
            result = self.filter.decide(monitor, self.screen.grab(monitor), focused, visible,
                                        again=partial(self.screen.grab_later, monitor, MOTION_GAP_S))
            if result.decision is Decision.EXCLUDED:
                outcome = "excluded"
                break
            if result.decision is Decision.KEEP and result.image is not None:
                self._store_frame(monitor.index, result.image, result.regions or (result.changed,), focused, now,
                                  _window_boxes(visible, monitor.box))
                outcome, self.last_kept = "kept", now
        self.counts[outcome] += 1
        return outcome

    def close(self) -> None:
        """Release the X connection and screen grabber (both hold sockets)."""
        for part in (self.screen, self.windows):
            closer = getattr(part, "close", None)
            if closer is not None:
                closer()

    def quiet(self, now: datetime | None = None) -> bool:
        """Inside one of the user's quiet hours (local time)."""
        return is_quiet(self.settings.quiet_hours, (now or datetime.now(timezone.utc)).astimezone())

    def _why_not_capture(self, now: datetime) -> str | None:
        if pause.paused_until(now) is not None:
            return "paused"
        if self.quiet(now):
            return "quiet hours"
        if isinstance(self.windows, NullWindows) and not self.settings.allow_without_window_info:
            # Without window information no exclusion can be enforced: a private window or a
            # password manager would be recorded. Privacy first: don't capture.
            self.stopped_reason = ("no window information here (Wayland, or no X display), so exclusions "
                                   "cannot be enforced; capture is off (capture.allow_without_window_info)")
            return "no window info"
        if self.windows.screen_locked():
            return "locked"
        idle = self.windows.idle_seconds()
        if idle is not None and idle >= self.settings.idle_after_seconds:
            return "idle"
        free_mb = shutil.disk_usage(self.store.root).free / 1e6
        if free_mb < self.settings.min_free_disk_mb:
            if self.stopped_reason is None:
                log.warning("capture stopped: %.0f MB free, below the %d MB floor", free_mb,
                            self.settings.min_free_disk_mb)
            self.stopped_reason = f"disk almost full ({free_mb:.0f} MB free)"
            return "low disk"
        self.stopped_reason = None
        return None

    def _store_frame(self, monitor: int, image: Any, regions: Any, focused: Any, now: datetime,
                     windows: tuple[Rect, ...] = ()) -> None:
        size = stored_size(image.size, self.settings.image_scale)
        scale = size[0] / image.width
        regions = [tuple(box) for box in regions if box]
        changed = [[round(v * scale) for v in box] for box in regions]
        chain = self._chains.get(monitor)
        reference, moves = self._reference.get(monitor), []
        if chain is not None and reference is not None and scale == 1.0 and regions:
            # A scroll: compare with the frame before as scrolled, so only what scrolled in is stored.
            moved_box = bounding_box(regions)
            move = find_scroll(image, reference, moved_box)
            if move is not None:
                reference, moves = reference.copy(), [move]
                apply_moves(reference, moves)
                # Moving rows also moves columns that had not changed: look at the whole box again.
                regions = [moved_box]
        exact = [_scaled(box, scale, size) for box in exact_changes(image, reference, regions)]
        patches = self._patches(chain, exact, size, now)
        encode = partial(encode_frame, image, scale=self.settings.image_scale, quality=self.settings.webp_quality)
        encoded = encode(patches=patches)
        if chain is not None and patches and chain.patch_bytes + len(encoded.image) > CHAIN_BYTES * chain.key_bytes:
            chain, patches = None, []
            encoded = encode()  # the chain has cost as much as its key frame: start a new one
        fields: dict[str, Any] = {
            "monitor": monitor,
            "image_id": self.store.blobs.put(encoded.image),
            "thumb_id": self.store.blobs.put(encoded.thumbnail),
            # For the OCR worker: read only what changed since the previous frame of this monitor.
            "changed": changed,
            "previous": self._last_frame.get(monitor),
        }
        if windows:  # where each window was, bottom to top: the OCR worker reads the text window by window
            fields["windows"] = [list(_scaled(box, scale, size)) for box in windows]
        if chain is not None and patches:
            fields.update(key=chain.last_id, patches=[list(r) for r in patches], size=list(size))
            if moves:
                fields["moves"] = [list(m) for m in moves]
        if focused is not None and focused.url:
            fields["url"] = focused.url
        frame = Memory("frame", "", fields, time=now, app=focused.app if focused else "",
                       title=focused.title if focused else "", trust=Trust.OBSERVED, source_kind="screen",
                       text_pending=True)
        self.store.add([frame])
        self._last_frame[monitor] = frame.id
        self._reference[monitor] = image
        if chain is not None and patches:
            chain.last_id, chain.frames = frame.id, chain.frames + 1
            chain.patch_bytes += len(encoded.image)
        else:
            self._chains[monitor] = _Chain(frame.id, now, len(encoded.image))

    def _patches(self, chain: _Chain | None, changed: list[Rect], size: tuple[int, int],
                 now: datetime) -> list[Rect]:
        """The rectangles to store instead of a whole picture, or [] for a whole one (a new key frame)."""
        if chain is None or chain.frames >= MAX_CHAIN or now - chain.started >= GROUP_SPAN or not changed:
            return []
        rects = merge_rects(changed)
        # The frame before may have been forgotten meanwhile: then this one must be whole.
        if not patchable(rects, size) or not self.store.existing([chain.last_id]):
            return []
        return rects


def _window_boxes(visible: list[Any], monitor: Rect) -> tuple[Rect, ...]:
    """The visible windows' boxes on this monitor, in its pixels, bottom to top (as stacked)."""
    mx, my, mw, mh = monitor
    boxes = []
    for window in visible:
        x, y, w, h = window.geometry
        x0, y0, x1, y1 = max(x, mx), max(y, my), min(x + w, mx + mw), min(y + h, my + mh)
        if x1 > x0 and y1 > y0:
            boxes.append((x0 - mx, y0 - my, x1 - x0, y1 - y0))
    return tuple(boxes)


def _scaled(box: Rect, scale: float, size: tuple[int, int]) -> Rect:
    """A box in grab pixels as a box in stored pixels, rounded outwards."""
    if scale == 1.0:
        return box
    x0, y0 = math.floor(box[0] * scale), math.floor(box[1] * scale)
    x1, y1 = min(size[0], math.ceil((box[0] + box[2]) * scale)), min(size[1], math.ceil((box[1] + box[3]) * scale))
    return (x0, y0, x1 - x0, y1 - y0)
