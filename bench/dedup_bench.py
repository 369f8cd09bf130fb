"""Near-duplicate detection for screen capture: which measure tells "the same screen" from "a real change".

How: the pairs of consecutive screenshots in the 35 ScreenAgent sessions (shared/data/screens/
screenagent/*/images, 1024x768 JPEGs of real Linux and Windows desktops, 278 pairs) were labelled, by eye
for every pair with 1-3,999 changed pixels (|gray difference| > 48; JPEG noise stays below), from crops
of each region where the two differ; the screenshots show the mouse pointer (VNC captures):
- near-duplicate: pixel-identical (42 pairs), or only a clock tick / tray badge, a caret blink, or the
  mouse pointer moving (57 pairs, `DUPLICATES` below);
- real change: a typed word or number, a calculator result, a game's markers and score, terminal output,
  a saved file's title (24 reviewed pairs, `CHANGES`), plus every pair with 4,000+ changed pixels (124
  pairs, not each looked at: all but one change across much of the screen; that one, viewed, is a search
  box filling in);
- ambiguous and not scored: hover highlights, tooltips, a spinner, a selection moving (31 pairs).
Each measure scores every pair; a measure separates well when real changes score above near-duplicates.
Measures: `mad` = the filter's change area (summed absolute difference of 64x36 grayscale thumbnails, in
pixel-equivalents); `cells` = how many thumbnail cells changed at all (rounded mean gray); `dhash64` /
`dhash256` = Hamming distance of 8x8 / 16x16 difference hashes; `phash64` = Hamming distance of a DCT
perceptual hash (32x32 after a 4x reduction, as in STACK.md). AUC is the chance that a random real change
scores above a random near-duplicate (ties count half); `changes_above_all_dups` the share of real changes
scoring above the highest near-duplicate. `chosen.*` is app/capture/frame_filter.py's rule at its
threshold, `replay.*` the filter run over all sessions in order. `ocr_share.*`: over pairs the filter keeps,
the median share of the frame inside one bounding box of the changed cells vs inside the separate
regions (what OCR would read), and in how many kept pairs a changed pixel fell outside every region.
`capture.filter_ms`: median over 200 calls of `FrameFilter.decide` on an unchanged 1920x1080 frame (a
ScreenAgent screen scaled up), i.e. thumbnail + comparison, no window to black out; `filter_keep_ms` on a
frame that changed, `filter_blackout_ms` unchanged but with one excluded window blacked out.
"""
from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
from PIL import Image

from app.capture.frame_filter import (CELL_THRESHOLD, CHANGE_THRESHOLD, Decision, FrameFilter, change_area,
                                      changed_box, changed_regions, dhash, gray_thumbnail, hamming)
from app.capture.screen import Monitor, ReplayScreen
from app.capture.windows import WindowInfo
from bench.results import Metrics, metric
from bench.shared import screens_dir

