"""Where Engram keeps things on each OS.

Everything lives under one data directory so that "delete everything" and the
canary scan have one place to look. `ENGRAM_HOME` overrides it (tests point it
at a temp dir; power users put it on an encrypted volume).
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

APP_NAME = "engram"


def home() -> Path:
    """The root of everything Engram writes."""
    override = os.environ.get("ENGRAM_HOME")
    if override:
        return Path(override).expanduser()
    if sys.platform == "win32":
        base = Path(os.environ.get("LOCALAPPDATA", Path.home() / "AppData" / "Local"))
        return base / "Engram"
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Application Support" / "Engram"
    base = Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")
    return base / APP_NAME


def config_file() -> Path:
    """Settings (not secrets, not memories): plain TOML the user may edit."""
    return home() / "config.toml"


def key_file() -> Path:
    """The wrapped data key and its KDF header."""
    return home() / "keys.json"


def store_dir() -> Path:
    """The LanceDB database (every text field inside it is ciphertext)."""
    return home() / "store"


def blob_dir() -> Path:
    """Encrypted screenshots and thumbnails."""
    return home() / "blobs"


def model_dir() -> Path:
    """Models assembled from packaged wheels on first use."""
    return home() / "models"


def log_dir() -> Path:
    """Logs: events and errors only, never captured content."""
    return home() / "logs"


def ensure(path: Path) -> Path:
    """Create a directory only the user can read."""
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    return path
