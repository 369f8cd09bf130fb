"""Deciding, per grab, whether a frame is kept, skipped as a near-duplicate, or not taken at all.

Order of the decision (`FrameFilter.decide`):
1. The focused window is excluded (a password manager, a private browser window, Engram itself, a
   title keyword): EXCLUDED, no image at all.
2. Excluded windows that are merely visible are blacked out by their geometry (frame included) in a
   copy of the grab; everything after this step sees only the blacked-out image.
3. Near-duplicate test against the last *kept* frame of the same monitor on a 64x36 grayscale
   thumbnail: the summed absolute difference, scaled to "pixel-equivalents" (how many pixels would
   have to flip from black to white to change the screen that much). Below `CHANGE_THRESHOLD` the
   grab is SKIP_DUPLICATE; comparing with the last kept frame (not the last grab) lets slow changes
   add up until they count.
   One exception: a change that is small but not noise (at least `SETTLE_THRESHOLD`, above caret
   blinks) and still there `SETTLE_SECONDS` after the last kept frame is kept then, so a one-digit
   edit that nothing follows is not lost.
   A moving picture (a video, an animation) is judged apart: see "Moving pictures" below.
4. KEEP, with the bounding box of the changed thumbnail cells and, finer, the separate groups of
   changed cells (a typed word and the clock tick in the corner are two small regions, not one box
   spanning the screen), so OCR reads only what changed.

Moving pictures: a video playing changes the screen at every tick; keeping each of those frames cost a
second of CPU a tick (encoding and reading the changed picture) and 27 MB an hour for a 720p video in a
window (bench/capture_bench.py, `video`). Cells that changed a lot between each of the last two grabs
and hold a picture (`looks_like_a_picture`: not text or an interface, which a scrolled or typed-into
page is) are looked at again a moment later (`MOTION_GAP_S`, a second grab). What changed again
there is moving: only the change outside it decides, and a frame of the moving picture itself is kept
once per `MOVING_PICTURE_SECONDS`. A new page or window is still a moment later, and photographs
scrolling by have moved up or down (`find_scroll`), so the second grab tells both from a video; when
the video stops, the next grab's change is judged whole again.

Clocks and counters: a seconds clock, a download's percentage, a progress bar creeping along, a spinner
change a small region at every grab. A big clock kept 12 frames a minute of an otherwise still screen,
and each one's text was read and embedded again (bench/capture_bench.py, `clock`). Cells that changed
at most of the last grabs (`TICKING_CHANGES` of `TICKING_GRABS`), in groups no larger than a line of a
few words (`TICKING_MAX_ROWS` x `TICKING_MAX_COLS` cells), are ticking: with a cell around them (the tens
digit next to the seconds) they do not count towards keeping a frame, and their change counts once per
`TICKING_SECONDS`, so a still screen with a clock is kept once a minute and the timeline shows the
clock a minute apart. Any frame kept for another reason shows the clock as it was then (its changed
regions include the clock's cells). Typing moves on from cell to cell, and a page scrolling or `top`
changes far more than a line: neither is ticking.

Why not a hash (bench/dedup_bench.py, 247 labelled pairs of consecutive ScreenAgent screenshots): 64-
and 256-bit difference hashes and a 64-bit perceptual hash stay at 0-2 bits for most real changes (a
typed word, a calculator result, a dialog filling in): an 8x8 summary of the screen cannot see a change
of a few hundred pixels. The thumbnail difference sees it: clock ticks stay under 20 pixel-equivalents,
caret blinks under 50, pointer moves (when the pointer is in the grab, which mss leaves out by default)
under 128 but one with a hover highlight; 146 of 148 real changes score 129 or more. The two missed (a
one-digit edit, two counters ticking) are not lost for good: the comparison is with the last kept
frame, so the next changes add to them.
"""
from __future__ import annotations

import enum
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
from PIL import Image, ImageChops

from storage.frame_pictures import looks_drawn, looks_like_a_picture

from app.capture.screen import Box, Monitor
from app.capture.scroll import find_scroll
from app.capture.windows import WindowInfo

