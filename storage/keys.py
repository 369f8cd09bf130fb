"""The passphrase, the data key, and the sub-keys everything else is encrypted with.

A random 256-bit data key encrypts the store. It is never written in the clear:
`keys.json` holds it wrapped twice with AES-256-GCM, once under a key derived
from the passphrase with Argon2id and once under the recovery key shown at
creation. Each wrap binds the file's header (format, KDF parameters, salt) as
associated data, so editing the parameters to weaken them breaks the unwrap
instead of silently working. Changing the passphrase re-wraps the same data
key, so nothing in the store has to be re-encrypted.

A key file belongs to one store: the store's id is in each wrap's associated
data, so another store's keys.json (even under the same passphrase) cannot pass
for this one's by editing its id; the store checks the id (storage/binding.py).
Key files written before the binding carry no id and are bound when the store
they open is next opened (`bind`).
"""
from __future__ import annotations

import base64
import binascii
import json
import os
import secrets
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.argon2 import Argon2id
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from storage.atomic import write_json_atomically

FORMAT_VERSION = 1
MIN_MEMORY_MIB = 64
MAX_MEMORY_MIB = 4096
_LANES = 4
_MAX_LANES = 64
_MAX_ITERATIONS = 64


class VaultError(Exception):
    """Base class for key problems the user has to act on."""


class WrongPassphrase(VaultError):
    def __init__(self) -> None:
        super().__init__("Wrong passphrase (or recovery key). Nothing was changed.")


class KeyFileError(VaultError):
    """keys.json is missing, unreadable, or from an unknown format."""


class KeyNotForThisStore(KeyFileError):
    def __init__(self) -> None:
        super().__init__("this keys.json belongs to another Engram store (its key does not open this one); "
                         "nothing was read or written. Put this store's own keys.json back (an export holds a copy).")


class VaultLocked(VaultError):
    def __init__(self) -> None:
        super().__init__("The store is locked: unlock it with your passphrase first.")


@dataclass(frozen=True)
class SubKeys:
    """Independent keys for independent jobs, so one leak does not open the rest."""

    content: bytes
    index: bytes
    rotation: bytes
    blobs: bytes


@dataclass(frozen=True)
class KdfParams:
    memory_kib: int
    iterations: int
    lanes: int
    salt: bytes

    def derive(self, passphrase: str) -> bytes:
        kdf = Argon2id(
            salt=self.salt, length=32, iterations=self.iterations,
            lanes=self.lanes, memory_cost=self.memory_kib,
        )
        return kdf.derive(passphrase.encode("utf-8"))

    def to_json(self) -> dict[str, Any]:
        return {"name": "argon2id", "memory_kib": self.memory_kib, "iterations": self.iterations,
                "lanes": self.lanes, "salt": _b64(self.salt)}

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> "KdfParams":
        if raw.get("name") != "argon2id":
            raise KeyFileError(f"unknown key derivation {raw.get('name')!r}")
        try:
            params = cls(int(raw["memory_kib"]), int(raw["iterations"]), int(raw["lanes"]), _unb64(raw["salt"]))
        except (KeyError, ValueError, TypeError, AttributeError):
            raise KeyFileError("keys.json's key derivation settings are damaged") from None
        if params.memory_kib < MIN_MEMORY_MIB * 1024 or params.iterations < 1 or params.lanes < 1:
            # Never derive with parameters someone lowered to make guessing cheap.
            raise KeyFileError("keys.json asks for a weaker key derivation than Engram allows: "
                               "the file is damaged or was tampered with")
        if params.memory_kib > MAX_MEMORY_MIB * 1024 or params.iterations > _MAX_ITERATIONS \
                or params.lanes > _MAX_LANES:
            # Nor with parameters raised to hang the machine or exhaust its memory at unlock.
            raise KeyFileError("keys.json asks for a key derivation far costlier than Engram ever sets: "
                               "the file is damaged or was tampered with")
        return params

    @classmethod
    def tuned(cls, memory_mib: int, target_seconds: float) -> "KdfParams":
        """Pick the iteration count that makes one derivation take about `target_seconds` here."""
        memory_kib = max(memory_mib, MIN_MEMORY_MIB) * 1024
        probe = cls(memory_kib, 1, _LANES, os.urandom(16))
        started = time.perf_counter()
        probe.derive("calibration")
        one = max(time.perf_counter() - started, 1e-3)
        iterations = min(_MAX_ITERATIONS, max(1, round(target_seconds / one)))
        return cls(memory_kib, iterations, _LANES, os.urandom(16))


