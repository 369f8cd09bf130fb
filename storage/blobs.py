"""Encrypted files beside the table: screenshots and thumbnails.

Images are too big for table rows (they would bloat every compaction), so
each is its own file under blobs/, sealed with AES-256-GCM under the blob key
with the blob id as associated data: a file renamed to another id fails to
open. Writes go to a temp name in the same directory and are renamed into
place, so a crash leaves either a whole blob or none.
"""
from __future__ import annotations

import os
import secrets
from collections.abc import Iterable
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

_VERSION = b"\x01"
_NONCE_BYTES = 12


class TamperedBlob(ValueError):
    """A ValueError, like any other unreadable picture: whoever shows pictures says this one is damaged."""

    def __init__(self, blob_id: str) -> None:
        super().__init__(f"this screen's picture is damaged: image file {blob_id} failed its integrity check "
                         "(changed or moved on disk)")
        self.blob_id = blob_id


class BlobStore:
    def __init__(self, root: Path, blob_key: bytes) -> None:
        self.root = root
        self._aead = AESGCM(blob_key)

    def put(self, data: bytes) -> str:
        """Seal and store `data`; returns its new id."""
        blob_id = secrets.token_hex(16)
        nonce = os.urandom(_NONCE_BYTES)
        sealed = _VERSION + nonce + self._aead.encrypt(nonce, data, blob_id.encode("ascii"))
        path = self._path(blob_id)
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        tmp = path.with_name(path.name + ".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(sealed)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
        return blob_id

    def get(self, blob_id: str) -> bytes:
        try:
            sealed = self._path(blob_id).read_bytes()
        except FileNotFoundError:
            raise KeyError(f"no image {blob_id} (forgotten, or removed by retention)") from None
        if sealed[:1] != _VERSION or len(sealed) < 1 + _NONCE_BYTES + 16:
            raise TamperedBlob(blob_id)
        try:
            return self._aead.decrypt(sealed[1:1 + _NONCE_BYTES], sealed[1 + _NONCE_BYTES:], blob_id.encode("ascii"))
        except InvalidTag:
            raise TamperedBlob(blob_id) from None

    def delete(self, blob_ids: Iterable[str]) -> int:
        removed = 0
        for blob_id in blob_ids:
            try:
                self._path(blob_id).unlink()
                removed += 1
            except (FileNotFoundError, KeyError):  # already gone, or never one of ours
                pass
        return removed

    def ids(self) -> set[str]:
        """Every stored blob (for sweeping orphans a crash may have left)."""
        return {p.name for p in self.root.glob("*/*") if p.is_file() and not p.name.endswith(".tmp")}

    def bytes_on_disk(self, blob_ids: Iterable[str] | None = None) -> int:
        """All stored blobs' size on disk, or only these ones'."""
        if blob_ids is None:
            return sum(p.stat().st_size for p in self.root.glob("*/*") if p.is_file())
        return sum(self._path(i).stat().st_size for i in blob_ids)

    def _path(self, blob_id: str) -> Path:
        if len(blob_id) != 32 or not all(c in "0123456789abcdef" for c in blob_id):
            raise KeyError(f"not an image id: {blob_id!r}")
        return self.root / blob_id[:2] / blob_id  # 256 subfolders keep directories small
