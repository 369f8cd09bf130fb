"""Another Engram writing (issue 20.7): readers go on reading, a writer says it waits and gives up after a bound.

Real processes on a real store: one holds the writer lock, the others are `engram` commands."""
from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from storage.memory import Memory
from storage.store import MemoryStore

from conftest import FAST_KDF, PASSPHRASE
from fakes import HashEmbedder

SCRIPT = Path(__file__).parent / "engram_process.py"
# A guard against hanging forever, not a speed assert: these commands take a second or two.
GUARD_SECONDS = 120


@pytest.fixture
def filled(home: Path) -> Path:
    store, _ = MemoryStore.create(PASSPHRASE, home=home, embedder=HashEmbedder(), embedder_name="all-MiniLM-L6-v2",
                                  kdf_seconds=FAST_KDF)
    store.add([Memory("semantic", "Anna prefers green tea", fields={"name": "Anna"})])
    store.close()
    return home


@contextmanager
def holding(home: Path) -> Iterator[subprocess.Popen[str]]:
    """Another process holding the writer lock until its stdin is closed (or it is killed)."""
    with subprocess.Popen([sys.executable, str(SCRIPT), str(home), "hold"], stdin=subprocess.PIPE,
                          stdout=subprocess.PIPE, text=True) as holder:
        try:
            assert holder.stdout is not None and holder.stdout.readline().strip() == "holding"
            yield holder
        finally:
            holder.kill()


@pytest.fixture
def held(filled: Path) -> Iterator[Path]:
    with holding(filled):
        yield filled


def engram(home: Path, *args: str, wait: float | None = None) -> subprocess.CompletedProcess[str]:
    if wait is not None:
        (home / "config.toml").write_text(f"[store]\nwriter_wait_seconds = {wait}\n")
    env = {**os.environ, "ENGRAM_HOME": str(home), "ENGRAM_PASSPHRASE": PASSPHRASE}
    try:
        return subprocess.run([sys.executable, str(SCRIPT), str(home), "cli", *args], env=env, text=True,
                              capture_output=True, stdin=subprocess.DEVNULL, timeout=GUARD_SECONDS)
    except subprocess.TimeoutExpired:
        pytest.fail(f"`engram {' '.join(args)}` was still waiting after {GUARD_SECONDS} s")


@pytest.mark.slow  # processes of their own
def test_readers_never_wait_for_a_writer(held: Path) -> None:
    stats = engram(held, "stats", "--json")
    assert stats.returncode == 0, stats.stderr
    assert '"rows": 1' in stats.stdout
    found = engram(held, "search", "green tea", "--mode", "keyword")
    assert found.returncode == 0, found.stderr
    assert "Anna prefers green tea" in found.stdout
    assert "waiting" not in stats.stderr + found.stderr


@pytest.mark.slow  # processes of their own
def test_a_writer_says_it_waits_and_gives_up_after_a_bound_writing_nothing(held: Path) -> None:
    added = engram(held, "add", "semantic", "Tom likes coffee", wait=1.0)
    assert added.returncode == 1
    assert "another Engram is writing; waiting" in added.stderr
    assert "nothing was written" in added.stderr
    assert "Traceback" not in added.stderr
    after = engram(held, "search", "coffee", "--mode", "keyword")
    assert "Tom likes coffee" not in after.stdout


@pytest.mark.slow  # processes of their own
def test_a_writer_that_waited_writes_once_the_other_is_done(filled: Path) -> None:
    (filled / "config.toml").write_text("[store]\nwriter_wait_seconds = 600\n")
    env = {**os.environ, "ENGRAM_HOME": str(filled), "ENGRAM_PASSPHRASE": PASSPHRASE}
    with holding(filled) as holder, subprocess.Popen(
            [sys.executable, str(SCRIPT), str(filled), "cli", "add", "semantic", "Tom likes coffee"], env=env,
            text=True, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE) as writer:
        guard = threading.Timer(GUARD_SECONDS, writer.kill)  # a silent wait would block readline() for ever
        guard.start()
        try:
            assert writer.stderr is not None and holder.stdin is not None
            # It says it waits before it has written anything; then the other finishes.
            assert "another Engram is writing; waiting" in writer.stderr.readline()
            holder.stdin.close()
            holder.wait(timeout=GUARD_SECONDS)
            out, err = writer.communicate(timeout=GUARD_SECONDS)
        finally:
            guard.cancel()
            writer.kill()
    assert writer.returncode == 0, err
    assert len(out.split()) == 1  # the new memory's id
    found = engram(filled, "search", "coffee", "--mode", "keyword")
    assert "Tom likes coffee" in found.stdout