BIG_CHANGE_PIXELS = 4000  # pairs with at least this many changed pixels are real changes (spot-checked)
PIXEL_DELTA = 48  # a pixel "changed" for labelling when its gray value moved more than this (JPEG noise is less)
# session id prefix, pair index (image i-1 -> i in name order): kind. Reviewed by eye, see the docstring.
DUPLICATES = {
    "clock": "125d44 9, 16574c 3, 23f817 1, 23f817 3, 23f817 8, 25e9a8 3, 2fdc27 1, 2fdc27 3, 2fdc27 5, "
             "359b29 11, 359b29 15, 3de815 3, 3de815 5, 4a55a6 3, 5c1afd 3, 642034 3, 642034 5, 6cab3d 11, "
             "9f82ef 3, 9f82ef 5, c5e28b 1, c5e28b 3, c5e28b 7, d448d2 3, d787e8 3, d787e8 7, dab553 3",
    "caret": "08a2de 7, 23f817 7, 25e9a8 5, 2d4bd6 3, 359b29 5, 41d6a5 3, 41d6a5 5, ad6bea 3, bcf3aa 3, "
             "c5e28b 5, d787e8 5",
    "pointer": "08a2de 5, 16574c 1, 16574c 5, 1b6023 1, 2d4bd6 1, 359b29 1, 3de815 1, 3de815 6, 41d6a5 1, "
               "6cab3d 1, 861543 1, a8d496 5, ad6bea 1, b88a48 1, b88a48 3, b88a48 5, c8f828 1, d448d2 1, "
               "d787e8 1",
}
CHANGES = {
    "typed": "16574c 6, 359b29 6, 642034 8, 642034 10, 642034 12, 642034 14, 9f82ef 1, 9f82ef 6, 9f82ef 8, "
             "a8d496 4, e8b09c 4",
    "content": "08a2de 6, 08a2de 8, 2014eb 1, 2014eb 2, 2014eb 4, 2014eb 6, 2014eb 8, 2014eb 10, 2014eb 12, "
               "2014eb 14, 2014eb 16, 2014eb 18, 25e9a8 1",
}
_HOW = "How: " + (__doc__ or "").split("How: ", 1)[1].strip()
METHODS = {"dedup": _HOW.split("`capture.filter_ms`")[0].strip(),
           "capture": "`capture.filter_ms`" + _HOW.split("`capture.filter_ms`")[1].rstrip()}


@dataclass
class Pair:
    key: str
    label: str  # "dup", "change" or "ambiguous"
    kind: str
    scores: dict[str, float]


def sessions(root: Path | None = None) -> list[list[Path]]:
    """The image files of each ScreenAgent session, in capture order."""
    root = root or screens_dir()
    return [sorted(d.glob("*.jpg")) for d in sorted(root.glob("*/images")) if any(d.glob("*.jpg"))]


def _dct_matrix(n: int = 32) -> npt.NDArray[np.float64]:
    k = np.arange(n)
    return np.cos(np.pi * (2 * k[None, :] + 1) * k[:, None] / (2 * n))


_DCT = _dct_matrix()


def phash(image: Image.Image) -> npt.NDArray[np.bool_]:
    gray = np.asarray(image.convert("L").reduce(4).resize((32, 32), Image.Resampling.BOX), dtype=np.float64)
    low = (_DCT @ gray @ _DCT.T)[:8, :8].ravel()[1:]  # the lowest frequencies, without the mean
    return low > np.median(low)


def features(image: Image.Image) -> dict[str, object]:
    return {"thumb": gray_thumbnail(image), "dhash64": dhash(image, 8), "dhash256": dhash(image, 16),
            "phash64": phash(image), "gray": np.asarray(image.convert("L"), dtype=np.int16), "size": image.size}


def score(a: dict[str, object], b: dict[str, object]) -> dict[str, float]:
    diff = np.abs(b["thumb"] - a["thumb"])  # type: ignore[operator]
    cells = diff > CELL_THRESHOLD
    scores = {"mad": change_area(diff, b["size"]), "cells": float(cells.sum())}  # type: ignore[arg-type]
    for name in ("dhash64", "dhash256", "phash64"):
        scores[name] = float(hamming(a[name], b[name]))  # type: ignore[arg-type]
    changed = np.abs(b["gray"] - a["gray"]) > PIXEL_DELTA  # type: ignore[operator]
    scores["pixels"] = float(changed.sum())
    return scores | _region_scores(changed, cells, b["size"])  # type: ignore[arg-type]


def _region_scores(changed: npt.NDArray[np.bool_], cells: npt.NDArray[np.bool_],
                   size: tuple[int, int]) -> dict[str, float]:
    """How much of the frame the OCR regions cover, and whether they hold every changed pixel."""
    inside = np.zeros_like(changed)
    for x, y, w, h in changed_regions(cells, size):
        inside[y:y + h, x:x + w] = True
    x, y, w, h = changed_box(cells, size)
    return {"bbox_share": w * h / (size[0] * size[1]), "regions_share": float(inside.mean()),
            "missed_pixels": float((changed & ~inside).sum())}


