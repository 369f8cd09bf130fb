"""What a delete costs and what the hourly upkeep costs, on a 100k store (issue 16, items 2, 3 and 5).

How: a fresh store built as bench/store_latency.py builds it (`_build`: PooledEmbedder, `store.add` in batches
of 5,000, the store's own index upkeep, one `build_indexes()`; 100k rows over two years, the eight kinds in
equal shares), then in order:
- `store.purge.s`: one frame deleted the way a delete worked before (its rows marked deleted, then `purge()`,
  which compacts every data file and drops old versions) — what "Forget this frame" cost until now;
- `store.delete_frame.p95_s`: 20 frames deleted one by one with `store.delete([id])` (rows gone from every
  read, pictures deleted; the ciphertext is left to the upkeep);
- `store.forget_day.s`: `store.delete_range(..., kinds=["frame"])` over the span holding the 2,700 screens a
  day of capture keeps (a year of use: 8 h, a grab every 3 s, a third kept; here about 150 days). These
  frames have no pictures: a real day's also deletes its ~2,700 picture files (and rebases none);
- `store.forget_vault.s`: one vault entry deleted, which is erased from disk before `delete` returns
  (storage/upkeep.py `erase_now`: the files holding any deleted row rewritten, old versions dropped);
  then 10 more frames deleted, left for the upkeep;
- `store.upkeep.s`: one `storage.upkeep.run_upkeep`, which erases all of the above from disk (rewrites the
  files holding deleted rows, merges files under 25,000 rows, merges index deltas, drops old versions), with
  `store.upkeep.writes_held_s`, how long it held the writer lock (what capture waits for at most), then a
  second run with nothing to do (`store.upkeep_idle.s`).
"""
from __future__ import annotations

import argparse
import os
import shutil
import statistics
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from bench import results
from bench.locomo_retrieval import CachedEmbedder
from bench.results import Metrics, metric
from bench.store_latency import SIZES, PooledEmbedder, _build, _pool_and_queries

DAY_ROWS = 2_700
DELETES = 20

METHODS = {
    "store": "How: " + (__doc__ or "").split("How: ", 1)[1].strip() + """

Where the time of one delete went (100k rows, 20 files of 5,000, measured with the load average at 13-16 on 2
cores): marking the row deleted 3 ms, reading what it takes with it (pictures, chat neighbours) under 10 ms,
rewriting the one data file holding it 0.15-0.4 s, and committing that rewrite 27-31 s, because Lance remaps
every index onto the rewritten rows: with the vector index dropped the commit took 1.4 s, with the keyword
index dropped too 0.1 s, so the IVF_HNSW_SQ vector index's remap (which rebuilds its graphs) is ~27 s of it.
Dropping old versions took 0.04-0.09 s. `purge()` also rewrote every file under Lance's default 1M-row
target (all of them) in the first delete after a build. Lance's `defer_index_remap` would skip the remap,
but a search over the vector index then failed ("HNSW graph has 3130 nodes but its vector storage has 3129
rows"), so deletes mark rows deleted and the hourly upkeep pays the remap once for all deletes of the hour.
An hour of capture leaves ~2,400 table versions (a row per screen, again when its text is read): dropping
~1,900 of them took 9.2 s, so upkeep drops versions without the writer lock and takes it only to remove
files no version names (0.02 s; a capture-like run of 1,200 frames written twice, load average ~14).
Open files stayed at 20 over 2,400 such writes, 240 searches and two upkeeps (lance 9.0.1 keeps no data or
index file open between reads), and flat in tests/test_upkeep.py over 10,000 writes and 1,000 searches.
The machine is shared with other helpers' work (load average given per run in the notes)."""}


class _SharedCache(CachedEmbedder):
    """Writes bench/.data/minilm_cache.npz only when it embedded something new: other benchmarks that
    run meanwhile write it too."""

    def save(self) -> None:
        if self.computed:
            super().save()


def _frame_ids(store: Any, count: int, seed: int) -> list[str]:
    ids = store.table.search().where("kind = 'frame'").select(["id"]).limit(None).to_arrow().column("id").to_pylist()
    rng = np.random.default_rng(seed)
    return [ids[i] for i in rng.choice(len(ids), count, replace=False)]


def _timed(fn: Any) -> tuple[float, Any]:
    t0 = time.perf_counter()
    value = fn()
    return time.perf_counter() - t0, value


def _day_span(store: Any) -> tuple[Any, Any]:
    """[since, until) holding about DAY_ROWS screens, in the middle of the store's time."""
    from storage.codec import from_us

    times = sorted(store.table.search().where("kind = 'frame'").select(["time_us"]).limit(None).to_arrow()
                   .column("time_us").to_pylist())
    middle = len(times) // 2
    return from_us(times[middle]), from_us(times[middle + DAY_ROWS])