THUMB = (64, 36)  # 30x30-pixel cells on a 1920x1080 monitor
# Pixel-equivalents. On the ScreenAgent pairs pointer moves reach 127 and all but two real changes score
# 129 or more (bench/dedup_bench.py): the boundary is thin, which is why the reference is the last kept frame.
CHANGE_THRESHOLD = 128.0
# Caret blinks stay under 50 pixel-equivalents and clock ticks under 20; a typed character is 50-110.
SETTLE_THRESHOLD = 60.0
SETTLE_SECONDS = 60.0
# A cell counts as changed for the OCR regions when its rounded mean gray moved at all: at 2 gray levels,
# changed pixels fell outside every region in 59 of 164 kept ScreenAgent pairs; at 0.5 in 6 (a few pixels each).
CELL_THRESHOLD = 0.5
# On a screen that is not drawn (JPEG noise in the ScreenAgent replays reaches ~20 in smooth areas), a
# pixel counts as changed for a patch above this difference in a colour channel; on a drawn one, any.
NOISY_THRESHOLD = 24
# Moving pictures (see above): a cell changed between two grabs when its mean gray moved by more than
# this many levels (a picture moving for 3 s moves most cells by tens), and a moment later when the mean
# difference of its pixels did.
MOTION_LEVELS = 2.0
MOTION_GAP_S = 0.1    # the second grab: later than one frame of 10 fps video, too soon for a person
MOVING_PICTURE_SECONDS = 60.0
# Clocks and counters (see above): cells that changed at 6 or more of the last 8 grabs. A clock's seconds
# digit changes at nearly every 3 s grab, for good (a "1" after a "7" can leave a cell's upper half
# alone); typing one character a tick changes a 30-pixel cell four times with a 16 px font, then moves on.
TICKING_CHANGES, TICKING_GRABS = 6, 8
TICKING_MAX_ROWS = 3    # cells of the 64x36 thumbnail, with the columns: 360x90 pixels on 1920x1080
TICKING_MAX_COLS = 12
TICKING_SECONDS = 60.0
TICKING = "clock or counter"  # the reason of a skip only this rule decided
_BITS_SET = np.array([bin(i).count("1") for i in range(256)], dtype=np.int8)
_ROW_GAP = 8  # unchanged rows between two runs of changed rows that are boxed apart
DEFAULT_EXCLUDED_APPS = frozenset({"keepassxc", "keepass", "keepass2", "1password", "bitwarden", "enpass",
                                   "seahorse", "kwalletmanager5"})

Thumbnail = npt.NDArray[np.float32]


class Decision(enum.Enum):
    KEEP = "keep"
    SKIP_DUPLICATE = "skip_duplicate"
    EXCLUDED = "excluded"


@dataclass(frozen=True)
class CaptureRules:
    """What must never be stored. App names and title keywords match case-insensitively."""

    excluded_apps: frozenset[str] = DEFAULT_EXCLUDED_APPS
    excluded_title_keywords: tuple[str, ...] = ()
    own_name: str = "Engram"

    def exclusion(self, window: WindowInfo) -> str | None:
        """Which rule excludes the window, or None. Names the rule only: the title stays out of logs."""
        names = {window.app.lower(), window.wm_class.lower()} - {""}
        if window.is_private:
            return "private window"
        if names & {app.lower() for app in self.excluded_apps}:
            return "excluded app"
        own = self.own_name.lower()
        if any(name.startswith(own) for name in names) or window.title.lower().startswith(own):
            return "Engram window"
        title = window.title.lower()
        if any(keyword.lower() in title for keyword in self.excluded_title_keywords if keyword.strip()):
            return "title keyword"
        return None


@dataclass(frozen=True)
class FilterResult:
    decision: Decision
    image: Image.Image | None = None  # the image to store (exclusions blacked out); only when KEEP
    changed: Box | None = None  # in image pixels, vs the previous kept frame (all of it for the first)
    regions: tuple[Box, ...] = ()  # the separate changed areas inside `changed`
    change_area: float = 0.0  # pixel-equivalents of change vs the last kept frame
    hidden: int = 0  # visible excluded windows blacked out
    reason: str = ""  # the rule that excluded the frame, or "moving picture" / TICKING for a skip only it decided


