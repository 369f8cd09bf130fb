"""Everything Engram writes is the user's alone: 0700 folders and 0600 files in the data directory and in an
export, whatever the process umask, and a store written with looser modes is tightened when it is opened.
A new passphrase follows one rule in `init` and `passwd`."""
from __future__ import annotations

import io
import os
import stat
import sys
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.archive import export_archive
from storage.memory import Memory
from storage.store import MemoryStore

from conftest import FAST_KDF, PASSPHRASE
from fakes import HashEmbedder

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX file modes")


@pytest.fixture
def usual_umask() -> Iterator[None]:
    """The umask most desktops start programs with: files 0644, folders 0755 unless asked otherwise."""
    previous = os.umask(0o022)
    yield
    os.umask(previous)


def _loose(root: Path) -> list[str]:
    """Everything under (and including) `root` that anyone but the user may read, write or enter."""
    found = [root, *root.rglob("*")]
    return sorted(f"{oct(stat.S_IMODE(p.lstat().st_mode))} {p.relative_to(root.parent)}"
                  for p in found if stat.S_IMODE(p.lstat().st_mode) & 0o077)


def _filled_store(home: Path) -> MemoryStore:
    store, _ = MemoryStore.create(PASSPHRASE, home=home, embedder=HashEmbedder(), kdf_seconds=FAST_KDF)
    store.add([Memory("semantic", "Anna prefers green tea"), Memory("message", "see you at eight",
                                                                     {"speaker": "Ana", "conversation": "c"})])
    store.blobs.put(b"a screenshot")
    store.build_indexes(vector_min_rows=1)
    return store


def test_a_new_store_and_its_export_are_private(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                usual_umask: None) -> None:
    home = tmp_path / "new" / "engram"  # neither exists yet: Engram makes both levels
    monkeypatch.setenv("ENGRAM_HOME", str(home))
    store = _filled_store(home)
    try:
        archive = export_archive(store, tmp_path / "backup.tar.gz")
    finally:
        store.close()
    assert _loose(home) == []
    assert stat.S_IMODE(archive.stat().st_mode) == 0o600
    with tarfile.open(archive) as tar:
        assert [m.name for m in tar.getmembers() if m.mode & 0o077] == []


def test_opening_a_store_with_loose_modes_makes_it_private(home: Path, usual_umask: None) -> None:
    _filled_store(home).close()
    for path in [home, *home.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)  # as earlier versions left it
    assert _loose(home)
    MemoryStore.open(PASSPHRASE, home=home, embedder=HashEmbedder()).close()
    assert _loose(home) == []


@pytest.mark.parametrize("command", [["init"], ["passwd"]])
def test_init_and_passwd_refuse_a_passphrase_shorter_than_8(home: Path, monkeypatch: pytest.MonkeyPatch,
                                                            capsys: pytest.CaptureFixture[str],
                                                            command: list[str]) -> None:
    from app.cli import main

    (home / "config.toml").write_text("[security]\nkdf_target_seconds = 0.01\n")
    if command == ["passwd"]:
        MemoryStore.create(PASSPHRASE, home=home, embedder=HashEmbedder(), kdf_seconds=FAST_KDF)[0].close()
        monkeypatch.setenv("ENGRAM_PASSPHRASE", PASSPHRASE)
        monkeypatch.setattr("sys.stdin", io.StringIO("x\n"))  # the new passphrase, from a script
    else:
        monkeypatch.setenv("ENGRAM_PASSPHRASE", "x")
    keys = home / "keys.json"
    before = keys.read_bytes() if keys.exists() else None
    assert main(command) == 1
    assert "at least 8 characters" in capsys.readouterr().err
    assert (keys.read_bytes() if keys.exists() else None) == before
