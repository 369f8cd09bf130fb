"""A key file belongs to one store (issue 20.6): another store's keys.json, even under the same passphrase, is
refused before anything is read or written, and key files and stores from before the binding are bound on
their first opening (once their key is shown to open what is stored)."""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from storage.keys import KeyFileError, KeyVault, VaultError, KdfParams, _aad, _hkdf, _recovery_header, _recovery_secret, _unb64, _wrap
from storage.memory import Memory
from storage.store import MemoryStore

from conftest import FAST_KDF, PASSPHRASE
from fakes import HashEmbedder

SCRIPT = Path(__file__).parent / "engram_process.py"


def new_store(home: Path, text: str | None) -> str:
    home.mkdir(parents=True, exist_ok=True)
    store, recovery_key = MemoryStore.create(PASSPHRASE, home=home, embedder=HashEmbedder(),
                                             embedder_name="all-MiniLM-L6-v2", kdf_seconds=FAST_KDF)
    if text:
        store.add([Memory("semantic", text)])
    store.close()
    return recovery_key


def open_store(home: Path, secret: str = PASSPHRASE) -> MemoryStore:
    return MemoryStore.open(secret, home=home, embedder=HashEmbedder(), embedder_name="all-MiniLM-L6-v2")


def snapshot(home: Path) -> dict[str, str]:
    """Every file's content (the lock file aside: it is only ever created, never written)."""
    return {str(p.relative_to(home)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(home.rglob("*")) if p.is_file() and p.name != ".writer.lock" and "logs" not in p.parts}


def make_unbound(home: Path, recovery_key: str) -> None:
    """Rewrite a store's key file and meta as an Engram before the binding wrote them (same data key)."""
    key_file, meta_file = home / "keys.json", home / "store" / "engram-store.json"
    vault = KeyVault.load(key_file)
    vault.unlock(PASSPHRASE)
    data_key = bytes(vault._data_key or b"")
    raw = json.loads(key_file.read_text())
    header = {"format": raw["format"], "kdf": raw["kdf"]}
    salt = raw["recovery"]["salt"]
    rkey = _hkdf(_recovery_secret(recovery_key), _unb64(salt), b"engram/recovery-wrap/v1")
    key_file.write_text(json.dumps({
        **header, "passphrase": _wrap(KdfParams.from_json(raw["kdf"]).derive(PASSPHRASE), data_key,
                                      _aad(header, b"passphrase")),
        "recovery": {"salt": salt, **_wrap(rkey, data_key, _aad(_recovery_header(salt), b"recovery"))}}))
    meta = json.loads(meta_file.read_text())
    meta.pop("store_id", None)
    meta.pop("key_check", None)
    meta_file.write_text(json.dumps(meta))


@pytest.fixture
def two_stores(tmp_path: Path) -> tuple[Path, Path, str, str]:
    ours, theirs = tmp_path / "ours", tmp_path / "theirs"
    return ours, theirs, new_store(ours, "our own memory"), new_store(theirs, "their memory")


def test_another_stores_key_file_under_the_same_passphrase_is_refused_before_any_write(two_stores) -> None:
    ours, theirs, _, _ = two_stores
    shutil.copy(theirs / "keys.json", ours / "keys.json")
    before = snapshot(ours)
    with pytest.raises(KeyFileError, match="another Engram store"):
        open_store(ours)
    assert snapshot(ours) == before


def test_engram_add_with_another_stores_key_file_says_so_and_writes_nothing(two_stores) -> None:
    ours, theirs, _, _ = two_stores
    shutil.copy(theirs / "keys.json", ours / "keys.json")
    before = snapshot(ours)
    env = {**os.environ, "ENGRAM_HOME": str(ours), "ENGRAM_PASSPHRASE": PASSPHRASE}
    added = subprocess.run([sys.executable, str(SCRIPT), str(ours), "cli", "add", "semantic", "written under the wrong key"],
                           env=env, text=True, capture_output=True, stdin=subprocess.DEVNULL, timeout=300)
    assert added.returncode == 1
    assert "another Engram store" in added.stderr and "Traceback" not in added.stderr
    assert snapshot(ours) == before


def test_an_empty_stores_key_file_is_refused_too(tmp_path: Path) -> None:
    ours, theirs = tmp_path / "ours", tmp_path / "theirs"
    new_store(ours, None)
    new_store(theirs, None)
    shutil.copy(theirs / "keys.json", ours / "keys.json")
    with pytest.raises(KeyFileError, match="another Engram store"):
        open_store(ours)


def test_the_store_id_in_the_key_file_cannot_be_edited(two_stores) -> None:
    ours, theirs, _, _ = two_stores
    mine = json.loads((ours / "keys.json").read_text())["store_id"]
    raw = json.loads((theirs / "keys.json").read_text())
    raw["store_id"] = mine  # claim to be ours: the wrap's associated data no longer matches
    (ours / "keys.json").write_text(json.dumps(raw))
    before = snapshot(ours)
    with pytest.raises(VaultError):  # the unwrap fails, as for any edit of the key file's header
        open_store(ours)
    assert snapshot(ours) == before


def test_an_older_key_file_and_store_are_bound_on_first_opening(two_stores) -> None:
    ours, _, recovery_key, _ = two_stores
    make_unbound(ours, recovery_key)
    store = open_store(ours)
    assert [m.text for m in store.list_range(kinds=["semantic"])] == ["our own memory"]
    store.close()
    store_id = json.loads((ours / "store" / "engram-store.json").read_text())["store_id"]
    assert json.loads((ours / "keys.json").read_text())["store_id"] == store_id
    # Both ways in still open it, bound now: the recovery key (binding its wrap too), then the passphrase.
    open_store(ours, recovery_key).close()
    assert json.loads((ours / "keys.json").read_text())["recovery"]["store_id"] == store_id
    open_store(ours).close()


def test_an_older_key_file_of_another_store_is_refused_and_nothing_is_bound(two_stores) -> None:
    ours, theirs, our_recovery, their_recovery = two_stores
    make_unbound(ours, our_recovery)
    make_unbound(theirs, their_recovery)
    shutil.copy(theirs / "keys.json", ours / "keys.json")
    before = snapshot(ours)
    with pytest.raises(KeyFileError, match="another Engram store"):
        open_store(ours)
    assert snapshot(ours) == before


def test_a_store_opened_with_the_recovery_key_before_binding_stays_openable_by_the_passphrase(two_stores) -> None:
    ours, _, recovery_key, _ = two_stores
    make_unbound(ours, recovery_key)
    open_store(ours, recovery_key).close()
    open_store(ours).close()
    raw = json.loads((ours / "keys.json").read_text())
    assert raw["store_id"] == raw["recovery"]["store_id"]


@pytest.mark.parametrize(("key", "value"), [
    ("iterations", 10**6), ("memory_kib", 16 * 1024 * 1024), ("memory_kib", 2**32), ("name", "scrypt"),
])
def test_a_key_file_asking_for_an_absurd_derivation_is_one_clear_line_from_engram(tmp_path: Path, key: str,
                                                                                   value: object) -> None:
    """The bounds checked by KeyVault (tests/test_keys.py) hold for the command line too: no hang, no traceback."""
    home = tmp_path / "home"
    new_store(home, "a memory")
    raw = json.loads((home / "keys.json").read_text())
    raw["kdf"][key] = value
    (home / "keys.json").write_text(json.dumps(raw))
    env = {**os.environ, "ENGRAM_HOME": str(home), "ENGRAM_PASSPHRASE": PASSPHRASE}
    stats = subprocess.run([sys.executable, str(SCRIPT), str(home), "cli", "stats"], env=env, text=True,
                           capture_output=True, stdin=subprocess.DEVNULL, timeout=300)  # a guard, not a speed assert
    assert stats.returncode == 1
    assert stats.stderr.startswith("engram: ") and stats.stderr.count("\n") == 1, stats.stderr
