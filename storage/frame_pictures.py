"""A frame's picture on disk: a whole screenshot (a key frame), or patches over the frame before it.

Most kept frames differ from the one before in a few places (a typed line, a new chat message, a
clock). Such a frame stores only the rectangles that changed since the previous kept frame of its
monitor, packed one under another into one small WebP, and names that frame as its base (the field
is called `key`: it predates chains, when the base was always a whole key frame, and stored frames
keep it). Its picture is the base's picture with the rectangles pasted back, so a chain of patches
leads back to one whole picture.

A chain ends (the next frame is whole) when a change covers half the screen, when its patches
together weigh one and a half times its key frame (`CHAIN_BYTES`: decoding any frame then costs at
most about two and a half whole pictures), after `MAX_CHAIN` frames (the patches pasted when a frame
is opened out of order) or `GROUP_SPAN` after its key frame (so the frames that depend on one lie
shortly after it).
A chain's links come from one query, and `RenderedPictures` keeps pictures built (every eighth along
a chain too), so reading frames in either direction (the OCR worker, scrubbing the timeline) pastes a
few patches per frame. Before chains, each patch covered everything changed since the key frame: on
steady typing (bench/capture_bench.py) every frame re-stored the band typed since, and groups had
to stop at 12 frames.

Deleting a frame must not break the frames stored over it: `rebase` stores each such frame over the
nearest frame that stays (with the rectangles of the frames in between), or makes it whole (the store
does this on every delete, and before pictures are dropped), so forgetting a screen removes its
pixels for good while later screens keep what they showed.
"""
from __future__ import annotations

import io
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from PIL import Image

from storage.blobs import TamperedBlob

Rect = tuple[int, int, int, int]  # x, y, w, h in the stored picture's pixels
Move = tuple[int, int, int, int, int]  # x, y, w, h of rows in the frame before, and how far down they moved

MAX_CHAIN = 60
# A chain's patches may weigh this many times its key frame. Reading (a page scrolled by every tick)
# spends most of its bytes on key frames: 1.5 instead of 1.0 stores 1.6 kB a frame less (9.7 -> 8.1,
# bench/capture_bench.py) for up to half more to decode at worst; the timeline switch (bench/ui_bench.py)
# stayed within run-to-run noise.
CHAIN_BYTES = 1.5
GROUP_SPAN = timedelta(minutes=10)
MAX_PATCH_SHARE = 0.5      # above this share of the screen, a whole picture is as small
_RENDERED_BYTES = 32 << 20  # pictures kept built: five 1080p screens
_CHECKPOINT = 8            # while building along a chain, keep every this many links' picture
_LINKS = 20_000
_MAX_PACKED_HEIGHT = 16_000  # WebP's limit is 16,383 pixels a side
WHOLE_QUALITY = 60
# Drawn screens (text, interfaces) showed at most ~1,100 colours in a quarter-size copy, the ScreenAgent
# JPEG screens at least 2,900: between them, the line where lossless WebP stops being worth a try.
_DRAWN_COLOURS = 2048


class PictureMissing(Exception):
    """The frame has no picture (text only), or a file it needs is gone."""


def pack(image: Image.Image, rects: Sequence[Rect]) -> Image.Image:
    """The rectangles of `image`, one under another, left-aligned (see `paste_patches`)."""
    canvas = Image.new("RGB", (max(r[2] for r in rects), sum(r[3] for r in rects)))
    top = 0
    for x, y, w, h in rects:
        canvas.paste(image.crop((x, y, x + w, y + h)), (0, top))
        top += h
    return canvas


def paste_patches(picture: Image.Image, packed: Image.Image, rects: Sequence[Rect]) -> None:
    """Put the packed rectangles (see `pack`) back where they came from, in place."""
    top = 0
    for x, y, w, h in rects:
        picture.paste(packed.crop((0, top, w, top + h)), (x, y))
        top += h


