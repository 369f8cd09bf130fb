"""Reads the text of captured frames, oldest first, off the capture tick.

Full-frame OCR costs seconds per 1080p frame on two cores (STACK.md), more
than the 3 s capture interval, so a frame is read only where it changed since
the previous frame of its monitor; the words outside that region are carried
over from the previous frame, whose text is ready because the backlog is
worked oldest first. The backlog lives in the store, so it survives restarts.
"""
from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from functools import cmp_to_key
from typing import Any

from agents.secrets import keep_secrets
from storage.frame_pictures import PictureMissing, bounding_box, merge_rects, picture
from storage.memory import utcnow

from app.capture.ocr import OCR, OcrWord, give_memory_back
from app.capture.same_words import same_but_numbers
from app.idle_pages import let_go_of_library_pages

log = logging.getLogger(__name__)

# Above this share of the screen changed, reading it all is as cheap as the pieces.
_FULL_READ_SHARE = 0.6
_MARGIN = 12
_SIDE_MARGIN = 40
_MAX_PIECES = 24  # more changed regions than this are read as bands across the screen
# With no frame to read for this long, the OCR engine lets its models go (the OCR process ends: ~400 MB);
# starting it again takes a second or a few, which a frame that waits in the backlog does not notice.
RELEASE_AFTER_SECONDS = 60.0


class OcrWorker:
    def __init__(self, store: Any, ocr: OCR) -> None:
        self.store = store
        self.ocr = ocr
        self.read = 0
        self._last_read = time.monotonic()
        self._let_go = False  # whether this quiet spell's letting go is done
        self._empty_at: int | None = None  # the store's write count when no frame was left to read

    def drain(self, limit: int | None = None, should_stop: Callable[[], bool] = lambda: False) -> int:
        """Read pending frames until none is left, `limit` is reached or `should_stop()`; returns how many."""
        done = 0
        while not should_stop() and (limit is None or done < limit):
            # Only capture in this process writes frames: with nothing written since the backlog was found
            # empty, asking LanceDB again every second would only keep its pages in memory (app/idle_pages.py).
            writes = getattr(self.store, "writes", None)
            if writes is not None and writes == self._empty_at:
                break
            batch = self.store.pending_text(limit=4 if limit is None else min(4, limit - done))
            if not batch:
                self._empty_at = writes
                break
            for frame in batch:
                if should_stop():
                    break
                self.read_frame(frame)
                done += 1
                self.read += 1  # per frame: a drain lasts as long as frames keep coming
        if done:
            self._last_read, self._let_go = time.monotonic(), False
        elif not self._let_go and time.monotonic() - self._last_read >= RELEASE_AFTER_SECONDS:
            self._let_go = True  # once a quiet spell: this runs every second
            release = getattr(self.ocr, "release", None)
            if release is not None:
                release()
            rendered = getattr(self.store, "rendered", None)
            if rendered is not None:
                rendered.clear()  # the screens it built while reading, kept for the next frame
            give_memory_back()  # what reading and saving frames freed, from the heap back to the system
            let_go_of_library_pages()  # the libraries' pages reading and saving touched, until next needed
        return done

    def read_frame(self, frame: Any) -> None:
        fields = frame.fields
        previous = self.store.get(fields["previous"]) if fields.get("previous") else None
        try:
            image = picture(self.store, frame)
        except PictureMissing as exc:
            # The image is gone (retention, forget) or unreadable: nothing to read, don't retry forever.
            log.warning("frame image unreadable (%s); marking its text as empty", type(exc).__name__)
            words: list[OcrWord] = []
        else:
            words = self._words(image, fields, previous)
        lines = reading_order(words, fields.get("windows") or ())
        frame.text = _joined(lines)
        # In the text's order, so the store keeps their words once (storage/word_boxes.py).
        frame.fields = {**fields, "boxes": [[word.text, *word.box] for line in lines for word in line]}
        frame.text_pending = False
        frame.updated = utcnow()
        frame.note("ocr", "screen text read")
        # Secrets on screen are masked before the text is first stored, and filed in the vault with it.
        batch = keep_secrets(self.store, [frame])
        vectors_from = None
        if previous is not None and not previous.text_pending and same_but_numbers(frame.index_text(),
                                                                                   previous.index_text()):
            # A clock or a counter ticking: the words are the previous screen's, and so is what they are about.
            vectors_from = {frame.id: previous.id}
        self.store.save(batch, replace_only=[frame.id], vectors_from=vectors_from)

    def _words(self, image: Any, fields: dict[str, Any], previous: Any) -> list[OcrWord]:
        regions = fields.get("changed") or []
        carried = previous.fields.get("boxes", []) if previous is not None else []
        if fields.get("moves") and previous is not None and fields.get("key") == previous.id:
            # A scroll: the words that moved with the page are the previous frame's, moved; only
            # what scrolled in (the patches) is read.
            carried, cut = _moved(carried, fields["moves"])
            regions = (fields.get("patches") or regions) + cut
        bands = _bands(regions, image.width, image.height)
        # Each band is read a little taller, so the carried words it cuts (dropped from the carry) are
        # read whole; of what is read, the words touching the band replace the carried ones.
        reads = _holding_whole_words(bands, carried)
        if (not bands or previous is None or previous.text_pending
                or sum(w * h for _x, _y, w, h in reads) >= _FULL_READ_SHARE * image.width * image.height):
            return list(self.ocr.read(image).words)
        words = [OcrWord(t, (bx, by, bw, bh), 1.0) for t, bx, by, bw, bh in carried
                 if not any(_overlaps((bx, by, bw, bh), band) for band in bands)]
        for x, y, w, h in reads:
            for word in self.ocr.read(image.crop((x, y, x + w, y + h))).words:
                box = (word.box[0] + x, word.box[1] + y, word.box[2], word.box[3])
                if any(_overlaps(box, band) for band in bands):
                    words.append(OcrWord(word.text, box, word.confidence))
        return words


