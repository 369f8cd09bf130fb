"""A frame's picture on disk: a whole screenshot (a key frame), or patches over its key frame's.

Most kept frames differ from the one before in a few places (a typed line, a new chat message, a
clock). Such a frame stores only the rectangles that changed since its group's key frame, packed one
under another into one small WebP, and names the key frame; its picture is the key frame's with the
rectangles pasted back. A group ends (the next frame is whole again) when its changes cover half the
screen, after `MAX_GROUP` frames, or `GROUP_SPAN` after its key frame, so a picture never needs more
than two files and the frames that depend on a key frame lie shortly after it. The rectangles only
grow within a group (typing down a page widens the band each frame re-stores), which is what
`MAX_GROUP` bounds: on steady typing (bench/capture_bench.py) a cap of 12 stored half the picture
bytes of an unbounded group (20.9 against 44.6 kB a frame).

Deleting a key frame must not break the frames that depend on it: `rebase` makes the first of them
whole and stores the others as patches over it (the store does this on every delete, and before
pictures are dropped), so forgetting a screen removes its pixels for good while later screens keep
what they showed.
"""
from __future__ import annotations

import io
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from PIL import Image

Rect = tuple[int, int, int, int]  # x, y, w, h in the stored picture's pixels

MAX_GROUP = 12
GROUP_SPAN = timedelta(minutes=10)
MAX_PATCH_SHARE = 0.5      # above this share of the screen, a whole picture is as small
_MAX_PACKED_HEIGHT = 16_000  # WebP's limit is 16,383 pixels a side
WHOLE_QUALITY = 60


class PictureMissing(Exception):
    """The frame has no picture (text only), or a file it needs is gone."""


def pack(image: Image.Image, rects: Sequence[Rect]) -> Image.Image:
    """The rectangles of `image`, one under another, left-aligned (see `unpack_onto`)."""
    canvas = Image.new("RGB", (max(r[2] for r in rects), sum(r[3] for r in rects)))
    top = 0
    for x, y, w, h in rects:
        canvas.paste(image.crop((x, y, x + w, y + h)), (0, top))
        top += h
    return canvas


def unpack_onto(base: Image.Image, packed: Image.Image, rects: Sequence[Rect]) -> Image.Image:
    picture = base.convert("RGB").copy()
    top = 0
    for x, y, w, h in rects:
        picture.paste(packed.crop((0, top, w, top + h)), (x, y))
        top += h
    return picture


def patchable(rects: Sequence[Rect], size: tuple[int, int]) -> bool:
    """Whether these rectangles are worth storing as patches instead of a whole picture."""
    return (bool(rects) and sum(r[2] * r[3] for r in rects) <= MAX_PATCH_SHARE * size[0] * size[1]
            and sum(r[3] for r in rects) <= _MAX_PACKED_HEIGHT)


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
                    x0, y0 = min(a[0], b[0]), min(a[1], b[1])
                    merged[i] = (x0, y0, max(a[0] + a[2], b[0] + b[2]) - x0, max(a[1] + a[3], b[1] + b[3]) - y0)
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
    out = io.BytesIO()
    # method 4: about 4x slower than 0 but a third smaller; still ~40 ms at 1024x768.
    image.save(out, "WEBP", quality=quality, method=4)
    return out.getvalue()


def picture(store: Any, frame: Any) -> Image.Image:
    """The frame's screen as captured. PictureMissing if it has none or a file is gone."""
    fields = frame.fields
    image_id = fields.get("image_id")
    if not image_id:
        raise PictureMissing("this screen's picture was dropped; its text is kept")
    try:
        own = decode(store.blobs.get(image_id))
    except (KeyError, OSError, ValueError) as exc:
        raise PictureMissing(f"the picture file is unreadable ({type(exc).__name__})") from None
    if not fields.get("key"):
        return own
    key = store.get(fields["key"])
    if key is None or not key.fields.get("image_id") or key.fields.get("key"):
        # Should not happen (deleting a key frame rebases its dependents first); show what is known.
        width, height = fields.get("size") or (own.width, own.height)
        base = Image.new("RGB", (int(width), int(height)), (96, 96, 96))
    else:
        try:
            base = decode(store.blobs.get(key.fields["image_id"]))
        except (KeyError, OSError, ValueError) as exc:
            raise PictureMissing(f"the key frame's picture is unreadable ({type(exc).__name__})") from None
    return unpack_onto(base, own, [tuple(r) for r in fields.get("patches", [])])


def rebase(store: Any, dependents: Sequence[Any]) -> tuple[list[Any], list[str]]:
    """Frames stored as patches over a key frame that is about to go (call while it is still there):
    per old key frame, the first becomes whole and the others patches over it (a frame differs from
    the new key frame only where either changed since the old one). Returns the changed frames (to
    save) and the files they no longer need."""
    changed: list[Any] = []
    old_files: list[str] = []
    groups: dict[str, list[Any]] = {}
    for frame in sorted(dependents, key=lambda f: f.time):
        if frame.fields.get("key"):
            groups.setdefault(frame.fields["key"], []).append(frame)
    for members in groups.values():
        try:
            pictures = [picture(store, f) for f in members]
        except PictureMissing:
            continue
        new_key, key_patches = members[0], members[0].fields.get("patches", [])
        for frame, whole in zip(members, pictures):
            fields = {k: v for k, v in frame.fields.items() if k not in ("key", "patches", "size")}
            rects = merge_rects([tuple(r) for r in key_patches + frame.fields.get("patches", [])])
            old_files.append(frame.fields["image_id"])
            if frame is not new_key and patchable(rects, whole.size):
                fields.update(image_id=store.blobs.put(webp(pack(whole, rects), WHOLE_QUALITY)), key=new_key.id,
                              patches=[list(r) for r in rects], size=list(whole.size))
                frame.note("store", "stored over a later key frame: its key frame was removed")
            else:
                fields["image_id"] = store.blobs.put(webp(whole, WHOLE_QUALITY))
                frame.note("store", "made whole: its key frame was removed")
            frame.fields = fields
            changed.append(frame)
    return changed, old_files
