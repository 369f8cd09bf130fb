"""Small files replaced whole or not at all (keys, store metadata, settings)."""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any


def write_json_atomically(path: Path, data: dict[str, Any]) -> None:
    """Write-then-rename, fsynced, so a crash leaves the old file or the new one, never half."""
    write_bytes_atomically(path, json.dumps(data, indent=2, sort_keys=True).encode("utf-8"))


def write_bytes_atomically(path: Path, data: bytes) -> None:
    """Write-then-rename, fsynced, so a crash leaves the old file or the new one, never half."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)
    if hasattr(os, "O_DIRECTORY"):
        dir_fd = os.open(path.parent, os.O_DIRECTORY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