def _bands(regions: list[list[int]], width: int, height: int) -> list[tuple[int, int, int, int]]:
    """Changed regions with a margin, merged where they meet.

    The margins catch words whose pixels barely changed; sideways it is wider, as a word runs on
    sideways. (Bands across the whole screen made typing a word re-read its
    whole line, and a scroll bar's thumb two stripes across the screen.)
    """
    corners = [(max(0, x - _SIDE_MARGIN), max(0, y - _MARGIN), min(width, x + w + _SIDE_MARGIN),
                min(height, y + h + _MARGIN)) for x, y, w, h in regions if w > 0 and h > 0]
    padded = [(left, top, right - left, bottom - top) for left, top, right, bottom in corners]
    if len(padded) > _MAX_PIECES:
        # Changes scattered all over (a sheet recalculating): each piece would cost a pass of the
        # detector, and merging rectangles pairwise grows with the square of their number.
        return _rows([(y, y + h) for _x, y, _w, h in padded], width)
    return merge_rects(padded)


def _rows(spans: list[tuple[int, int]], width: int) -> list[tuple[int, int, int, int]]:
    """(top, bottom) spans merged where they meet, as bands across the screen."""
    merged: list[list[int]] = []
    for top, bottom in sorted(spans):
        if merged and top <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], bottom)
        else:
            merged.append([top, bottom])
    return [(0, top, width, bottom - top) for top, bottom in merged]


def _holding_whole_words(bands: list[tuple[int, int, int, int]], boxes: list[Any]) -> list[tuple[int, int, int, int]]:
    """Bands grown (once, without margin) to hold every word box that touches them, then merged."""
    return merge_rects([bounding_box([band] + [box[1:5] for box in boxes if _overlaps(box[1:5], band)])
                        for band in bands])


def _moved(boxes: list[Any], moves: list[list[int]]) -> tuple[list[Any], list[list[int]]]:
    """Word boxes after a scroll: those inside rows that moved, moved with them; those the moved rows
    now cover dropped; the rest kept. Words the edge of the moved rows cut are dropped too, and where
    they were and went is returned to be read again (a line half scrolled out at the top is still
    half on screen)."""
    out, cut = [], []
    for text, bx, by, bw, bh in boxes:
        box: tuple[int, int, int, int] | None = (bx, by, bw, bh)
        for x, y, w, h, dy in moves:
            if x <= bx and bx + bw <= x + w and y <= by and by + bh <= y + h:
                box = (bx, by + dy, bw, bh)
                break
            if _overlaps((bx, by, bw, bh), (x, y, w, h)):
                box = None
                cut.append([bx, min(by, by + dy), bw, bh + abs(dy)])
                break
            if _overlaps((bx, by, bw, bh), (x, y + dy, w, h)):
                box = None
                break
        if box is not None:
            out.append([text, *box])
    return out, cut


def _overlaps(a: tuple[int, int, int, int] | list[int], b: tuple[int, int, int, int] | list[int]) -> bool:
    return a[0] < b[0] + b[2] and b[0] < a[0] + a[2] and a[1] < b[1] + b[3] and b[1] < a[1] + a[3]


def assemble_text(words: list[OcrWord]) -> str:
    return _joined(reading_order(words))


def _joined(lines: list[list[OcrWord]]) -> str:
    return "\n".join(" ".join(word.text for word in line) for line in lines)