def generate_recovery_key() -> str:
    """160 random bits as 8 groups of 4 base32 characters: easy to write down."""
    raw = base64.b32encode(secrets.token_bytes(20)).decode("ascii")
    return "-".join(raw[i:i + 4] for i in range(0, len(raw), 4))


# Base32 has no 0, 1, 8 or 9: a 0 or a 1 read off the paper can only be an O or an I.
_LOOKALIKES = str.maketrans({"0": "O", "1": "I"})
_BASE32 = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567")


def _cleaned_recovery_key(text: str) -> str:
    return "".join(ch for ch in text.upper() if ch.isalnum()).translate(_LOOKALIKES)


def looks_like_recovery_key(text: str) -> bool:
    """32 base32 characters once case, dashes, spaces and 0/O, 1/I are forgiven: what `generate_recovery_key` makes."""
    cleaned = _cleaned_recovery_key(text)
    return len(cleaned) == 32 and set(cleaned) <= _BASE32 and all(ch.isalnum() or ch in "- " for ch in text.strip())


def _recovery_secret(recovery_key: str) -> bytes:
    cleaned = _cleaned_recovery_key(recovery_key)
    try:
        return base64.b32decode(cleaned)
    except (ValueError, binascii.Error):
        raise WrongPassphrase() from None


