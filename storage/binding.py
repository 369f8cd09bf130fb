"""Which store a key file belongs to, checked before anything is read or written (issue 20.6).

Two stores under the same passphrase have different data keys: with the other's keys.json a store
would open (the passphrase unwraps it) and new rows would be sealed under a key that opens none of the
old ones. So the store's meta file records a random store id and a check value that only its own data
key can make, and the key file carries the same id in its wraps' associated data (storage/keys.py).

Stores and key files from before the binding have neither: the first opening binds them, once the key
is shown to open what is stored (a sealed field of a stored row; an empty store has nothing to lose).

A store that keeps a row ledger (storage/ledger.py) says so in its meta, and its check value covers that
too: a meta edited to say "no ledger" (so that a deleted ledger would be started again over rows changed
on disk) no longer passes.
"""
from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable
from typing import Any

from storage.codec import RowCodec
from storage.keys import KeyNotForThisStore, KeyVault, _hkdf, new_store_id

# How many stored rows to try before calling a key a stranger: one damaged row must not refuse the store.
SAMPLE_ROWS = 20


def is_bound(meta: dict[str, Any]) -> bool:
    return bool(meta.get("store_id")) and bool(meta.get("key_check"))


def check(meta: dict[str, Any], vault: KeyVault) -> None:
    """Refuse an unlocked key file that is not this bound store's. A key file of this store from before
    the binding (opened by a wrap not yet bound) is bound now."""
    store_id = str(meta["store_id"])
    if vault.store_id not in (None, store_id) or not hmac.compare_digest(
            str(meta["key_check"]), key_check(vault, store_id, ledger=meta.get("ledger") is True)):
        raise KeyNotForThisStore()
    if vault.store_id is None:
        vault.bind(store_id)


def stamp(vault: KeyVault) -> dict[str, str]:
    """What an unbound store's meta gains: the key file's store id (a new one for an older key file)
    and the check value of this key."""
    store_id = vault.store_id or new_store_id()
    return {"store_id": store_id, "key_check": key_check(vault, store_id)}


def key_opens(rows: Iterable[dict[str, Any]], codec: RowCodec) -> bool | None:
    """Whether the key opens any of these stored rows' sealed bodies (None: no rows to try)."""
    tried = False
    for row in rows:
        if row.get("body") is None:
            continue
        tried = True
        try:
            if codec.open_field(row, "body", []) is not None:
                return True
        except (KeyError, TypeError, ValueError):  # a row of an older layout that cannot be read this way
            continue
    return False if tried else None


def key_check(vault: KeyVault, store_id: str, ledger: bool = False) -> str:
    mac_key = _hkdf(vault.keys.content, b"", b"engram/store-key-check/v1")
    return hmac.new(mac_key, (store_id + ("|ledger" if ledger else "")).encode("ascii"), hashlib.sha256).hexdigest()
