"""Screen recall: does searching a few words seen on a screen bring that screen back?

Every ScreenAgent screenshot in ../shared (real Linux and Windows desktops, some Chinese-language) is read by
Engram's OCR (RapidOCR, word boxes joined the way the OCR worker joins them) and stored as a frame in one
encrypted store with the real all-MiniLM-L6-v2 embedder. The queries come from a *different* reader, Tesseract,
so they are words a person saw, not words our OCR happened to get right: per screen, a short query (2 words) and
a long one (4 words) drawn at random (fixed seed) from its Tesseract words that are dictionary words (whole words
of MiniLM's WordPiece vocabulary, 4+ letters, not stop words) and not on more than a fifth of the screens. A hit
is the screen itself or any other screen whose Tesseract reading holds every query word (a repeat of the same
page is as good an answer). Searched with the app's default options (time words and recency prior on, "now" the
day after the last screen) in keyword, vector and hybrid modes; R@k = share of queries with a hit in the top k.
The fusion's settings (vector weight 0.5; 1-2 word queries in keyword order) were chosen on these queries and on
LoCoMo's, so the margins are in-sample.

OCR readings are cached in bench/.data/ (public benchmark images, not user data), keyed by the OCR code's hash.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import random
import re
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from bench.locomo_retrieval import CachedEmbedder
from bench.results import DATA_DIR, Metrics, metric
from bench.shared import REPO, screens_dir

KS = (1, 5, 10)
MODES = ("keyword", "vector", "hybrid")
LENGTHS = {"short": 2, "long": 4}
READINGS = DATA_DIR / "screen_readings.json"
_STOP = frozenset("""about above after again against also been before being below between both cannot could does
doing down during each from further have having here into itself just more most myself once only other over same
should some such than that their theirs them then there these they this those through under until very were what
when where which while whom will with would your yours yourself""".split())
_WORD = re.compile(r"[a-z]{4,}")

METHODS = {"screens": __doc__.split("\n\n", 1)[1].split("\n\nOCR readings")[0].replace("\n", " ")}


@dataclass(frozen=True)
class Screen:
    path: Path
    time: datetime
    stored_text: str      # what Engram's OCR read and the store keeps
    seen_words: frozenset[str]  # Tesseract's reading: the words a person could type


def _ocr_fingerprint() -> str:
    code = b"".join((REPO / p).read_bytes() for p in ("app/capture/ocr.py", "app/capture/ocr_worker.py"))
    return hashlib.sha256(code).hexdigest()[:16]


def read_screens(paths: Sequence[Path]) -> list[Screen]:
    """Both readings of every screen, from the cache where the OCR code is unchanged."""
    from PIL import Image

    from app.capture.ocr_worker import assemble_text
    from app.capture.ocr import RapidOcrEngine, TesseractEngine

    fingerprint = _ocr_fingerprint()
    cache: dict[str, Any] = json.loads(READINGS.read_text()) if READINGS.exists() else {}
    if cache.get("ocr") != fingerprint:
        cache = {"ocr": fingerprint, "tesseract": cache.get("tesseract", {}), "rapidocr": {}}
    rapid, tesseract = RapidOcrEngine(), TesseractEngine()
    screens, started = [], time.perf_counter()
    for i, path in enumerate(paths):
        key = str(path.relative_to(screens_dir()))
        if key not in cache["rapidocr"] or key not in cache["tesseract"]:
            with Image.open(path) as image:
                if key not in cache["rapidocr"]:
                    cache["rapidocr"][key] = assemble_text(rapid.read(image).words)
                if key not in cache["tesseract"]:
                    cache["tesseract"][key] = tesseract.read(image).text
            if i % 20 == 0:
                READINGS.parent.mkdir(parents=True, exist_ok=True)
                READINGS.write_text(json.dumps(cache))
                print(f"  read {i + 1}/{len(paths)} screens, {time.perf_counter() - started:.0f} s", flush=True)
        stamp = datetime.strptime(path.stem[:19], "%Y-%m-%d_%H-%M-%S").replace(tzinfo=timezone.utc)
        screens.append(Screen(path, stamp, cache["rapidocr"][key],
                              frozenset(_WORD.findall(cache["tesseract"][key].lower()))))
    READINGS.parent.mkdir(parents=True, exist_ok=True)
    READINGS.write_text(json.dumps(cache))
    return screens


def dictionary() -> frozenset[str]:
    """Whole English words: MiniLM's WordPiece vocabulary without sub-word pieces."""
    from storage.minilm import MiniLMEmbedder

    tokenizer = MiniLMEmbedder()._loaded()[0]
    return frozenset(w for w in tokenizer.get_vocab() if _WORD.fullmatch(w) and w not in _STOP)


