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
_AGREE = 0.99          # a column (row) moved with the page when this share of its pixels did
_ROUGHLY = 0.9


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
    # Only part of the box scrolled (not the scroll bar beside the page, nor the frame around it): keep
    # the widest run of columns, then of rows, where the moved pixels are the new ones.
    # Roughly first (a frame line across the top fails every column a little), then exactly.
    moved = now[max(0, dy): h + min(0, dy)] == before[max(0, -dy): h - max(0, dy)]
    left, right = _longest_run(moved.mean(axis=0) >= _ROUGHLY)
    if right - left < _MIN_SIDE:
        return None  # no columns moved together (and the means below would be of nothing)
    top, bottom = _longest_run(moved[:, left:right].mean(axis=1) >= _AGREE)
    if bottom - top < _MIN_SIDE // 2:
        return None
    narrow, wide = _longest_run(moved[top:bottom, left:right].mean(axis=0) >= _AGREE)
    left, right = left + narrow, left + wide
    if right - left < _MIN_SIDE or bottom - top < _MIN_SIDE // 2:
        return None
    return (x + left, y + max(0, -dy) + top, right - left, bottom - top, dy)


def _longest_run(good: np.ndarray) -> tuple[int, int]:
    """[start, end) of the longest run of True."""
    best, start = (0, 0), None
    for i, ok in enumerate(list(good) + [False]):
        if ok and start is None:
            start = i
        elif not ok and start is not None:
            if i - start > best[1] - best[0]:
                best = (start, i)
            start = None
    return best
