"""Capture's writes: what one kept screen costs the store, in CPU and in time (issue 16: capture stays light;
issue 17: the suite's open-files test is thousands of such writes).

A fresh store (key derivation 0.05 s) on a hashed-vector embedder (embedding is not what is measured:
capture embeds in a step of its own), then screens written as capture and the OCR worker write them: the
picture into the blob store, the frame (text pending) with `store.add`, then again with its text with
`store.save(replace_only=[id])`, 3,000 screens one after the other (6,000 writes; the store's own merging of
small files and folding of new rows into its indexes included). Reported over the last 1,000 screens: the
process's CPU per screen (every thread, LanceDB's included) and the wall time per screen p50/p95, and the
table versions on disk at the end. `before`: the same run with the write path as it was before session 13
(its merging kept an hour of table versions, all of a run this short; the second write of a screen looked its
row up).
"""
from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from bench.popup_bench import HashedEmbedder
from bench.results import Metrics, metric

METHODS = {"store.capture_writes": __doc__.split("\n\n", 1)[1].strip() if __doc__ else ""}
SCREENS, MEASURED = 3_000, 1_000
_WORDS = ("budget report quarterly meeting notes invoice draft review calendar inbox project plan design "
          "travel booking flight hotel receipt payment schedule deadline summary chart table slide").split()


def _screen_text(i: int) -> str:
    rng = np.random.default_rng(i)
    return " ".join(_WORDS[j] for j in rng.integers(0, len(_WORDS), 40)) + f" page {i}"


def _written(before: bool) -> dict[str, Any]:
    from datetime import datetime, timedelta, timezone

    import storage.store as store_module
    from storage.memory import Memory
    from storage.store import MemoryStore

    kept = store_module._KEPT_VERSIONS
    if before:
        store_module._KEPT_VERSIONS = 10**9  # nothing young enough dropped: what an hour's grace was in a short run
    try:
        with tempfile.TemporaryDirectory(prefix="engram-writes-") as tmp:
            store, _ = MemoryStore.create("bench passphrase", home=Path(tmp), embedder=HashedEmbedder(),
                                          kdf_seconds=0.05)
            if before:
                store._note_written = lambda *_: None  # type: ignore[method-assign]  # every second write looks up
            start = datetime(2026, 3, 2, 9, tzinfo=timezone.utc)
            cpu, walls = 0.0, []
            for i in range(SCREENS):
                began, began_cpu = time.perf_counter(), time.process_time()
                frame = Memory("frame", "", time=start + timedelta(seconds=3 * i), app="Firefox",
                               title=f"Report {i % 40} - Mozilla Firefox")
                frame.fields["image_id"] = store.blobs.put(os.urandom(4_000))
                frame.text_pending = True
                store.add([frame])
                frame.text, frame.text_pending = _screen_text(i), False
                store.save([frame], replace_only=[frame.id])
                if i >= SCREENS - MEASURED:
                    cpu += time.process_time() - began_cpu
                    walls.append(time.perf_counter() - began)
            versions = len(store.table.list_versions())
            store.close()
    finally:
        store_module._KEPT_VERSIONS = kept
    walls.sort()
    return {"cpu_ms": 1000 * cpu / MEASURED, "p50_ms": 1000 * statistics.median(walls),
            "p95_ms": 1000 * walls[int(0.95 * (len(walls) - 1))], "versions": versions}


def run(argv: Sequence[str] = ()) -> Metrics:
    argparse.ArgumentParser(prog="bench.write_bench").parse_known_args(list(argv))
    load = f"load average {os.getloadavg()[0]:.1f} at the start on {os.cpu_count()} cores"
    out: Metrics = {}
    for label, before in (("now", False), ("before", True)):
        got = _written(before)
        out[f"store.capture_writes.cpu_ms_per_screen.{label}"] = metric(round(got["cpu_ms"], 1), "ms CPU", MEASURED,
                                                                        load)
        out[f"store.capture_writes.p50_ms.{label}"] = metric(round(got["p50_ms"], 1), "ms", MEASURED)
        out[f"store.capture_writes.p95_ms.{label}"] = metric(round(got["p95_ms"], 1), "ms", MEASURED)
        out[f"store.capture_writes.versions_on_disk.{label}"] = metric(got["versions"], "versions", 1)
    return out


if __name__ == "__main__":
    from bench import results

    results.merge(run())
    results.render(results.collected_methods())