def make_queries(screens: Sequence[Screen], vocabulary: frozenset[str],
                 seed: int = 7) -> list[tuple[str, str, frozenset[int]]]:
    """(length name, query, indexes of the screens that answer it)."""
    df = Counter(w for s in screens for w in s.seen_words)
    rare = {w for w, n in df.items() if n <= max(1, len(screens) // 5)}
    rng = random.Random(seed)
    queries = []
    for i, screen in enumerate(screens):
        candidates = sorted(screen.seen_words & vocabulary & rare)
        for name, n in LENGTHS.items():
            if len(candidates) < n:
                continue
            chosen = rng.sample(candidates, n)
            answers = frozenset(j for j, s in enumerate(screens) if set(chosen) <= s.seen_words) | {i}
            queries.append((name, " ".join(chosen), answers))
    return queries


def run(argv: Sequence[str] = ()) -> Metrics:
    from storage.memory import Memory
    from storage.search import SearchOptions
    from storage.store import MemoryStore

    parser = argparse.ArgumentParser(prog="bench.screen_recall")
    parser.add_argument("--limit", type=int, default=0, help="only the first N screens (0: all)")
    args, _ = parser.parse_known_args(list(argv))
    paths = sorted(screens_dir().glob("*/images/*.jpg"))
    paths = paths[: args.limit] if args.limit else paths
    screens = read_screens(paths)
    queries = make_queries(screens, dictionary())
    now = max(s.time for s in screens) + timedelta(days=1)
    embedder = CachedEmbedder()
    found: dict[tuple[str, str], list[int | None]] = {(m, n): [] for m in MODES for n in LENGTHS}
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="engram-screens-") as tmp:
        store, _ = MemoryStore.create("bench passphrase", home=Path(tmp), embedder=embedder,
                                      embedder_name="all-MiniLM-L6-v2", kdf_seconds=0.05)
        frames = [Memory(kind="frame", text=s.stored_text, time=s.time, source_kind="screen") for s in screens]
        store.add(frames)
        store.build_indexes()
        embedder.save()
        index_of = {f.id: i for i, f in enumerate(frames)}
        for length, query, answers in queries:
            for mode in MODES:
                hits = store.search(query, SearchOptions(k=max(KS), mode=mode), now=now).hits
                ranks = [r for r, h in enumerate(hits) if index_of[h.id] in answers]
                found[(mode, length)].append(ranks[0] if ranks else None)
        store.close()
    embedder.save()
    out: Metrics = {}
    for k in KS:
        for mode in MODES:
            rows = found[(mode, "short")] + found[(mode, "long")]
            out[f"screens.recall_at_{k}.{mode}"] = metric(_recall(rows, k), "R@k", len(rows),
                                                           f"{len(screens)} screens, short and long queries")
            for length in LENGTHS:
                rows = found[(mode, length)]
                out[f"screens.recall_at_{k}.{mode}.{length}"] = metric(
                    _recall(rows, k), "R@k", len(rows), f"{LENGTHS[length]}-word queries")
    print(f"  {len(screens)} screens, {len(queries)} queries, {time.perf_counter() - started:.0f} s search",
          flush=True)
    return out


def _recall(ranks: list[int | None], k: int) -> float:
    return round(sum(r is not None and r < k for r in ranks) / len(ranks), 4) if ranks else float("nan")


if __name__ == "__main__":
    import sys

    from bench import results

    results.merge(run(sys.argv[1:]))
    results.render(results.collected_methods())
