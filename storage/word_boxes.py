"""A frame's OCR word boxes as stored: the words in one string, the numbers as differences.

In memory a frame's `boxes` are `[[word, x, y, w, h], ...]` in reading order. Written that way, a
page of text spends most of its row on repeating `y` and `h` (words of a line share them) and on
large absolute coordinates. Stored as the words joined by newlines and each box as its difference
from the one before, the deflated field is a third smaller (bench: 3.6 -> 2.4 kB a frame of a full
1080p page, 1.5 -> 1.1 kB a ScreenAgent screen), the largest part of a frame's row.
When the words, in order, are the frame's text split at white space (the OCR worker stores them in
reading order, so they are unless a secret was masked), they are not stored a second time: the
text has them (another 1.2 kB a 1080p page). Rows written before this keep the plain list or the
words, which read as they always did.
"""
from __future__ import annotations

from typing import Any


def pack_boxes(boxes: list[Any], text: str) -> Any:
    """The stored form of the boxes of a frame showing `text`, or the list itself when a word holds a
    newline (cannot be joined)."""
    if not boxes or any("\n" in str(box[0]) for box in boxes):
        return boxes
    numbers: list[int] = []
    last = [0, 0, 0, 0]
    for box in boxes:
        current = [int(v) for v in box[1:5]]
        numbers += [c - p for c, p in zip(current, last)]
        last = current
    words = [str(box[0]) for box in boxes]
    if words == text.split():
        return {"steps": numbers}
    return {"words": "\n".join(words), "steps": numbers}


def unpack_boxes(stored: Any, text: str) -> list[Any]:
    if not isinstance(stored, dict):
        return list(stored or [])
    words = stored["words"].split("\n") if "words" in stored else text.split()
    steps = stored["steps"]
    if 4 * len(words) != len(steps):
        return []  # the text no longer matches (damaged): no highlights rather than wrong ones
    boxes, last = [], [0, 0, 0, 0]
    for i, word in enumerate(words):
        last = [p + d for p, d in zip(last, steps[4 * i: 4 * i + 4])]
        boxes.append([word, *last])
    return boxes