def _old_delete(store: Any) -> float:
    """One frame deleted the way it was before, on a copy of the store (the purge merges every file)."""
    from storage.store import MemoryStore

    copy = Path(tempfile.mkdtemp(prefix="engram-upkeep-old-", dir=store.root.parent.parent))
    try:
        shutil.copytree(store.root.parent, copy, dirs_exist_ok=True)
        old = MemoryStore.open("bench passphrase", home=copy, embedder=store.embedder, embedder_name="pooled-minilm")
        old.table.delete(f"id = '{_frame_ids(old, 1, seed=1)[0]}'")
        seconds, _ = _timed(old.purge)
        old.close()
        return seconds
    finally:
        shutil.rmtree(copy, ignore_errors=True)


def _load() -> str:
    return "load average " + " ".join(f"{x:.1f}" for x in os.getloadavg())


def measure(store: Any, label: str) -> Metrics:
    from storage.upkeep import pending_erase, run_upkeep

    out: Metrics = {}
    seconds = _old_delete(store)
    out[f"store.purge.s.{label}"] = metric(round(seconds, 2), "s", 1, f"one frame, the delete before this change; {_load()}")
    print(f"    purge after one delete {seconds:.1f} s ({_load()})", flush=True)

    deletes = [_timed(lambda i=i: store.delete([i]))[0] for i in _frame_ids(store, DELETES, seed=2)]
    out[f"store.delete_frame.p95_s.{label}"] = metric(round(float(np.percentile(deletes, 95)), 3), "s", DELETES,
                                                      f"p50 {statistics.median(deletes):.3f} s; {_load()}")
    since, until = _day_span(store)
    seconds, removed = _timed(lambda: store.delete_range(since, until, kinds=["frame"]))
    out[f"store.forget_day.s.{label}"] = metric(round(seconds, 2), "s", removed, f"rows removed; {_load()}")
    vault = store.table.search().where("kind = 'vault'").select(["id"]).limit(1).to_arrow().column("id")[0].as_py()
    erase, _ = _timed(lambda: store.delete([vault]))
    out[f"store.forget_vault.s.{label}"] = metric(round(erase, 2), "s", 1,
                                                  f"one vault entry, erased from disk before delete returns; {_load()}")
    print(f"    a vault entry forgotten and erased {erase:.1f} s", flush=True)
    frames = _frame_ids(store, 30, seed=3)
    for frame in frames[:10]:  # more to erase at the upkeep (the vault erase took what came before)
        store.delete([frame])
    pending = pending_erase(store)
    print(f"    {DELETES} deletes p95 {out[f'store.delete_frame.p95_s.{label}']['value']} s, "
          f"a day ({removed} rows) {seconds:.2f} s; {pending} rows to erase", flush=True)

    report = run_upkeep(store)
    out[f"store.upkeep.s.{label}"] = metric(round(report.seconds, 1), "s", report.rows_erased,
                                            f"rows erased; {report.summary()}; {_load()}")
    out[f"store.upkeep.writes_held_s.{label}"] = metric(round(report.writes_held_seconds, 2), "s", None,
                                                        "the longest the writer lock was held")
    out[f"store.upkeep.pending_after.{label}"] = metric(pending_erase(store), "rows", pending,
                                                        "deleted rows still in a data file after the cycle")
    print(f"    {report.summary()}", flush=True)
    idle = run_upkeep(store)
    out[f"store.upkeep_idle.s.{label}"] = metric(round(idle.seconds, 2), "s", None, "a second cycle, nothing to do")
    return out


def run(argv: Sequence[str] = ()) -> Metrics:
    parser = argparse.ArgumentParser(prog="bench.store_upkeep")
    parser.add_argument("--sizes", default="100k", help="comma-separated, of: " + ", ".join(SIZES))
    parser.add_argument("--tmp", default=None, help="parent directory for the temporary stores")
    args, _ = parser.parse_known_args(list(argv))
    cached = _SharedCache()
    pool, pool_vectors, queries = _pool_and_queries(cached)
    exact = {q: cached.cache[q] for q in queries}
    out: Metrics = {}
    for label in [s.strip().lower() for s in args.sizes.split(",") if s.strip()]:
        size = SIZES[label]
        print(f"  building {label} ({size:,} rows)", flush=True)
        home = Path(tempfile.mkdtemp(prefix=f"engram-upkeep-{label}-", dir=args.tmp))
        try:
            store, _, _, _ = _build(home, size, pool, PooledEmbedder(pool, pool_vectors, exact, seed=size),
                                    log_every=max(1, size // 5_000 // 5))
            new = measure(store, label)
            store.close()
            results.merge(new)
            out.update(new)
        finally:
            shutil.rmtree(home, ignore_errors=True)
    return out


if __name__ == "__main__":
    import sys

    results.merge(run(sys.argv[1:]))
    results.render(results.collected_methods())
