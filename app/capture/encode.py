"""Turning a kept screen grab into the two encrypted files a frame keeps.

WebP because it is the smallest of the formats Pillow writes fast enough here
(STACK.md: q80 method 0 at 55 ms and 134 KiB for 1080p); quality and scale are
settings, since they decide disk use per hour more than anything else.
"""
from __future__ import annotations

import io
from dataclasses import dataclass

from PIL import Image

THUMB_WIDTH = 320


@dataclass(frozen=True)
class EncodedFrame:
    image: bytes
    thumbnail: bytes
    size: tuple[int, int]   # of the stored image, which the OCR word boxes refer to


def encode_frame(image: Image.Image, *, scale: float = 1.0, quality: int = 60) -> EncodedFrame:
    rgb = image.convert("RGB")
    if scale != 1.0:
        rgb = rgb.resize((max(1, round(rgb.width * scale)), max(1, round(rgb.height * scale))), Image.Resampling.LANCZOS)
    thumb = rgb.copy()
    thumb.thumbnail((THUMB_WIDTH, THUMB_WIDTH * 4), Image.Resampling.BILINEAR)
    return EncodedFrame(_webp(rgb, quality), _webp(thumb, 70), rgb.size)


def decode_image(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def _webp(image: Image.Image, quality: int) -> bytes:
    out = io.BytesIO()
    # method 4: about 4x slower than 0 but a third smaller; still ~40 ms at 1024x768.
    image.save(out, "WEBP", quality=quality, method=4)
    return out.getvalue()
