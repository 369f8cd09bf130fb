"""The screens a year of use replays: every ScreenAgent screenshot in ../shared read once by the app's OCR.

Reading a million pictures is out of reach (seconds each here), so each public screenshot is read once with
`RapidOcrEngine` and its words with their boxes are cached in bench/.data/year/ (public benchmark images, not
user data), keyed by the OCR code's hash; the fill replays them and their generated variations.
"""
from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.results import DATA_DIR
from bench.shared import REPO, screens_dir

YEAR_DIR = DATA_DIR / "year"
READINGS = YEAR_DIR / "screen_words.json"


@dataclass(frozen=True)
class Screen:
    key: str                                          # path under the screens folder
    path: Path
    words: tuple[tuple[str, int, int, int, int], ...]  # text, x, y, w, h as the OCR read them


def _fingerprint() -> str:
    code = b"".join((REPO / p).read_bytes() for p in ("app/capture/ocr.py",))
    return hashlib.sha256(code).hexdigest()[:16]


def screen_paths() -> list[Path]:
    return sorted(screens_dir().glob("*/images/*.jpg"))


def read_screens(limit: int = 0) -> list[Screen]:
    """Every screenshot's words, read now where the cache lacks them (saved every few screens, so an
    interrupted reading resumes)."""
    paths = screen_paths()[: limit or None]
    fingerprint = _fingerprint()
    cache: dict[str, Any] = json.loads(READINGS.read_text()) if READINGS.exists() else {}
    if cache.get("ocr") != fingerprint:
        cache = {"ocr": fingerprint, "words": {}}
    missing = [p for p in paths if _key(p) not in cache["words"]]
    if missing:
        _read_into(cache, missing)
    return [Screen(_key(p), p, tuple(tuple(w) for w in cache["words"][_key(p)])) for p in paths]


def cached_screens(keys: list[str] | None = None) -> list[Screen]:
    """The screens read so far (or these), without reading any: a fill replays the screens it began with."""
    cache: dict[str, Any] = json.loads(READINGS.read_text()) if READINGS.exists() else {"words": {}}
    words = cache["words"]
    chosen = keys if keys is not None else sorted(words)
    missing = [k for k in chosen if k not in words]
    if missing:
        raise SystemExit(f"{len(missing)} screens of this fill are not in {READINGS} (OCR code changed?)")
    return [Screen(k, screens_dir() / k, tuple(tuple(w) for w in words[k])) for k in chosen]


def _key(path: Path) -> str:
    return str(path.relative_to(screens_dir()))


def _read_into(cache: dict[str, Any], paths: list[Path]) -> None:
    from PIL import Image

    from app.capture.ocr import RapidOcrEngine

    engine, started = RapidOcrEngine(), time.perf_counter()
    for i, path in enumerate(paths, 1):
        with Image.open(path) as image:
            cache["words"][_key(path)] = [[w.text, *w.box] for w in engine.read(image.convert("RGB")).words]
        if i % 10 == 0 or i == len(paths):
            _save(cache)
            print(f"  read {i}/{len(paths)} screens, {time.perf_counter() - started:.0f} s", flush=True)


def _save(cache: dict[str, Any]) -> None:
    YEAR_DIR.mkdir(parents=True, exist_ok=True)
    tmp = READINGS.with_suffix(".tmp")
    tmp.write_text(json.dumps(cache))
    tmp.replace(READINGS)


if __name__ == "__main__":
    print(f"{len(read_screens())} screens read")