def _labels() -> dict[str, tuple[str, str]]:
    labels: dict[str, tuple[str, str]] = {}
    for label, kinds in (("dup", DUPLICATES), ("change", CHANGES)):
        for kind, keys in kinds.items():
            labels |= {key.strip(): (label, kind) for key in keys.split(",")}
    return labels


def labelled_pairs(all_sessions: Sequence[Sequence[Path]]) -> list[Pair]:
    reviewed, pairs = _labels(), []
    for files in all_sessions:
        session = files[0].parent.parent.name[:6]
        previous = None
        for i, path in enumerate(files):
            with Image.open(path) as opened:
                current = features(opened.convert("RGB"))
            if previous is not None:
                scores = score(previous, current)
                key = f"{session} {i}"
                if key in reviewed:
                    label, kind = reviewed[key]
                elif scores["pixels"] == 0:
                    label, kind = "dup", "identical"
                elif scores["pixels"] >= BIG_CHANGE_PIXELS:
                    label, kind = "change", "large"
                else:
                    label, kind = "ambiguous", "ambiguous"
                pairs.append(Pair(key, label, kind, scores))
            previous = current
    return pairs


def auc(dups: Sequence[float], changes: Sequence[float]) -> float:
    wins = sum((c > d) + 0.5 * (c == d) for c in changes for d in dups)
    return wins / (len(dups) * len(changes))


def best_accuracy(dups: Sequence[float], changes: Sequence[float]) -> tuple[float, float]:
    """The best share of correct decisions of a rule "change if score > t", and its t."""
    best = (0.0, 0.0)
    for t in sorted(set(dups) | set(changes) | {-1.0}):
        right = sum(d <= t for d in dups) + sum(c > t for c in changes)
        best = max(best, (right / (len(dups) + len(changes)), t))
    return best


def separation(pairs: Sequence[Pair]) -> Metrics:
    out: Metrics = {}
    dup = [p for p in pairs if p.label == "dup"]
    change = [p for p in pairs if p.label == "change"]
    n = len(dup) + len(change)
    for method in ("mad", "cells", "dhash64", "dhash256", "phash64"):
        d, c = [p.scores[method] for p in dup], [p.scores[method] for p in change]
        accuracy, t = best_accuracy(d, c)
        out[f"dedup.auc.{method}"] = metric(round(auc(d, c), 3), "AUC", n)
        out[f"dedup.best_accuracy.{method}"] = metric(round(accuracy, 3), "share", n, f"{method}: at score > {t:g}")
        out[f"dedup.changes_above_all_dups.{method}"] = metric(
            round(sum(x > max(d) for x in c) / len(c), 3), "share", len(c))
        small = [p.scores[method] for p in change if p.kind != "large"]
        out[f"dedup.small_changes_above_all_dups.{method}"] = metric(
            round(sum(x > max(d) for x in small) / len(small), 3), "share", len(small))
    for kind in ("clock", "caret", "pointer"):
        values = [p.scores["mad"] for p in dup if p.kind == kind]
        out[f"dedup.dup_max_area.{kind}"] = metric(round(max(values), 1), "pixel-equivalents", len(values))
    for kind in ("typed", "content", "large"):
        values = [p.scores["mad"] for p in change if p.kind == kind]
        out[f"dedup.change_min_area.{kind}"] = metric(round(min(values), 1), "pixel-equivalents", len(values))
    return out