class KeyVault:
    """Holds the header of keys.json always, and the data key only while unlocked."""

    def __init__(self, path: Path, header: dict[str, Any], wraps: dict[str, Any]) -> None:
        self.path = path
        self._header = header
        self._wraps = wraps
        self._data_key: bytearray | None = None
        self._subkeys: SubKeys | None = None
        self.opened_with = ""   # "passphrase" or "recovery key" once unlocked
        # The store the wrap that opened the key is bound to (None: a key file from before the binding),
        # and while that wrap is unbound, the key that made it, so `bind` can make it again.
        self.store_id: str | None = None
        self._unbound_wrap: tuple[str, bytes] | None = None

    # -- creation and loading -------------------------------------------------

    @classmethod
    def create(cls, path: Path, passphrase: str, *, memory_mib: int = MIN_MEMORY_MIB,
               target_seconds: float = 1.0) -> tuple["KeyVault", str]:
        """Make a new data key; returns the unlocked vault and the recovery key (show it once)."""
        if path.exists():
            raise KeyFileError(f"{path} already exists: refusing to replace an existing key")
        if not passphrase:
            raise ValueError("the passphrase must not be empty")
        data_key = AESGCM.generate_key(bit_length=256)
        recovery_key = generate_recovery_key()
        vault = cls(path, {}, {})
        vault.store_id = new_store_id()
        vault._write_wraps(data_key, passphrase, KdfParams.tuned(memory_mib, target_seconds),
                           recovery_key=recovery_key)
        vault._set_key(data_key)
        return vault, recovery_key

    @classmethod
    def load(cls, path: Path) -> "KeyVault":
        """Read keys.json; the vault starts locked."""
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise KeyFileError(f"no store found at {path.parent} (run `engram init`)") from None
        except (OSError, ValueError) as exc:
            raise KeyFileError(f"{path} is unreadable: {exc}") from None
        if not isinstance(raw, dict) or raw.get("format") != FORMAT_VERSION:
            raise KeyFileError(f"{path} has an unknown format {raw.get('format') if isinstance(raw, dict) else '?'}")
        try:
            header = {"format": raw["format"], "kdf": raw["kdf"]}
            if "store_id" in raw:
                header["store_id"] = _checked_store_id(raw["store_id"])
            KdfParams.from_json(raw["kdf"])
            wraps = {"passphrase": raw["passphrase"], "recovery": raw["recovery"]}
        except (KeyError, TypeError, ValueError) as exc:
            raise KeyFileError(f"{path} is damaged: missing {exc}") from None
        return cls(path, header, wraps)

    # -- locking ------------------------------------------------------------------

    @property
    def is_unlocked(self) -> bool:
        return self._data_key is not None

    def unlock(self, passphrase: str) -> None:
        kdf = KdfParams.from_json(self._header["kdf"])
        wrapping = kdf.derive(passphrase)
        self._set_key(self._unwrap(wrapping, self._wraps["passphrase"], self._header, b"passphrase"))
        self.opened_with = "passphrase"
        self.store_id = self._header.get("store_id")
        self._unbound_wrap = None if self.store_id else ("passphrase", wrapping)

    def verify(self, passphrase: str) -> bool:
        """Whether `passphrase` is the right one, without changing anything (asked again before revealing a secret)."""
        kdf = KdfParams.from_json(self._header["kdf"])
        try:
            self._unwrap(kdf.derive(passphrase), self._wraps["passphrase"], self._header, b"passphrase")
        except WrongPassphrase:
            return False
        return True

    @property
    def unlocked_for(self) -> float:
        """Seconds since the last unlock (infinite when locked)."""
        return time.monotonic() - self._unlocked_at if self._data_key is not None else float("inf")

    def unlock_with_recovery_key(self, recovery_key: str) -> None:
        wrap = self._wraps["recovery"]
        wrapping = _hkdf(_recovery_secret(recovery_key), _unb64(wrap["salt"]), b"engram/recovery-wrap/v1")
        bound_to = _checked_store_id(wrap["store_id"]) if "store_id" in wrap else None
        self._set_key(self._unwrap(wrapping, wrap, _recovery_header(wrap["salt"], bound_to), b"recovery"))
        self.opened_with = "recovery key"
        self.store_id = bound_to
        self._unbound_wrap = None if bound_to else ("recovery", wrapping)

    def unlock_with_either(self, secret: str) -> str:
        """Unlock with the passphrase or the recovery key, whichever `secret` is; says which opened it.

        Wherever the passphrase is asked, the recovery key works too (the error message promises it). A
        secret shaped like a recovery key is tried as one first: that costs a hash, the passphrase a second."""
        if looks_like_recovery_key(secret):
            try:
                self.unlock_with_recovery_key(secret)
                return self.opened_with
            except WrongPassphrase:
                pass  # a passphrase that happens to look like a recovery key
        self.unlock(secret)
        return self.opened_with

    def lock(self) -> None:
        """Forget the keys. Best effort: Python may hold copies we cannot reach, the
        bytearray we own is zeroed so at least it does not linger."""
        if self._data_key is not None:
            for i in range(len(self._data_key)):
                self._data_key[i] = 0
        self._data_key = None
        self._subkeys = None
        self._unbound_wrap = None

    @property
    def keys(self) -> SubKeys:
        if self._subkeys is None:
            raise VaultLocked()
        return self._subkeys

    def change_passphrase(self, new_passphrase: str, *, memory_mib: int = MIN_MEMORY_MIB,
                          target_seconds: float = 1.0) -> None:
        """Re-wrap the (unlocked) data key under a new passphrase; the store is untouched."""
        if self._data_key is None:
            raise VaultLocked()
        if not new_passphrase:
            raise ValueError("the passphrase must not be empty")
        self._write_wraps(bytes(self._data_key), new_passphrase,
                          KdfParams.tuned(memory_mib, target_seconds), recovery_wrap=self._wraps["recovery"])

    def bind(self, store_id: str) -> None:
        """Bind the wrap that opened this (unlocked) key file to `store_id`: a key file written before the
        binding, once the store has shown that this key opens it. The other wrap is bound when it next
        opens the store (making it again needs its own secret)."""
        if self._data_key is None:
            raise VaultLocked()
        if self.store_id is not None:
            if self.store_id != store_id:
                raise KeyNotForThisStore()
            return
        assert self._unbound_wrap is not None
        which, wrapping = self._unbound_wrap
        data_key = bytes(self._data_key)
        header, wraps = dict(self._header), dict(self._wraps)
        if which == "passphrase":
            header["store_id"] = store_id
            wraps["passphrase"] = _wrap(wrapping, data_key, _aad(header, b"passphrase"))
        else:
            salt = wraps["recovery"]["salt"]
            wraps["recovery"] = {"salt": salt, "store_id": store_id,
                                 **_wrap(wrapping, data_key, _aad(_recovery_header(salt, store_id), b"recovery"))}
        write_json_atomically(self.path, {**header, **wraps})
        self._header, self._wraps = header, wraps
        self.store_id, self._unbound_wrap = store_id, None

    # -- internals ----------------------------------------------------------------

    def _set_key(self, data_key: bytes) -> None:
        self._data_key = bytearray(data_key)
        self._unlocked_at = time.monotonic()
        self._subkeys = SubKeys(
            content=_hkdf(data_key, b"", b"engram/content/v1"),
            index=_hkdf(data_key, b"", b"engram/blind-index/v1"),
            rotation=_hkdf(data_key, b"", b"engram/vector-rotation/v1"),
            blobs=_hkdf(data_key, b"", b"engram/blobs/v1"),
        )

    def _unwrap(self, wrapping_key: bytes, wrap: dict[str, Any], header: dict[str, Any], purpose: bytes) -> bytes:
        try:
            return AESGCM(wrapping_key).decrypt(
                _unb64(wrap["nonce"]), _unb64(wrap["ciphertext"]), _aad(header, purpose))
        except (InvalidTag, KeyError, ValueError):
            raise WrongPassphrase() from None

    def _write_wraps(self, data_key: bytes, passphrase: str, kdf: KdfParams, *,
                     recovery_key: str | None = None, recovery_wrap: dict[str, Any] | None = None) -> None:
        header: dict[str, Any] = {"format": FORMAT_VERSION, "kdf": kdf.to_json()}
        if self.store_id is not None:
            header["store_id"] = self.store_id
        wraps: dict[str, Any] = {"passphrase": _wrap(kdf.derive(passphrase), data_key, _aad(header, b"passphrase"))}
        if recovery_key is not None:
            salt = _b64(os.urandom(16))
            rkey = _hkdf(_recovery_secret(recovery_key), _unb64(salt), b"engram/recovery-wrap/v1")
            wraps["recovery"] = {"salt": salt, **({"store_id": self.store_id} if self.store_id else {}),
                                 **_wrap(rkey, data_key, _aad(_recovery_header(salt, self.store_id), b"recovery"))}
        else:
            # The recovery wrap has its own header, so a new passphrase leaves it valid.
            wraps["recovery"] = recovery_wrap
        write_json_atomically(self.path, {**header, **wraps})
        self._header, self._wraps = header, wraps


def new_store_id() -> str:
    return secrets.token_hex(16)


def _checked_store_id(value: Any) -> str:
    if not (isinstance(value, str) and len(value) == 32 and all(c in "0123456789abcdef" for c in value)):
        raise KeyFileError("keys.json's store id is damaged")
    return value


def _recovery_header(salt: str, store_id: str | None = None) -> dict[str, Any]:
    header: dict[str, Any] = {"format": FORMAT_VERSION, "kdf": {"name": "hkdf-sha256", "salt": salt}}
    if store_id is not None:
        header["store_id"] = store_id
    return header


def _aad(header: dict[str, Any], purpose: bytes) -> bytes:
    return json.dumps(header, sort_keys=True, separators=(",", ":")).encode() + b"|" + purpose


def _wrap(wrapping_key: bytes, data_key: bytes, aad: bytes) -> dict[str, str]:
    nonce = os.urandom(12)
    return {"nonce": _b64(nonce), "ciphertext": _b64(AESGCM(wrapping_key).encrypt(nonce, data_key, aad))}


def _hkdf(key: bytes, salt: bytes, info: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=salt or None, info=info).derive(key)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.b64decode(text.encode("ascii"), validate=True)
