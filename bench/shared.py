"""Where the benchmarks find ../shared (LoCoMo, real screens): beside the checkout, or ENGRAM_SHARED."""
from __future__ import annotations

import os
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def shared_dir() -> Path:
    path = Path(os.environ.get("ENGRAM_SHARED", REPO.parent / "shared"))
    if not (path / "data").is_dir():
        raise SystemExit(f"benchmark data not found at {path}: set ENGRAM_SHARED to the folder holding data/")
    return path


def locomo_path() -> Path:
    return shared_dir() / "data" / "locomo" / "locomo10.json"


def screens_dir() -> Path:
    return shared_dir() / "data" / "screens" / "screenagent"
