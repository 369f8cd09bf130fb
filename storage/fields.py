"""Encryption of every text field in the store.

Each value is sealed with AES-256-GCM under the content key, a fresh random
nonce, and associated data "table|record id|column". A ciphertext moved to
another row or column (by a bug or by someone editing the files) therefore
fails to open, and is reported as tampered instead of being shown.

Layout of a sealed value: 1 version byte, 12 nonce bytes, ciphertext + 16-byte tag.
Version 1 holds the UTF-8 text; version 2 the text deflated (zlib) before it was
encrypted, used when that saves at least a tenth: a screen's text with its word
boxes shrinks to about a third, which is most of what capture writes per hour.
Versions 3 and 4 are 1 and 2 with the row's meaningful clear columns also in the
associated data (`bound`, see storage/codec.py): editing them on disk makes every
sealed field of the row fail its check. Stores from before are upgraded (schema 6);
after that only 3 and 4 are accepted where a row is bound (`legacy=False`).
(Compression reveals how repetitive a value is through its length; for data at
rest with secrets masked before storage, that is worth the disk it saves.)
"""
from __future__ import annotations

import os
import zlib

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

_VERSION = b"\x01"
_DEFLATED = b"\x02"
_BOUND = b"\x03"
_BOUND_DEFLATED = b"\x04"
_UNBOUND_VERSIONS = (_VERSION, _DEFLATED)
_BOUND_VERSIONS = (_BOUND, _BOUND_DEFLATED)
_NONCE_BYTES = 12
_COMPRESS_FROM = 256  # bytes; below this the zlib header eats the gain


class TamperedField(Exception):
    """A stored value does not decrypt for the place it was read from."""

    def __init__(self, table: str, record_id: str, column: str) -> None:
        super().__init__(f"{table} record {record_id}: field {column!r} failed its integrity check "
                         "(damaged or moved on disk); it is not shown")
        self.table, self.record_id, self.column = table, record_id, column


class FieldCipher:
    def __init__(self, content_key: bytes) -> None:
        self._aead = AESGCM(content_key)

    def seal(self, table: str, record_id: str, column: str, value: str, bound: str | None = None) -> bytes:
        nonce = os.urandom(_NONCE_BYTES)
        plain, deflated = value.encode("utf-8"), False
        if len(plain) >= _COMPRESS_FROM:
            smaller = zlib.compress(plain, 6)
            if len(smaller) <= 0.9 * len(plain):
                plain, deflated = smaller, True
        if bound is None:
            version = _DEFLATED if deflated else _VERSION
        else:
            version = _BOUND_DEFLATED if deflated else _BOUND
        return version + nonce + self._aead.encrypt(nonce, plain, _aad_of(version, table, record_id, column, bound))

    def open(self, table: str, record_id: str, column: str, sealed: bytes, bound: str | None = None,
             legacy: bool = True) -> str:
        """`bound`: the clear values the value was sealed with; `legacy`: whether a value sealed without
        them (versions 1 and 2) is still accepted in its place."""
        version = sealed[:1]
        accepted: tuple[bytes, ...] = _BOUND_VERSIONS if bound is not None else ()
        if legacy or bound is None:
            accepted += _UNBOUND_VERSIONS
        if len(sealed) < 1 + _NONCE_BYTES + 16 or version not in accepted:
            raise TamperedField(table, record_id, column)
        nonce, body = sealed[1:1 + _NONCE_BYTES], sealed[1 + _NONCE_BYTES:]
        try:
            plain = self._aead.decrypt(nonce, body, _aad_of(version, table, record_id, column, bound))
            if version in (_DEFLATED, _BOUND_DEFLATED):
                plain = zlib.decompress(plain)
        except (InvalidTag, zlib.error):
            raise TamperedField(table, record_id, column) from None
        return plain.decode("utf-8")

    @staticmethod
    def is_bound(sealed: bytes) -> bool:
        return sealed[:1] in _BOUND_VERSIONS


def _aad_of(version: bytes, table: str, record_id: str, column: str, bound: str | None) -> bytes:
    # A deflated value's tag covers its version byte: flipping 2 to 1 fails the check instead of
    # showing compressed bytes as text. (Version 1 values predate this and stay readable.) A bound one's
    # covers its version and the clear values, so it cannot pass for an unbound one either.
    if version in _BOUND_VERSIONS:
        return _aad(table, record_id, column) + version + b"|" + (bound or "").encode("utf-8")
    return _aad(table, record_id, column) + (version if version == _DEFLATED else b"")


def _aad(table: str, record_id: str, column: str) -> bytes:
    return f"{table}|{record_id}|{column}".encode("utf-8")