@dataclass
class FrameFilter:
    """Stateful per monitor: remembers the last kept thumbnail of each. Not thread-safe; one capture loop owns it."""

    rules: CaptureRules = field(default_factory=CaptureRules)
    threshold: float = CHANGE_THRESHOLD
    cell_threshold: float = CELL_THRESHOLD
    settle_threshold: float = SETTLE_THRESHOLD
    settle_seconds: float = SETTLE_SECONDS
    moving_seconds: float = MOVING_PICTURE_SECONDS  # 0: every frame of a moving picture counts
    ticking_seconds: float = TICKING_SECONDS  # 0: every tick of a clock or counter counts
    clock: Callable[[], float] = time.monotonic
    _last: dict[int, tuple[tuple[int, int], Thumbnail]] = field(default_factory=dict, init=False, repr=False)
    _kept_at: dict[int, float] = field(default_factory=dict, init=False, repr=False)
    _grabbed: dict[int, tuple[tuple[int, int], Thumbnail]] = field(default_factory=dict, init=False, repr=False)
    _runs: dict[int, npt.NDArray[np.int8]] = field(default_factory=dict, init=False, repr=False)
    _pictures: dict[int, npt.NDArray[np.bool_]] = field(default_factory=dict, init=False, repr=False)
    _ticks: dict[int, npt.NDArray[np.uint8]] = field(default_factory=dict, init=False, repr=False)
    _ticking: dict[int, npt.NDArray[np.bool_]] = field(default_factory=dict, init=False, repr=False)

    def decide(self, monitor: Monitor, image: Image.Image, focused: WindowInfo | None = None,
               visible: Sequence[WindowInfo] = (),
               again: Callable[[], Image.Image] | None = None) -> FilterResult:
        """`again` grabs the monitor a moment later (`MOTION_GAP_S`); without it nothing counts as moving."""
        if focused is not None and (why := self.rules.exclusion(focused)):
            return FilterResult(Decision.EXCLUDED, reason=why)
        hide = [w.geometry for w in visible if self.rules.exclusion(w)]
        image, hidden = black_out(image, monitor, hide)
        thumb = gray_thumbnail(image)
        self._count_ticks(monitor.index, image.size, thumb)  # before `_moving` takes this grab as the last
        moving = self._moving(monitor, image, thumb, lambda: black_out(again(), monitor, hide)[0] if again else None)
        last = self._last.get(monitor.index)
        now = self.clock()
        if last is None or last[0] != image.size:
            self._last[monitor.index] = (image.size, thumb)
            self._kept_at[monitor.index] = now
            self._ticking.pop(monitor.index, None)
            whole = (0, 0, *image.size)
            return FilterResult(Decision.KEEP, image, whole, (whole,), float(image.width * image.height), hidden)
        diff = np.abs(thumb - last[1])
        area = change_area(diff, image.size)
        since_kept = now - self._kept_at.get(monitor.index, now)
        ticking, ticking_now = self._ticking_cells(monitor.index, thumb.shape)
        ignored, reason = np.zeros(diff.shape, dtype=bool), ""
        if ticking.any() and since_kept < self.ticking_seconds:
            ignored, reason = ticking, TICKING
        if moving is not None and since_kept < self.moving_seconds:
            ignored, reason = ignored | moving, "moving picture"
        judged = change_area(np.where(ignored, 0, diff), image.size) if ignored.any() else area
        settled = judged >= self.settle_threshold and since_kept >= self.settle_seconds
        if judged < self.threshold and not settled:
            self._ticking[monitor.index] = ticking
            return FilterResult(Decision.SKIP_DUPLICATE, change_area=area, hidden=hidden,
                                reason=reason if area >= self.threshold else "")
        self._last[monitor.index] = (image.size, thumb)
        self._kept_at[monitor.index] = now
        self._ticking[monitor.index] = ticking_now  # what ticked before this frame is in it
        cells = diff > self.cell_threshold
        return FilterResult(Decision.KEEP, image, changed_box(cells, image.size), changed_regions(cells, image.size),
                            area, hidden)

    def forget(self, monitor_index: int | None = None) -> None:
        """Drop the reference frame(s), so the next grab is kept (after a pause, unlock, monitor change)."""
        for state in (self._last, self._grabbed, self._runs, self._pictures, self._ticks, self._ticking):
            if monitor_index is None:
                state.clear()
            else:
                state.pop(monitor_index, None)

    def _moving(self, monitor: Monitor, image: Image.Image, thumb: Thumbnail,
                again: Callable[[], Image.Image | None]) -> npt.NDArray[np.bool_] | None:
        """The thumbnail cells moving pictures cover, or None. Counts, per cell, the grabs in a row it
        changed in (up to two); only when cells that changed in the last two grabs changed enough to keep a frame for
        and hold a picture, grabs again, so a still screen, a clock, typing and scrolling text never pay
        for the second grab."""
        before = self._grabbed.get(monitor.index)
        self._grabbed[monitor.index] = (image.size, thumb)
        if before is None or before[0] != image.size:
            self._runs[monitor.index] = np.zeros(thumb.shape, dtype=np.int8)
            return None
        step = np.abs(thumb - before[1])
        runs = np.where(step > MOTION_LEVELS, np.minimum(self._runs[monitor.index] + 1, 2), 0).astype(np.int8)
        self._runs[monitor.index] = runs
        cells = runs == 2
        # Too little to keep a frame for even if it moves (a clock's seconds): not worth a second look.
        picture, box = False, (0, 0, *image.size)
        if change_area(np.where(cells, step, 0), image.size) >= self.threshold:
            rows, cols = np.nonzero(cells)  # just those cells: a margin would add the background around
            box = _cell_box(cells.shape, image.size, rows.min(), cols.min(), rows.max(), cols.max(), pad=0)
            picture = looks_like_a_picture(image.crop(_corners(box)))
        later = again() if picture and self.moving_seconds > 0 else None
        if later is not None and later.size == image.size:
            if find_scroll(later, image, box) is not None:
                later = None  # photographs scrolling by (a feed flicked through): a page, not a video
            else:
                # Per cell, the mean difference of its pixels (not of their means: a picture panning by
                # a few pixels keeps its cells' means).
                cells &= gray_thumbnail(ImageChops.difference(image, later)) > MOTION_LEVELS
        if later is None or later.size != image.size or not cells.any():
            self._pictures.pop(monitor.index, None)
            return None
        # Covered whole, a cell beyond each edge: in smooth parts of a picture (sky, a dark scene) some
        # cells hardly change from one grab to the next, and edge cells are only partly the picture. The
        # cover grows while the picture keeps moving (a window dragged, a second picture starting).
        cover = self._pictures.get(monitor.index, np.zeros(cells.shape, dtype=bool)).copy()
        for r0, c0, r1, c1 in _cell_groups(cells):
            cover[max(0, r0 - 1):r1 + 2, max(0, c0 - 1):c1 + 2] = True
        self._pictures[monitor.index] = cover
        return cover

    def _count_ticks(self, monitor_index: int, size: tuple[int, int], thumb: Thumbnail) -> None:
        """Per cell, which of the last `TICKING_GRABS` grabs it changed in at all, one bit each (a
        seconds digit replaced by a similar one, "3" by "8", moves its cell's mean by less than
        `MOTION_LEVELS`)."""
        before = self._grabbed.get(monitor_index)
        ticks = self._ticks.get(monitor_index)
        if before is None or before[0] != size or ticks is None:
            self._ticks[monitor_index] = np.zeros(thumb.shape, dtype=np.uint8)
            return
        changed = np.abs(thumb - before[1]) > self.cell_threshold
        self._ticks[monitor_index] = ((ticks << 1) | changed) & ((1 << TICKING_GRABS) - 1)

    def _ticking_cells(self, monitor_index: int, shape: tuple[int, ...]
                       ) -> tuple[npt.NDArray[np.bool_], npt.NDArray[np.bool_]]:
        """The cells clocks and counters covered since the last kept frame, and those they cover now:
        small groups of cells that changed at `TICKING_CHANGES` of the last `TICKING_GRABS` grabs, a
        cell around each. Since the last kept frame, because a progress bar's edge moves on and the cells
        it left behind differ from the kept frame too."""
        cover = np.zeros(shape, dtype=bool)
        ticks = self._ticks.get(monitor_index)
        if ticks is not None and ticks.shape == shape:
            for r0, c0, r1, c1 in _cell_groups(_BITS_SET[ticks] >= TICKING_CHANGES):
                if r1 - r0 < TICKING_MAX_ROWS and c1 - c0 < TICKING_MAX_COLS:
                    cover[max(0, r0 - 1):r1 + 2, max(0, c0 - 1):c1 + 2] = True
        before = self._ticking.get(monitor_index)
        return (cover | before if before is not None and before.shape == shape else cover), cover


