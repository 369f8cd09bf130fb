"""Turning a kept screen grab into the two encrypted files a frame keeps.

WebP because it is the smallest of the formats Pillow writes fast enough here
(STACK.md: q80 method 0 at 55 ms and 134 KiB for 1080p); quality and scale are
settings, since they decide disk use per hour more than anything else. A frame
that changed little since its key frame keeps only the changed rectangles
(storage/frame_pictures.py); its thumbnail is always whole.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from PIL import Image

from storage.frame_pictures import Rect, pack, webp

# The timeline strip shows thumbnails at 160x90 and recall rows at 96x54: 240 pixels covers both up to
# 1.5x scaling. At 240 px and quality 50 a ScreenAgent thumbnail is 3.2 kB, against 6.3 at 320 px and 70.
THUMB_WIDTH = 240
THUMB_QUALITY = 50


@dataclass(frozen=True)
class EncodedFrame:
    image: bytes            # the whole picture, or the packed patches when `patches` is set
    thumbnail: bytes
    size: tuple[int, int]   # of the stored picture, which the OCR word boxes and patches refer to
    patches: tuple[Rect, ...] = ()


def stored_size(size: tuple[int, int], scale: float) -> tuple[int, int]:
    return size if scale == 1.0 else (max(1, round(size[0] * scale)), max(1, round(size[1] * scale)))


def encode_frame(image: Image.Image, *, scale: float = 1.0, quality: int = 60,
                 patches: Sequence[Rect] = ()) -> EncodedFrame:
    rgb = image.convert("RGB")
    if scale != 1.0:
        rgb = rgb.resize(stored_size(rgb.size, scale), Image.Resampling.LANCZOS)
    thumb = rgb.copy()
    thumb.thumbnail((THUMB_WIDTH, THUMB_WIDTH * 4), Image.Resampling.BILINEAR)
    body = pack(rgb, patches) if patches else rgb
    return EncodedFrame(webp(body, quality), webp(thumb, THUMB_QUALITY), rgb.size, tuple(patches))
