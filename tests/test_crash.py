"""Crash safety: a writer killed with SIGKILL at random points never leaves half a batch."""
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from storage.store import MemoryStore

from conftest import FAST_KDF, PASSPHRASE
from crash_writer import BATCH
from fakes import HashEmbedder

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL")


@pytest.mark.slow
def test_sigkill_at_random_points_loses_nothing_committed_and_shows_no_half_batch(home: Path) -> None:
    MemoryStore.create(PASSPHRASE, home=home, embedder=HashEmbedder(), kdf_seconds=FAST_KDF)[0].close()
    rng = random.Random(int(os.environ.get("ENGRAM_CRASH_SEED", "20261126")))
    committed: set[int] = set()
    deleted: set[int] = set()
    next_batch = 0
    for _round in range(10):
        writer = subprocess.Popen([sys.executable, str(Path(__file__).parent / "crash_writer.py"), str(home),
                                   str(next_batch)], stdout=subprocess.PIPE, text=True)
        assert writer.stdout is not None
        assert writer.stdout.readline().strip() == "ready"
        time.sleep(rng.uniform(0.1, 3.0))
        writer.send_signal(signal.SIGKILL)
        out, _ = writer.communicate()
        in_flight_delete = None
        for line in out.splitlines():
            word, number = line.split()
            (committed if word == "committed" else deleted).add(int(number))
            in_flight_delete = int(number) - 1 if word == "committed" and int(number) % 4 == 3 else None
        next_batch = max(committed | deleted | {next_batch - 1}) + 2  # skip the batch that may be in flight

        store = MemoryStore.open(PASSPHRASE, home=home, embedder=HashEmbedder())
        counts = Counter(m.tags[0] for m in store.list_range(limit=1_000_000))
        assert all(n == BATCH for n in counts.values()), f"half-written batch visible: {counts}"
        for batch in committed - deleted - {in_flight_delete}:
            assert counts[f"b{batch}"] == BATCH, f"committed batch {batch} lost"
        if in_flight_delete is not None and counts[f"b{in_flight_delete}"] == 0:
            deleted.add(in_flight_delete)  # the kill came after the delete committed
        for batch in deleted:
            assert counts[f"b{batch}"] == 0, f"deleted batch {batch} came back"
        if counts:
            assert store.search("batch row").hits  # the indexes still answer
        check = store.check_rows()  # a kill between a commit and its ledger entry is no false alarm
        assert check.ok, check.lines()
        store.close()
    assert len(committed) >= 5 and deleted  # the kills landed among real work