@dataclass(frozen=True)
class Link:
    """What building a frame's picture needs to know of it (no screen content)."""

    id: str
    image_id: str
    base: str | None            # the frame it is stored over; None for a whole picture
    patches: tuple[Rect, ...]
    size: tuple[int, int] | None
    moves: tuple[Move, ...] = ()  # rows scrolled since the base, applied before the patches

    @classmethod
    def of(cls, frame_id: str, fields: dict[str, Any]) -> Link:
        return cls(frame_id, fields.get("image_id") or "", fields.get("key"),
                   tuple(tuple(r) for r in fields.get("patches", [])),
                   tuple(fields["size"]) if fields.get("size") else None,
                   tuple(tuple(m) for m in fields.get("moves", [])))


def apply_moves(picture: Image.Image, moves: Sequence[Move]) -> None:
    """Move rows as a scroll moved them (app/capture/scroll.py), in place; the rows they uncover keep
    what was there until the patches cover them."""
    for x, y, w, h, dy in moves:
        picture.paste(picture.crop((x, y, x + w, y + h)), (x, y + dy))


class RenderedPictures:
    """Pictures built from chains, by frame id, within a memory budget, and the links walked to build
    them, so that reading frames in either direction pastes a few patches instead of walking a chain
    (each link a row to fetch) from its key frame. Plaintext pixels in memory only: dropped whenever
    a frame is deleted, when the store is locked and when the OCR worker goes quiet. Thread-safe."""

    def __init__(self, budget_bytes: int = _RENDERED_BYTES) -> None:
        self._budget = budget_bytes
        self._pictures: OrderedDict[str, Image.Image] = OrderedDict()
        self._links: dict[str, Link] = {}
        self._lock = threading.Lock()

    def get(self, frame_id: str) -> Image.Image | None:
        with self._lock:
            found = self._pictures.get(frame_id)
            if found is not None:
                self._pictures.move_to_end(frame_id)
            return found

    def put(self, frame_id: str, image: Image.Image) -> None:
        with self._lock:
            self._pictures[frame_id] = image
            self._pictures.move_to_end(frame_id)
            while len(self._pictures) > 1 and sum(_bytes(p) for p in self._pictures.values()) > self._budget:
                self._pictures.popitem(last=False)

    def link(self, frame_id: str) -> Link | None:
        with self._lock:
            return self._links.get(frame_id)

    def remember(self, link: Link) -> None:
        with self._lock:
            if len(self._links) >= _LINKS:
                self._links.clear()
            self._links[link.id] = link

    def clear(self) -> None:
        with self._lock:
            self._pictures.clear()
            self._links.clear()


def _bytes(image: Image.Image) -> int:
    return image.width * image.height * len(image.getbands())


def patchable(rects: Sequence[Rect], size: tuple[int, int]) -> bool:
    """Whether these rectangles are worth storing as patches instead of a whole picture."""
    return (bool(rects) and sum(r[2] * r[3] for r in rects) <= MAX_PATCH_SHARE * size[0] * size[1]
            and sum(r[3] for r in rects) <= _MAX_PACKED_HEIGHT)


def bounding_box(rects: Sequence[Sequence[int]]) -> Rect:
    """The smallest (x, y, w, h) holding all of `rects`."""
    x0, y0 = min(r[0] for r in rects), min(r[1] for r in rects)
    return (x0, y0, max(r[0] + r[2] for r in rects) - x0, max(r[1] + r[3] for r in rects) - y0)


def merge_rects(rects: Sequence[Rect]) -> list[Rect]:
    """Overlapping or touching rectangles joined into their bounding boxes, until none overlap."""
    merged = [tuple(r) for r in rects if r[2] > 0 and r[3] > 0]
    joined = True
    while joined:
        joined = False
        for i, a in enumerate(merged):
            for j in range(i + 1, len(merged)):
                b = merged[j]
                if a[0] <= b[0] + b[2] and b[0] <= a[0] + a[2] and a[1] <= b[1] + b[3] and b[1] <= a[1] + a[3]:
                    merged[i] = bounding_box([a, b])
                    del merged[j]
                    joined = True
                    break
            if joined:
                break
    return [(int(r[0]), int(r[1]), int(r[2]), int(r[3])) for r in merged]


