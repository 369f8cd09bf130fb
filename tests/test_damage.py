"""Damaged files (issue 20.4): a broken Lance data, index or version file, or a screenshot file, is reported
in one line; `engram repair` says what is lost, asks, and leaves the rest readable.

Real stores in a temp dir, real files damaged on disk, the real command line in a process of its own."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from storage.frame_pictures import webp
from storage.memory import Memory
from storage.search import SearchOptions
from storage.store import MemoryStore, StoreError

from conftest import FAST_KDF, PASSPHRASE
from fakes import HashEmbedder

SCRIPT = Path(__file__).parent / "engram_process.py"
BATCHES, PER_BATCH = 4, 5


@pytest.fixture
def filled(home: Path) -> Path:
    """A store written in four batches (a data file and a table version each), with its keyword index."""
    store, _ = MemoryStore.create(PASSPHRASE, home=home, embedder=HashEmbedder(), embedder_name="all-MiniLM-L6-v2",
                                  kdf_seconds=FAST_KDF)
    for batch in range(BATCHES):
        store.add([Memory("semantic", f"batch{batch} fact {i} about green tea") for i in range(PER_BATCH)])
    store.close()
    return home


def engram_each(home: Path, *commands: list[str]) -> list[subprocess.CompletedProcess[str]]:
    """`engram` run once for each command, one after another in one process of their own: each opens the store
    afresh, its output is its own (LanceDB's and Rust's lines included), and the process's start is paid once."""
    env = {**os.environ, "ENGRAM_HOME": str(home), "ENGRAM_PASSPHRASE": PASSPHRASE, "RUST_BACKTRACE": "0"}
    ran = subprocess.run([sys.executable, str(SCRIPT), str(home), "clis", json.dumps(commands)], env=env, text=True,
                         capture_output=True, stdin=subprocess.DEVNULL, timeout=600)
    assert ran.returncode == 0, ran.stderr  # the process itself ended well (no abort under a command)
    return [subprocess.CompletedProcess(command, code, out, err)
            for command, (code, out, err) in zip(commands, json.loads(ran.stdout.splitlines()[-1]), strict=True)]


def table_dir(home: Path) -> Path:
    return home / "store" / "memories.lance"


def flip(path: Path, at: int) -> None:
    data = bytearray(path.read_bytes())
    data[at] ^= 0xFF
    path.write_bytes(bytes(data))


def data_files(home: Path) -> list[Path]:
    return sorted((table_dir(home) / "data").glob("*.lance"), key=lambda p: p.stat().st_mtime_ns)


def newest_manifest(home: Path) -> Path:
    return sorted((table_dir(home) / "_versions").glob("*.manifest"))[0]  # names count down from 2^64


DAMAGES = {
    "flipped data file footer": lambda home: flip(data_files(home)[1], data_files(home)[1].stat().st_size - 8),
    "truncated data file": lambda home: data_files(home)[1].write_bytes(data_files(home)[1].read_bytes()[:100]),
    "missing data file": lambda home: data_files(home)[1].unlink(),
    "flipped index file": lambda home: [flip(p, p.stat().st_size - 8) for p in (table_dir(home) / "_indices").rglob("*.lance")],
    "flipped newest version file": lambda home: flip(newest_manifest(home), 485),
}


def shown_ok(result: subprocess.CompletedProcess[str]) -> bool:
    return result.returncode in (0, 1) and "Traceback" not in result.stderr and "panicked" not in result.stderr


@pytest.mark.slow  # the real command line in processes of its own
@pytest.mark.parametrize("damage", DAMAGES)
def test_damage_is_one_clear_line_that_names_the_repair(filled: Path, damage: str) -> None:
    DAMAGES[damage](filled)
    for result in engram_each(filled, ["stats"], ["search", "green tea"], ["add", "semantic", "written after the damage"]):
        command = result.args
        assert shown_ok(result), (command, result.stderr)
        if result.returncode:
            assert "damaged" in result.stderr and "engram repair" in result.stderr, (command, result.stderr)