def black_out(image: Image.Image, monitor: Monitor, geometries: Sequence[Box]) -> tuple[Image.Image, int]:
    """A copy of `image` with each geometry (virtual-desktop coordinates) painted black where it overlaps
    the monitor, and how many did; `image` itself when none does. Edges round outwards."""
    sx, sy = image.width / monitor.width, image.height / monitor.height  # HiDPI: points to pixels
    boxes = []
    for x, y, w, h in geometries:
        x0 = max(0, math.floor((x - monitor.left) * sx))
        y0 = max(0, math.floor((y - monitor.top) * sy))
        x1 = min(image.width, math.ceil((x + w - monitor.left) * sx))
        y1 = min(image.height, math.ceil((y + h - monitor.top) * sy))
        if x1 > x0 and y1 > y0:
            boxes.append((x0, y0, x1, y1))
    if not boxes:
        return image, 0
    out = image.copy()
    for box in boxes:
        out.paste((0, 0, 0), box)
    return out, len(boxes)


def gray_thumbnail(image: Image.Image, size: tuple[int, int] = THUMB) -> Thumbnail:
    """Area-averaged grayscale thumbnail. An integer `reduce` first: box-filtering the full RGB frame
    directly costs about twice as much on 1080p."""
    factor = max(1, min(image.width // (size[0] * 4), image.height // (size[1] * 4)))
    small = image.reduce(factor) if factor > 1 else image
    return np.asarray(small.convert("L").resize(size, Image.Resampling.BOX), dtype=np.float32)


def change_area(diff: Thumbnail, image_size: tuple[int, int]) -> float:
    """Summed per-cell change in pixel-equivalents: independent of the thumbnail and screen size, so a
    caret or a pointer (a fixed number of pixels) weighs the same on any monitor."""
    cell_pixels = image_size[0] * image_size[1] / diff.size
    return float(diff.sum()) * cell_pixels / 255.0


def changed_box(cells: npt.NDArray[np.bool_], image_size: tuple[int, int]) -> Box:
    """Bounding box (x, y, w, h) in image pixels of the changed cells, padded by one cell: a glyph that
    straddles a cell edge may move the neighbour cell too little to count, and OCR must not cut it."""
    rows, cols = np.nonzero(cells)
    if rows.size == 0:  # a diffuse change (brightness, a fade): no cell stands out
        return (0, 0, *image_size)
    return _cell_box(cells.shape, image_size, rows.min(), cols.min(), rows.max(), cols.max())


def changed_regions(cells: npt.NDArray[np.bool_], image_size: tuple[int, int]) -> tuple[Box, ...]:
    """One padded box per group of changed cells (cells one cell apart count as touching), largest first."""
    groups = [_cell_box(cells.shape, image_size, *group) for group in _cell_groups(cells)]
    return tuple(sorted(groups, key=lambda box: -box[2] * box[3])) or ((0, 0, *image_size),)


def _cell_groups(cells: npt.NDArray[np.bool_]) -> list[tuple[int, int, int, int]]:
    """The first and last row and column of each group of changed cells (one cell apart is touching)."""
    pending = set(zip(*(a.tolist() for a in np.nonzero(cells))))
    groups = []
    while pending:
        stack = [pending.pop()]
        rows, cols = [stack[0][0]], [stack[0][1]]
        while stack:
            r, c = stack.pop()
            for near in [(r + dr, c + dc) for dr in (-2, -1, 0, 1, 2) for dc in (-2, -1, 0, 1, 2)]:
                if near in pending:
                    pending.remove(near)
                    stack.append(near)
                    rows.append(near[0])
                    cols.append(near[1])
        groups.append((min(rows), min(cols), max(rows), max(cols)))
    return groups


def exact_changes(image: Image.Image, reference: Image.Image | None, regions: Sequence[Box],
                  threshold: int | None = None, margin: int = 2) -> list[Box]:
    """The changed regions narrowed to the pixels that really differ from `reference` (the previous
    kept grab) by more than `threshold` in some colour channel (by default 0 on a drawn screen, so a
    chain of patches rebuilds it exactly, and `NOISY_THRESHOLD` on JPEG-like ones): per region, one box for each run of
    changed rows (runs more than `_ROW_GAP` rows apart are separate), plus `margin`. The regions come
    from 30-pixel thumbnail cells padded by a cell, so a typed word's region is ~90 pixels tall where
    the word is 20, and two edited lines far apart share one region. A region with no such pixel is
    dropped; without a reference, or when nothing is left, the regions are returned as they are."""
    if reference is None or reference.size != image.size:
        return list(regions)
    if threshold is None:
        threshold = 0 if looks_drawn(image) else NOISY_THRESHOLD
    shrunk = []
    for x, y, w, h in regions:
        now = np.asarray(image.crop((x, y, x + w, y + h)).convert("RGB"), dtype=np.int16)
        before = np.asarray(reference.crop((x, y, x + w, y + h)).convert("RGB"), dtype=np.int16)
        changed = (np.abs(now - before) > threshold).any(axis=2)
        rows = np.nonzero(changed.any(axis=1))[0]
        if not rows.size:
            continue
        breaks = np.nonzero(np.diff(rows) > _ROW_GAP)[0]
        for first, last in zip(np.r_[rows[0], rows[breaks + 1]], np.r_[rows[breaks], rows[-1]]):
            cols = np.nonzero(changed[first:last + 1].any(axis=0))[0]
            x0, y0 = max(0, x + int(cols[0]) - margin), max(0, y + int(first) - margin)
            x1 = min(image.width, x + int(cols[-1]) + 1 + margin)
            y1 = min(image.height, y + int(last) + 1 + margin)
            shrunk.append((x0, y0, x1 - x0, y1 - y0))
    return shrunk or list(regions)


def _cell_box(shape: tuple[int, ...], image_size: tuple[int, int], r0: int, c0: int, r1: int, c1: int,
              pad: int = 1) -> Box:
    th, tw = shape
    width, height = image_size
    x0 = math.floor(max(0, c0 - pad) * width / tw)
    y0 = math.floor(max(0, r0 - pad) * height / th)
    x1 = math.ceil(min(tw, c1 + 1 + pad) * width / tw)
    y1 = math.ceil(min(th, r1 + 1 + pad) * height / th)
    return (x0, y0, x1 - x0, y1 - y0)


def _corners(box: Box) -> tuple[int, int, int, int]:
    x, y, w, h = box
    return (x, y, x + w, y + h)


def dhash(image: Image.Image, size: int = 8) -> npt.NDArray[np.bool_]:
    """Difference hash: size x size bits, "is this pixel brighter than its left neighbour" on a
    (size+1) x size grayscale reduction. Kept for comparison (bench/dedup_bench.py); not used to decide."""
    gray = gray_thumbnail(image, (size + 1, size))
    return (gray[:, 1:] > gray[:, :-1]).ravel()


def hamming(a: npt.NDArray[np.bool_], b: npt.NDArray[np.bool_]) -> int:
    return int(np.count_nonzero(a != b))
