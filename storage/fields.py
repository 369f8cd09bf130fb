"""Encryption of every text field in the store.

Each value is sealed with AES-256-GCM under the content key, a fresh random
nonce, and associated data "table|record id|column". A ciphertext moved to
another row or column (by a bug or by someone editing the files) therefore
fails to open, and is reported as tampered instead of being shown.

Layout of a sealed value: 1 version byte, 12 nonce bytes, ciphertext + 16-byte tag.
"""
from __future__ import annotations

import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

_VERSION = b"\x01"
_NONCE_BYTES = 12


class TamperedField(Exception):
    """A stored value does not decrypt for the place it was read from."""

    def __init__(self, table: str, record_id: str, column: str) -> None:
        super().__init__(f"{table} record {record_id}: field {column!r} failed its integrity check "
                         "(damaged or moved on disk); it is not shown")
        self.table, self.record_id, self.column = table, record_id, column


class FieldCipher:
    def __init__(self, content_key: bytes) -> None:
        self._aead = AESGCM(content_key)

    def seal(self, table: str, record_id: str, column: str, value: str) -> bytes:
        nonce = os.urandom(_NONCE_BYTES)
        return _VERSION + nonce + self._aead.encrypt(nonce, value.encode("utf-8"), _aad(table, record_id, column))

    def open(self, table: str, record_id: str, column: str, sealed: bytes) -> str:
        if len(sealed) < 1 + _NONCE_BYTES + 16 or sealed[:1] != _VERSION:
            raise TamperedField(table, record_id, column)
        nonce, body = sealed[1:1 + _NONCE_BYTES], sealed[1 + _NONCE_BYTES:]
        try:
            plain = self._aead.decrypt(nonce, body, _aad(table, record_id, column))
        except InvalidTag:
            raise TamperedField(table, record_id, column) from None
        return plain.decode("utf-8")


def _aad(table: str, record_id: str, column: str) -> bytes:
    return f"{table}|{record_id}|{column}".encode("utf-8")