@pytest.mark.slow  # the real command line in processes of its own
@pytest.mark.parametrize(("damage", "lost"), [
    ("flipped data file footer", PER_BATCH), ("truncated data file", PER_BATCH), ("missing data file", PER_BATCH),
    ("flipped index file", 0), ("flipped newest version file", PER_BATCH),
])
def test_repair_says_what_is_lost_asks_and_keeps_the_rest_readable(filled: Path, damage: str, lost: int) -> None:
    DAMAGES[damage](filled)
    # No terminal to ask in, no --yes: the first says what it would do and changes nothing.
    asked, repaired, stats, found, added, again = engram_each(
        filled, ["repair"], ["repair", "--yes"], ["stats", "--json"],
        ["search", "green tea", "-k", "50", "--mode", "keyword"], ["add", "semantic", "written after the repair"],
        ["repair"])
    assert shown_ok(asked), asked.stderr
    if lost:
        assert asked.returncode == 1 and "--yes" in asked.stderr
        assert "lost" in asked.stdout
        if "data file" in damage:
            assert f"{lost} memories" in asked.stdout
    assert repaired.returncode == 0, repaired.stderr
    assert stats.returncode == 0, stats.stderr
    assert f'"rows": {BATCHES * PER_BATCH - lost}' in stats.stdout
    assert found.returncode == 0, found.stderr
    assert found.stdout.count("green tea") == BATCHES * PER_BATCH - lost
    assert added.returncode == 0, added.stderr
    assert again.returncode == 0 and "No damage" in again.stdout, again.stdout + again.stderr
    if damage != "flipped index file":  # what was taken out is kept aside, not deleted
        assert any((filled / "damaged").rglob("*"))


