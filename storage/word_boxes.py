"""A frame's OCR word boxes as stored: the words in one string, the numbers as differences.

In memory a frame's `boxes` are `[[word, x, y, w, h], ...]` in reading order. Written that way, a
page of text spends most of its row on repeating `y` and `h` (words of a line share them) and on
large absolute coordinates. Stored, each box is four small numbers: the gap to the end of the word
before, the step down from it, the width against a guess from the word's letters, the change of
height. When the words, in order, are the frame's text split at white space (the OCR worker stores
them in reading order, so they are unless a secret was masked), they are not stored a second time;
otherwise they are, joined by newlines. Deflated, a 1080p page of ~500 words (bench/capture_bench.py,
reading) takes 1.2 kB: 4.0 as the list, 2.9 with the words and steps from the box before (the
previous form, which still reads, as does the list).
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
        x, y, w, h = (int(v) for v in box[1:5])
        numbers += [x - last[0] - last[2], y - last[1], w - _width_for(str(box[0]), h), h - last[3]]
        last = [x, y, w, h]
    words = [str(box[0]) for box in boxes]
    if words == text.split():
        return {"gaps": numbers}
    return {"words": "\n".join(words), "gaps": numbers}


def _width_for(word: str, height: int) -> int:
    """A guess at a word's width from its letters and height (screen fonts: ~0.4 of the height a
    letter); stored widths are the difference from it, small numbers that deflate well."""
    return 2 * len(word) * height // 5


def unpack_boxes(stored: Any, text: str) -> list[Any]:
    if not isinstance(stored, dict):
        return list(stored or [])
    words = stored["words"].split("\n") if "words" in stored else text.split()
    numbers: list[int] = stored["gaps"] if "gaps" in stored else stored["steps"]
    if 4 * len(words) != len(numbers):
        return []  # the text no longer matches (damaged): no highlights rather than wrong ones
    boxes, last = [], [0, 0, 0, 0]
    for i, word in enumerate(words):
        a, b, c, d = numbers[4 * i: 4 * i + 4]
        if "gaps" in stored:
            h = last[3] + d
            last = [last[0] + last[2] + a, last[1] + b, c + _width_for(word, h), h]
        else:  # the previous form: each number the step from the box before
            last = [last[0] + a, last[1] + b, last[2] + c, last[3] + d]
        boxes.append([word, *last])
    return boxes