def reading_order(words: list[OcrWord], windows: Sequence[Sequence[int]] = ()) -> list[list[OcrWord]]:
    """Words back into lines as the screen reads: window by window (`windows`: their boxes, bottom to
    top, as captured; a word is the top-most window's that holds its centre), column by column within
    one, then top to bottom, left to right. Two windows side by side, or a sidebar beside a page, are
    not interleaved line by line."""
    return [line for group in _by_window(words, windows) for block in _blocks(group) for line in _lines(block)]


def _lines(words: list[OcrWord]) -> list[list[OcrWord]]:
    """Top to bottom, and left to right within a line."""
    lines: list[list[OcrWord]] = []
    for word in sorted(words, key=lambda wd: wd.box[1] + wd.box[3] / 2):
        centre = word.box[1] + word.box[3] / 2
        if lines:
            last = lines[-1][0]
            if abs(centre - (last.box[1] + last.box[3] / 2)) <= max(last.box[3], word.box[3]) / 2:
                lines[-1].append(word)
                continue
        lines.append([word])
    return [sorted(line, key=lambda wd: wd.box[0]) for line in lines]


def _by_window(words: list[OcrWord], windows: Sequence[Sequence[int]]) -> list[list[OcrWord]]:
    """The words of each window, windows in reading order; words on no window (a panel, the desktop) last."""
    groups: dict[int, list[OcrWord]] = {}
    for word in words:
        cx, cy = word.box[0] + word.box[2] / 2, word.box[1] + word.box[3] / 2
        on = next((i for i in range(len(windows) - 1, -1, -1) if _holds(windows[i], cx, cy)), len(windows))
        groups.setdefault(on, []).append(word)
    def order(a: int, b: int) -> int:
        return _before(windows[a], windows[b])
    placed = sorted((i for i in groups if i < len(windows)), key=cmp_to_key(order))
    return [groups[i] for i in placed] + ([groups[len(windows)]] if len(windows) in groups else [])


def _holds(box: Sequence[int], x: float, y: float) -> bool:
    return box[0] <= x < box[0] + box[2] and box[1] <= y < box[1] + box[3]


def _before(a: Sequence[int], b: Sequence[int]) -> int:
    """Windows one above the other read top first; side by side, left first."""
    side_by_side = a[0] + a[2] <= b[0] or b[0] + b[2] <= a[0]
    return (a[0] - b[0]) if side_by_side else (a[1] - b[1]) or (a[0] - b[0])


# A gutter between columns is at least this many line heights wide (spaces between words are far narrower).
_GUTTER = 3.0
# A blank band across a block at least this many line heights tall separates its sections.
_SECTION_GAP = 1.5
_MAX_DEPTH = 16


def _blocks(words: list[OcrWord], depth: int = 0) -> list[list[OcrWord]]:
    """A block of words cut into what is read one after the other: columns, left to right (at a gutter
    that runs the block's full height), else sections, top to bottom (at a blank band across it), each
    cut again the same way. A table's columns are not cut apart: their rows share lines."""
    if len(words) < 2 or depth >= _MAX_DEPTH:
        return [words]
    height = sorted(w.box[3] for w in words)[len(words) // 2]
    for parts in (_columns(words, height), _cut(words, 1, _SECTION_GAP * height)):
        if len(parts) > 1:
            return [block for part in parts for block in _blocks(part, depth + 1)]
    return [words]


def _columns(words: list[OcrWord], height: int) -> list[list[OcrWord]]:
    parts = _cut(words, 0, _GUTTER * height)
    if len(parts) < 2 or any(len(_lines(part)) < 2 for part in parts):
        return [words]
    # Lines of a table run across its columns: most of one column's lines have a partner at the same height.
    left, right = _lines(parts[0]), _lines(parts[1])
    centres = [line[0].box[1] + line[0].box[3] / 2 for line in right]
    shared = sum(any(abs(line[0].box[1] + line[0].box[3] / 2 - c) <= line[0].box[3] / 2 for c in centres)
                 for line in left)
    return [words] if shared * 2 > min(len(left), len(right)) else parts


def _cut(words: list[OcrWord], axis: int, gap: float) -> list[list[OcrWord]]:
    """Words split at every empty stretch of at least `gap` pixels along `axis` (0: x, 1: y)."""
    ordered = sorted(words, key=lambda wd: wd.box[axis])
    parts, end = [[ordered[0]]], ordered[0].box[axis] + ordered[0].box[axis + 2]
    for word in ordered[1:]:
        if word.box[axis] - end >= gap:
            parts.append([])
        parts[-1].append(word)
        end = max(end, word.box[axis] + word.box[axis + 2])
    return parts
