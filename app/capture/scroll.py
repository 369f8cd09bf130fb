"""Recognising a scroll: the content of a region moved up or down since the frame before.

Reading is scrolling, and a scrolled page differs from the frame before almost everywhere, so a
patch of changed pixels is the whole page again (60 kB a 1080p page of text, every tick). Found as a
move, the frame stores "rows y..y+h moved by dy" and only the strip that scrolled in. The move is
found the way rsync finds moved blocks: each pixel row of the changed region is hashed, in both
frames, and the shift that lines up the most rows (each unique within the frame before, blank rows
ignored) wins, if it lines up enough of them.
"""
from __future__ import annotations

from collections import Counter

import numpy as np
from PIL import Image

from storage.frame_pictures import Move

Box = tuple[int, int, int, int]

_MIN_SIDE = 64
_MIN_ROWS = 8          # rows that must line up, at least...
_MIN_SHARE = 0.3       # ...and this share of the rows with something on them


def find_scroll(image: Image.Image, reference: Image.Image, box: Box) -> Move | None:
    """The move of the rows of `box` from `reference` to `image`, or None when they did not move."""
    x, y, w, h = box
    if w < _MIN_SIDE or h < _MIN_SIDE or image.size != reference.size:
        return None
    now = np.asarray(image.crop((x, y, x + w, y + h)).convert("L"))
    before = np.asarray(reference.crop((x, y, x + w, y + h)).convert("L"))
    where_before: dict[int, int] = {}
    repeated: set[int] = set()
    for row, line in enumerate(before):
        if line.min() == line.max():
            continue  # a blank row lines up with every other blank row
        key = hash(line.tobytes())
        if key in where_before:
            repeated.add(key)
        where_before[key] = row
    votes: Counter[int] = Counter()
    informative = 0
    for row, line in enumerate(now):
        if line.min() == line.max():
            continue
        informative += 1
        key = hash(line.tobytes())
        if key in where_before and key not in repeated:
            votes[row - where_before[key]] += 1
    votes.pop(0, None)  # rows that stayed: not a scroll
    if not votes:
        return None
    dy, count = votes.most_common(1)[0]
    if count < max(_MIN_ROWS, _MIN_SHARE * informative) or abs(dy) >= h - _MIN_SIDE // 2:
        return None
    return (x, y + max(0, -dy), w, h - abs(dy), dy)