def chosen(pairs: Sequence[Pair], threshold: float = CHANGE_THRESHOLD) -> Metrics:
    def kept(label: str, note: str = "") -> dict[str, object]:
        group = [p for p in pairs if p.label == label]
        share = sum(p.scores["mad"] >= threshold for p in group) / len(group)
        return metric(round(share, 3), "share", len(group), note)

    missed = ", ".join(f"{p.key} ({p.kind}, {p.scores['mad']:.0f})" for p in pairs
                       if p.label == "change" and p.scores["mad"] < threshold)
    kept_dups = ", ".join(f"{p.key} ({p.kind}, {p.scores['mad']:.0f})" for p in pairs
                          if p.label == "dup" and p.scores["mad"] >= threshold)
    return {
        "dedup.chosen.threshold": metric(threshold, "pixel-equivalents", None, "app/capture/frame_filter.py"),
        "dedup.chosen.changes_kept": kept("change", f"missed: {missed or 'none'}"),
        "dedup.chosen.dups_kept": kept("dup", f"kept: {kept_dups or 'none'}"),
        "dedup.chosen.ambiguous_kept": kept("ambiguous"),
    }


def regions(pairs: Sequence[Pair], threshold: float = CHANGE_THRESHOLD) -> Metrics:
    """Over kept pairs: the share of the frame OCR would read with one bounding box vs the separate regions."""
    kept = [p.scores for p in pairs if p.scores["mad"] >= threshold]
    missed = sum(s["missed_pixels"] > 0 for s in kept)
    note = "pixels changed by > 48 gray levels outside every region, in this many kept pairs"
    def share(name: str) -> dict[str, object]:
        return metric(round(statistics.median(s[name] for s in kept), 3), "share", len(kept))

    return {"dedup.ocr_share.bounding_box": share("bbox_share"), "dedup.ocr_share.regions": share("regions_share"),
            "dedup.ocr_regions_missing_pixels": metric(missed, "pairs", len(kept), note)}


def replay(all_sessions: Sequence[Sequence[Path]]) -> Metrics:
    kept = total = 0
    for files in all_sessions:
        screen, frame_filter = ReplayScreen(files), FrameFilter()
        monitor = screen.monitors()[0]
        while screen.remaining:
            kept += frame_filter.decide(monitor, screen.grab(monitor)).decision is Decision.KEEP
            total += 1
    return {"dedup.replay.kept_frames": metric(kept, "frames", total, "of all frames, each session from its first"),
            "dedup.replay.kept_share": metric(round(kept / total, 3), "share", total)}


def _median_ms(call: Callable[[], object], repeat: int = 200) -> float:
    call()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return round(statistics.median(times) * 1000, 2)


def timing(all_sessions: Sequence[Sequence[Path]]) -> Metrics:
    with Image.open(all_sessions[0][0]) as a, Image.open(all_sessions[0][-1]) as b:
        frame, other = (im.convert("RGB").resize((1920, 1080), Image.Resampling.BILINEAR) for im in (a, b))
    monitor = Monitor(0, 0, 0, 1920, 1080)
    frame_filter = FrameFilter()
    frame_filter.decide(monitor, frame)
    unchanged = _median_ms(lambda: frame_filter.decide(monitor, frame))
    flip = iter([other, frame] * 1000)
    changed = _median_ms(lambda: frame_filter.decide(monitor, next(flip)))
    vault = [WindowInfo("keepassxc", "Passwords.kdbx - KeePassXC", (100, 100, 800, 600))]
    blackout = _median_ms(lambda: frame_filter.decide(monitor, frame, None, vault))
    return {"capture.filter_ms": metric(unchanged, "ms", 200, "median FrameFilter.decide, unchanged 1920x1080 frame"),
            "capture.filter_keep_ms": metric(changed, "ms", 200, "changed frame: kept, with its changed region"),
            "capture.filter_blackout_ms": metric(blackout, "ms", 200, "unchanged, one 800x600 window blacked out")}


def run(argv: Sequence[str] | None = None) -> Metrics:
    all_sessions = sessions()
    if not all_sessions:
        raise SystemExit(f"no ScreenAgent sessions under {screens_dir()}; set ENGRAM_SHARED")
    pairs = labelled_pairs(all_sessions)
    return separation(pairs) | chosen(pairs) | regions(pairs) | replay(all_sessions) | timing(all_sessions)


if __name__ == "__main__":
    import json

    print(json.dumps(run(), indent=1))
