"""Where Engram keeps things on each OS.

Everything lives under one data directory so that "delete everything" and the
canary scan have one place to look. `ENGRAM_HOME` overrides it (tests point it
at a temp dir; power users put it on an encrypted volume).
"""
from __future__ import annotations

import logging
import os
import stat
import sys
from pathlib import Path

APP_NAME = "engram"
log = logging.getLogger(__name__)


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
    """Create a directory only the user can read, and so every missing folder above it (`mkdir`'s
    `parents` would make those with the umask's mode, commonly 0755: the data directory itself)."""
    for folder in reversed([p for p in (path, *path.parents) if not p.exists()]):
        folder.mkdir(mode=0o700, exist_ok=True)
    return path


def keep_private() -> None:
    """From now on every file and folder this process creates is the user's alone (0600/0700): LanceDB,
    tarfile and logging create theirs with the process umask, commonly 0022 (anyone may read them)."""
    os.umask(0o077)


def make_private(root: Path) -> None:
    """Take group and other permissions off everything under `root`, as earlier versions left it (0755
    folders, 0644 files). A look at the top costs a few calls; the whole tree is walked only when
    something there is loose, so this runs on every open."""
    if sys.platform == "win32" or not root.is_dir():
        return
    top = [root, *root.iterdir(), *(root / "store").glob("*")]
    if not any(_loose(p) for p in top):
        return
    log.info("making the data directory private (0700 folders, 0600 files)")
    for folder, _, files in os.walk(root):
        for path in [Path(folder), *(Path(folder) / name for name in files)]:
            mode = _loose(path)
            if mode is not None:
                try:
                    path.chmod(mode & ~0o077)
                except OSError as exc:  # not ours (another user's file put there): say so, go on
                    log.warning("cannot make %s private (%s)", path, exc.strerror)


def _loose(path: Path) -> int | None:
    """The mode of a file or folder that others may use (not of a symbolic link), else None."""
    try:
        info = path.lstat()
    except OSError:
        return None
    mode = stat.S_IMODE(info.st_mode)
    return mode if mode & 0o077 and not stat.S_ISLNK(info.st_mode) else None