def decode(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def webp(image: Image.Image, quality: int) -> bytes:
    """The smaller of lossy WebP at `quality` and, for drawn screen content, lossless WebP.

    Text and interfaces drawn by the computer have few distinct colours, and there lossless WebP
    is often the smaller, and exact (so OCR reads what was on screen): a 1080p page of text is 59 kB
    lossless against 159 kB at quality 60, and takes half the time. Photographs, video and JPEG-
    compressed screens have thousands of colours and are five to ten times larger lossless (the
    ScreenAgent screens: 44 kB lossy, 305 kB lossless), so they are not tried (counting the colours
    of a quarter-size copy costs ~1 ms)."""
    if not looks_drawn(image):
        # Method 6 is 6% smaller than 4 for a third more time (ScreenAgent screens: 36.9 against
        # 39.4 kB, 65 against 51 ms), beside the seconds OCR spends on a kept frame.
        return _saved(image, quality=quality, method=6)
    lossy = _saved(image, quality=quality, method=4)  # method 4: 4x the time of 0, a third smaller
    lossless = _saved(image, lossless=True, quality=50, method=4)
    return lossless if len(lossless) <= len(lossy) else lossy


def looks_drawn(image: Image.Image) -> bool:
    """Drawn by the computer (text, interfaces: few colours), not a photograph or a JPEG."""
    small = image.reduce(4) if min(image.size) >= 64 else image
    return small.getcolors(_DRAWN_COLOURS) is not None


def looks_like_a_picture(image: Image.Image) -> bool:
    """A photograph or a video frame, whatever its size: many colours, none of them covering half of it.
    Drawn text and interfaces sit on flat backgrounds, even with coloured (sub-pixel) edges to their
    letters; `looks_drawn` needs a whole screen's worth of colours, so it cannot tell a small picture.
    One pixel of every 4x4 is looked at, as it is (averaging would give a text's background soft edges)."""
    sample = image.resize((max(1, image.width // 4), max(1, image.height // 4)), Image.Resampling.NEAREST)
    pixels = sample.width * sample.height
    counts = sample.getcolors(pixels)
    return counts is not None and len(counts) > 256 and max(counts)[0] < pixels / 2


def _saved(image: Image.Image, **options: Any) -> bytes:
    out = io.BytesIO()
    image.save(out, "WEBP", **options)
    return out.getvalue()


def picture(store: Any, frame: Any) -> Image.Image:
    """The frame's screen as captured (a copy the caller may change). PictureMissing if it has none or
    a file it needs is gone."""
    if not frame.fields.get("image_id"):
        raise PictureMissing("this screen's picture was dropped; its text is kept")
    rendered: RenderedPictures = getattr(store, "rendered", None) or RenderedPictures(0)
    try:
        return _build(store, rendered, frame)
    except PictureMissing:
        # A link kept from before a frame of the chain was rebased names a file that is gone:
        # forget what was kept and walk the chain as stored now.
        rendered.clear()
        return _build(store, rendered, frame)


def _build(store: Any, rendered: RenderedPictures, frame: Any) -> Image.Image:
    link: Link | None = Link.of(frame.id, frame.fields)
    chain: list[Link] = []  # the links whose patches are still to paste, newest first
    built = None
    while built is None and link is not None and len(chain) <= MAX_CHAIN:
        rendered.remember(link)
        cached = rendered.get(link.id)
        if cached is not None:
            built = cached.copy()
        elif link.base is None:
            built = _own(store, link, "picture").convert("RGB")
        else:
            chain.append(link)
            link = rendered.link(link.base) or _fetch_link(store, rendered, link.base, frame.time)
    if built is None:
        # Should not happen (deleting a frame rebases the ones stored over it first): show what is known.
        width, height = next((step.size for step in chain if step.size), (1, 1))
        built = Image.new("RGB", (int(width), int(height)), (96, 96, 96))
    for done, step in enumerate(reversed(chain), 1):
        apply_moves(built, step.moves)
        paste_patches(built, _own(store, step, "patch"), step.patches)
        if done % _CHECKPOINT == 0 and step.id != frame.id:
            rendered.put(step.id, built.copy())  # stepping back through the chain starts here
    rendered.put(frame.id, built.copy())
    return built


def _fetch_link(store: Any, rendered: RenderedPictures, frame_id: str, until: datetime) -> Link | None:
    """The link of a frame in the chain of a frame taken at `until`: the links of every frame that may
    be in that chain are fetched at once (a chain lies within GROUP_SPAN of its key frame)."""
    fetch_all = getattr(store, "frame_fields", None)
    if fetch_all is not None:
        for found_id, fields in fetch_all(until - GROUP_SPAN - timedelta(seconds=1), until):
            if fields.get("image_id"):
                rendered.remember(Link.of(found_id, fields))
        if (found := rendered.link(frame_id)) is not None:
            return found
    base = store.get(frame_id)
    return Link.of(base.id, base.fields) if base is not None and base.fields.get("image_id") else None


def _own(store: Any, link: Link, what: str) -> Image.Image:
    try:
        return decode(store.blobs.get(link.image_id))
    except TamperedBlob:
        raise PictureMissing(f"this screen's picture is damaged (its {what} file failed its integrity check)") from None
    except (KeyError, OSError, ValueError) as exc:
        raise PictureMissing(f"a {what} file of this screen is unreadable ({type(exc).__name__})") from None


def rebase(store: Any, dependents: Sequence[Any], doomed: set[str]) -> tuple[list[Any], list[str]]:
    """Frames stored over frames in `doomed` (ids about to be deleted or to lose their pictures; call
    while they are still there): each is stored over the nearest frame before it that stays, with the
    rectangles of the doomed frames in between added to its own, or made whole when none stays. Two
    frames stored over the same doomed key frame (how patches were stored before chains) share the first
    one made whole. Returns the changed frames (to save) and the files they no longer need."""
    changed: list[Any] = []
    old_files: list[str] = []
    made_whole: dict[str, tuple[Any, list[Rect]]] = {}  # doomed key frame -> (frame made whole instead, its changes since)
    for frame in sorted(dependents, key=lambda f: f.time):
        if frame.fields.get("key") not in doomed:
            continue
        try:
            whole = picture(store, frame)
        except PictureMissing:
            continue
        rects = [tuple(r) for r in frame.fields.get("patches", [])]
        scrolled = bool(frame.fields.get("moves"))  # rectangles cannot say what a scroll moved: whole
        base, lost_key = store.get(frame.fields["key"]), None  # lost_key: the doomed key frame its chain began at
        for _ in range(MAX_CHAIN + 1):
            if base is None or base.id not in doomed:
                break
            if not base.fields.get("key"):
                lost_key = base.id
                base = None
                break
            rects += [tuple(r) for r in base.fields.get("patches", [])]
            scrolled = scrolled or bool(base.fields.get("moves"))
            base = store.get(base.fields["key"])
        if scrolled:
            base, lost_key = None, None
        since_key = merge_rects(rects)
        if base is None and lost_key in made_whole:
            base, earlier = made_whole[lost_key]
            rects += earlier
        rects = merge_rects(rects)
        fields = {k: v for k, v in frame.fields.items() if k not in ("key", "patches", "size", "moves")}
        old_files.append(frame.fields["image_id"])
        if base is not None and base.fields.get("image_id") and patchable(rects, whole.size):
            fields.update(image_id=store.blobs.put(webp(pack(whole, rects), WHOLE_QUALITY)), key=base.id,
                          patches=[list(r) for r in rects], size=list(whole.size))
            frame.note("store", "stored over an earlier screen: the one it was stored over was removed")
        else:
            fields["image_id"] = store.blobs.put(webp(whole, WHOLE_QUALITY))
            frame.note("store", "made whole: the screen it was stored over was removed")
            if lost_key is not None:
                made_whole.setdefault(lost_key, (frame, since_key))
        frame.fields = fields
        changed.append(frame)
    return changed, old_files
