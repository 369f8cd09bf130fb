"""Words that earlier versions stored letter by letter, joined again (the upgrade to schema 9).

On a line that holds Chinese or Japanese, RapidOCR places every character on its own, Latin letters and
digits too. Until the OCR worker joined those pieces by the line's own text (app/capture/ocr.py,
`join_letters`), each piece was stored as a word: "Mozilla Firefox" became "M o z i l l a F i r e f o x",
which no keyword search finds. The line's text is gone from such a frame, but its word boxes say where
the words were. On a real screen (tests/data/screens/baike_firefox.jpg) the pieces of one word are
0-0.10 of the line's height apart ("Baidu" 0.00, "249,197,298" up to 0.10) and words 0.12 and more
("Mozilla" to "Firefox"); the gap is the only rule, so "50" in "领取50财富值" is joined too.
"""
from __future__ import annotations

import re
from typing import Any

# As app/capture/ocr.py: a character of these scripts is a word of its own.
_CJK = re.compile("[\u2e80-\u2fff\u3040-\u30ff\u3100-\u31ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af"
                  "\uf900-\ufaff\uff00-\uffef]")
_WORD_GAP = 0.11   # of the line's height: a gap at least this wide is a space between words
# What a word is spelled with besides letters and digits ("249,197,298", "baike.baidu.com"); icons read as
# characters ("→" before "C" in a browser's toolbar, on every screen of a store filled from real ones) are not.
_IN_WORDS = set(".,:;-_/@'&+#%")


def rejoined(text: str, boxes: list[Any]) -> tuple[str, list[Any]] | None:
    """`text` and its word boxes (`[[word, x, y, w, h], ...]` in reading order) with runs of single
    letters on a line that holds CJK joined into the words they spelled; None when nothing changes or
    the boxes are not the text's words (a masked secret: then nothing is touched)."""
    spans = [m.span() for m in re.finditer(r"\S+", text)]
    if not boxes or [str(b[0]) for b in boxes] != [text[s:e] for s, e in spans]:
        return None
    joins = [False] * len(boxes)   # joins[i]: word i is glued to word i - 1
    for line in _lines(boxes):
        if any(_CJK.search(str(boxes[i][0])) for i in line):
            _join_runs(boxes, line, joins)
    if not any(joins):
        return None
    out_text, out_boxes, last_end = [], list[Any](), 0
    for i, (start, end) in enumerate(spans):
        out_text.append(text[last_end:start] if not joins[i] else "")
        out_text.append(text[start:end])
        last_end = end
        if joins[i]:
            word, x, y, w, h = out_boxes[-1]
            _, bx, by, bw, bh = boxes[i]
            left, top = min(x, bx), min(y, by)
            out_boxes[-1] = [word + str(boxes[i][0]), left, top, max(x + w, bx + bw) - left,
                             max(y + h, by + bh) - top]
        else:
            out_boxes.append(list(boxes[i]))
    out_text.append(text[last_end:])
    return "".join(out_text), out_boxes


def _lines(boxes: list[Any]) -> list[list[int]]:
    """Indexes of the boxes, cut where reading order leaves a line (a step left or off its height)."""
    lines: list[list[int]] = []
    for i, (_, x, y, w, h) in enumerate(boxes):
        if lines:
            _, px, py, pw, ph = boxes[lines[-1][-1]]
            if x >= px + pw / 2 and abs((y + h / 2) - (py + ph / 2)) < max(h, ph) / 2:
                lines[-1].append(i)
                continue
        lines.append([i])
    return lines


def _join_runs(boxes: list[Any], line: list[int], joins: list[bool]) -> None:
    run: list[int] = []
    for i in [*line, -1]:
        single = i >= 0 and _letter(str(boxes[i][0]))
        if single:
            run.append(i)
            continue
        if len(run) > 1:
            for before, after in zip(run, run[1:]):
                _, bx, _, bw, bh = boxes[before]
                _, ax, _, _, ah = boxes[after]
                joins[after] = ax - (bx + bw) < _WORD_GAP * max(bh, ah, 1)
        run = []


def _letter(piece: str) -> bool:
    return len(piece) == 1 and not _CJK.search(piece) and (piece.isalnum() or piece in _IN_WORDS)