@pytest.mark.slow  # the real command line in processes of its own
def test_a_damaged_screenshot_is_said_per_frame(home: Path, tmp_path: Path) -> None:
    store, _ = MemoryStore.create(PASSPHRASE, home=home, embedder=HashEmbedder(), embedder_name="all-MiniLM-L6-v2",
                                  kdf_seconds=FAST_KDF)
    picture = webp(Image.new("RGB", (64, 48), "navy"), 60)
    frames = [Memory("frame", f"screen {i}", {"monitor": 0, "image_id": store.blobs.put(picture),
                                               "thumb_id": store.blobs.put(picture)}) for i in range(2)]
    store.add(frames)
    store.close()
    for blob_id in (frames[0].fields["image_id"], frames[0].fields["thumb_id"]):
        blob = next((home / "blobs").rglob(f"{blob_id}*"))
        flip(blob, blob.stat().st_size // 2)
    *exports, listed, checked = engram_each(
        home, *(["frame", frame.id, "--export", str(tmp_path / f"{i}.png"), *extra]
                for extra in ([], ["--thumbnail"]) for i, frame in enumerate(frames)),
        ["frames"], ["repair"])  # the check says which screen, and changes nothing
    for damaged, fine in (exports[:2], exports[2:]):
        assert damaged.returncode == 1 and "Traceback" not in damaged.stderr, damaged.stderr
        assert "this screen's picture is damaged" in damaged.stderr
        assert fine.returncode == 0, fine.stderr
    assert listed.returncode == 0 and "screen 0" in listed.stdout and "screen 1" in listed.stdout
    assert checked.returncode == 0, checked.stderr
    assert f"this screen's picture is damaged: frame {frames[0].id}" in checked.stdout
    assert frames[1].id not in checked.stdout


def test_opening_a_store_whose_newest_version_is_damaged_says_so_for_the_desktop_too(filled: Path) -> None:
    from storage.store import StoreError

    DAMAGES["flipped newest version file"](filled)
    with pytest.raises(StoreError, match="damaged.*engram repair"):  # the unlock dialog shows the message as it is
        MemoryStore.open(PASSPHRASE, home=filled, embedder=HashEmbedder(), embedder_name="all-MiniLM-L6-v2")


@pytest.mark.slow  # the real command line in processes of its own
def test_repair_reports_rows_dropped_without_the_key_and_takes_the_store_as_it_is_when_told(filled: Path) -> None:
    import lancedb

    table = lancedb.connect(str(filled / "store")).open_table("memories")  # no key needed to drop a row
    table.delete(f"id = '{table.search().select(['id']).limit(1).to_arrow().column('id')[0].as_py()}'")
    asked, taken, again = engram_each(filled, ["repair"], ["repair", "--yes"], ["repair"])
    assert asked.returncode == 1 and "--yes" in asked.stderr, asked.stdout + asked.stderr
    assert "not the ones Engram wrote" in asked.stdout and "notes: 1 row(s) Engram wrote are gone" in asked.stdout
    assert taken.returncode == 0 and f"Taken as it is now: {BATCHES * PER_BATCH - 1} rows" in taken.stdout, taken.stderr
    assert again.returncode == 0 and "are the ones Engram wrote" in again.stdout, again.stdout + again.stderr


def test_a_damaged_search_index_is_built_again_by_the_search_that_meets_it(filled: Path) -> None:
    """Nothing is lost with an index, so nothing is asked: the search that fails on it rebuilds it and answers."""
    DAMAGES["flipped index file"](filled)
    store = MemoryStore.open(PASSPHRASE, home=filled, embedder=HashEmbedder(), embedder_name="all-MiniLM-L6-v2")
    try:
        hits = store.search("green tea", SearchOptions(k=50, mode="keyword")).hits
        assert len(hits) == BATCHES * PER_BATCH
        assert store.search("batch2 fact", SearchOptions(k=5, mode="keyword")).hits[0].snippet.startswith("batch2")
    finally:
        store.close()


def test_a_damaged_data_file_is_said_in_the_search_not_thrown_raw(filled: Path) -> None:
    DAMAGES["truncated data file"](filled)
    store = MemoryStore.open(PASSPHRASE, home=filled, embedder=HashEmbedder(), embedder_name="all-MiniLM-L6-v2")
    try:
        with pytest.raises(StoreError, match="damaged.*engram repair"):
            store.search("green tea", SearchOptions(k=50))
    finally:
        store.close()


def test_checking_a_healthy_store_prints_nothing_of_lances_own(filled: Path, capfd: pytest.CaptureFixture[str]) -> None:
    """`engram repair` reads every index: its keyword probe printed LanceDB's deprecation warning (three lines on
    stderr, about a `_score` column) under the command's own words."""
    from storage.repair import diagnose

    assert not diagnose(filled / "store").damaged
    assert capfd.readouterr().err == ""


@pytest.mark.slow  # the real command line in processes of its own
def test_a_damaged_index_prints_no_raw_library_lines(filled: Path) -> None:
    """LanceDB logs its own warnings on stderr ("Failed to read full text search configuration for index
    'tokens_idx': ... /root/.cargo/registry/..."): a command prints Engram's words only."""
    DAMAGES["flipped index file"](filled)
    for result in engram_each(filled, ["stats"], ["search", "green tea"]):
        assert result.returncode == 0, result.stderr
        assert "WARN" not in result.stderr and "lance" not in result.stderr, result.stderr


@pytest.mark.slow  # the real command line in processes of its own
def test_a_missing_screenshot_file_is_said_per_frame(home: Path, tmp_path: Path) -> None:
    store, _ = MemoryStore.create(PASSPHRASE, home=home, embedder=HashEmbedder(), embedder_name="all-MiniLM-L6-v2",
                                  kdf_seconds=FAST_KDF)
    picture = webp(Image.new("RGB", (64, 48), "navy"), 60)
    frame = Memory("frame", "screen", {"monitor": 0, "image_id": store.blobs.put(picture),
                                       "thumb_id": store.blobs.put(picture)})
    store.add([frame])
    store.close()
    for blob_id in (frame.fields["image_id"], frame.fields["thumb_id"]):
        next((home / "blobs").rglob(f"{blob_id}*")).unlink()
    *exports, checked = engram_each(home, ["frame", frame.id, "--export", str(tmp_path / "a.png")],
                                    ["frame", frame.id, "--export", str(tmp_path / "a.png"), "--thumbnail"],
                                    ["repair"])  # the check of the whole store lists it too
    for said in exports:
        assert said.returncode == 1 and "Traceback" not in said.stderr, said.stderr
        assert said.stderr.startswith("engram: ") and len(said.stderr.strip().splitlines()) == 1, said.stderr
    assert checked.returncode == 0, checked.stderr
    assert f"this screen's picture is missing: frame {frame.id}" in checked.stdout
