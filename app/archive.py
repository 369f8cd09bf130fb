"""Export everything as one archive, and delete everything.

An export is a tar.gz of the data directory as it is on disk: the store (every
text field sealed), the encrypted screenshots, the wrapped key file and the
settings. Nothing in it is readable without the passphrase or the recovery key,
so it is an encrypted backup by construction; restoring is unpacking it as the
data directory of another machine. It is taken under the writer lock, so no
write lands half in it.
"""
from __future__ import annotations

import os
import shutil
import tarfile
from pathlib import Path
from typing import Any

from storage import paths

_PARTS = ("store", "blobs", "keys.json", "config.toml")


def export_archive(store: Any, destination: Path) -> Path:
    home = paths.home()
    destination = destination.expanduser()
    if destination.resolve().is_relative_to(home.resolve()):
        raise ValueError("choose a place outside Engram's own folder for the export")
    partial = destination.with_name(destination.name + ".partial")
    # The archive holds the key file: only the user may read it, wherever it is put.
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    if hasattr(os, "fchmod"):
        os.fchmod(fd, 0o600)  # a .partial left by an interrupted export keeps its old mode otherwise
    with os.fdopen(fd, "wb") as raw, store.writes_held():  # no commit in flight while the files are read
        with tarfile.open(fileobj=raw, mode="w:gz") as tar:
            for part in _PARTS:
                if (home / part).exists():
                    tar.add(home / part, arcname=f"engram/{part}", filter=_private_member)
    os.replace(partial, destination)
    return destination


def _private_member(info: tarfile.TarInfo) -> tarfile.TarInfo | None:
    """No lock files; every folder 0700 and file 0600, so a restore is private too."""
    if info.name.endswith(".lock"):
        return None
    info.mode = 0o700 if info.isdir() else 0o600
    return info


def restore_archive(archive: Path, home: Path) -> None:
    """Unpack an export as the data directory `home` (which must not hold a store yet)."""
    if (home / "keys.json").exists():
        raise ValueError(f"{home} already holds a store; restore into an empty place")
    with tarfile.open(archive, "r:gz") as tar:
        members = [m for m in tar.getmembers() if m.name.startswith("engram/")]
        for member in members:
            member.name = member.name[len("engram/"):]
        tar.extractall(home, members=[m for m in members if m.name], filter="data")


def erase_everything(home: Path | None = None) -> None:
    """Remove the data directory: store, screenshots, keys, settings, logs. Only after the user confirmed."""
    home = home or paths.home()
    if home.exists():
        shutil.rmtree(home)
