"""Popup searches while the memory agents digest a chat import, in the same process, against idle.

How: a store of 20,000 memories built as bench/store_latency.py builds them (LoCoMo turns with pooled
real-MiniLM vectors), plus the LoCoMo conversations imported as a chat (`agents.importers.import_file`, the
import's embedding stubbed by a cheap hash so the build stays fast), all undigested. From then on the store
embeds with the real all-MiniLM-L6-v2 (numpy), for the popup's queries and the agents alike. The real
`RecallPopup` (Qt offscreen) searches the store through `run_in_background`, as in the app: a LoCoMo question
is typed into its field, the 150 ms debounce fires `run_search`, and the time from that moment until the rows
are shown is one sample (the same span as `ui.results_after_keystroke`). Between two questions the popup rests
300 ms, as a user reads. `idle`: nothing else runs; `while_digesting`: the app's `AgentService` digests the
import on its scheduler thread (default settings: no language model chosen, so the agents' work is embedding,
matching against stored memories and the store's writes), started 10 s before the first question. The
digester is built before the idle searches, as the app builds it on unlock (from then on numpy's BLAS runs on
one thread: storage/embedding.py `one_blas_thread`). The machine is shared with other work: each figure's note
gives the load average.
"""
from __future__ import annotations

import argparse
import logging
import os
import shutil
import statistics
import sys
import tempfile
import time
import zlib
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from bench.results import Metrics, metric, quantile
from bench.shared import locomo_path

ROWS = 20_000
QUESTIONS = 60
REST_S = 0.3
WARM_UP_S = 10.0
METHODS = {"popup": (__doc__ or "").split("\n\n", 1)[1].strip() + """

Before and after the change that made searches go first (issue 21, item 7), same machine, load average 12-19 on
two cores: before, p50 344 / p95 1,035 ms idle and 564 / 1,911 ms while digesting (64 messages digested during
the 60 searches). Thread samples showed the searches waiting in the query's MiniLM matmuls, which OpenBLAS ran
on its shared, spinning worker threads beside the digestion's; the keyword half (LanceDB) took as long idle as
digesting, and readers never take the writer lock. The old code with only `OPENBLAS_NUM_THREADS=1`: 90 / 163 ms
idle, 144 / 314 ms digesting. So one BLAS thread per caller removes most of the wait, and the agents stepping
aside for a search (storage/search_first.py) with their thread at nice 10 removes the rest."""}


class HashedEmbedder:
    """Bench-only: a fixed unit vector per text, for building the store fast (never searched by meaning)."""

    dim = 384

    def embed(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        out = np.zeros((len(texts), self.dim), np.float32)
        for row, text in enumerate(texts):
            out[row] = np.random.default_rng(zlib.crc32(text.encode())).standard_normal(self.dim)
        out /= np.maximum(np.linalg.norm(out, axis=1, keepdims=True), np.float32(1e-9))
        return out


def _pool_and_questions() -> tuple[list[str], npt.NDArray[np.float32], list[str]]:
    """store_latency's pool and questions, read from the embedding cache without writing it back
    (other benchmarks may be saving it meanwhile)."""
    from bench.locomo_retrieval import CachedEmbedder, load_locomo, questions_of, turns_of
    from bench.store_latency import POOL

    cached = CachedEmbedder()
    rng = np.random.default_rng(7)
    turns, questions = [], []
    for sample in load_locomo():
        sample_turns = turns_of(sample)
        turns += sample_turns
        questions += [q.text for q in questions_of(sample, {t.dia_id for t in sample_turns})[0]]
    pool = [turns[i] for i in sorted(rng.choice(len(turns), POOL, replace=False))]
    vectors = cached.embed([f"{t.text}\n{t.speaker}" for t in pool])
    chosen = [questions[i] for i in sorted(rng.choice(len(questions), 200, replace=False))]
    return [t.text for t in pool], vectors, chosen


def _build(home: Path, rows: int) -> tuple[Any, list[str]]:
    from agents.importers import import_file
    from bench.store_latency import PooledEmbedder
    from bench.store_latency import _build as build_store

    pool, vectors, questions = _pool_and_questions()
    store, _, _, _ = build_store(home, rows, pool, PooledEmbedder(pool, vectors, {}), log_every=0)
    store.embedder = HashedEmbedder()
    summary = import_file(store, "locomo", locomo_path())
    print(f"    {rows:,} memories and {summary.new:,} imported chat messages to digest", flush=True)
    return store, questions


def _searches(app: Any, popup: Any, questions: list[str]) -> list[float]:
    """Seconds from the debounce firing to the rows shown, one per question."""
    fired: list[float] = []
    shown: list[float] = []
    run_search, show = popup.run_search, popup._show

    def timed_run() -> None:
        fired.append(time.perf_counter())
        run_search()

    def timed_show(hits: Any, status: str) -> None:
        show(hits, status)
        if status != "Type to search.":
            shown.append(time.perf_counter())

    popup._debounce.timeout.disconnect()
    popup._debounce.timeout.connect(timed_run)
    popup._show = timed_show
    took = []
    for question in questions:
        fired.clear()
        shown.clear()
        popup.query.setText(question)   # textChanged restarts the debounce, as a keystroke does
        _pump(app, lambda: bool(shown), 120.0)
        took.append(shown[0] - fired[0])
        _pump(app, lambda: False, REST_S)
    popup._debounce.timeout.disconnect()
    popup._debounce.timeout.connect(run_search)
    popup._show = show
    return took


def _pump(app: Any, done: Callable[[], bool], seconds: float) -> None:
    until = time.perf_counter() + seconds
    while not done():
        app.processEvents()
        if time.perf_counter() > until:
            if seconds >= 60:
                raise TimeoutError("no results in time")
            return
        time.sleep(0.002)


def run(argv: Sequence[str] = ()) -> Metrics:
    parser = argparse.ArgumentParser(prog="bench.popup_bench")
    parser.add_argument("--rows", type=int, default=ROWS)
    parser.add_argument("--questions", type=int, default=QUESTIONS)
    parser.add_argument("--tmp", default=None, help="parent directory for the temporary store")
    args, _ = parser.parse_known_args(list(argv))
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    home = Path(tempfile.mkdtemp(prefix="engram-popup-", dir=args.tmp))
    os.environ["ENGRAM_HOME"] = str(home)
    try:
        store, questions = _build(home, args.rows)
        questions = questions[:args.questions]
        from app.agent_service import AgentService, build_digester
        from app.desktop.recall import RecallPopup
        from app.qt import QApplication
        from storage.minilm import MiniLMEmbedder

        store.embedder = MiniLMEmbedder()
        store.embedder.embed(["warm up"])
        digester = build_digester(store)    # as the app does on unlock, before any search
        app = QApplication.instance() or QApplication(sys.argv)
        popup = RecallPopup(lambda q, o: store.search(q, o), lambda hit: None)
        popup.popup()
        _searches(app, popup, questions[:5])            # warm-up: caches, index pages
        idle = _searches(app, popup, questions)
        backlog = store.count_undigested()
        logging.getLogger("apscheduler").setLevel(logging.ERROR)  # "skipped: already running", twice a second
        service = AgentService(digester, every_seconds=1.0)
        service.start()
        _pump(app, lambda: False, WARM_UP_S)
        busy = _searches(app, popup, questions)
        still = store.count_undigested()
        service.stop()
        popup.hide()
        store.close()
    finally:
        shutil.rmtree(home, ignore_errors=True)
    load = os.getloadavg()
    note = f"{args.rows:,} memories; load average {load[0]:.1f}/{load[1]:.1f} (1/5 min) at the end"
    digesting = note + f"; {backlog - still:,} of {backlog:,} imported messages digested meanwhile"
    ms = 1000.0
    out: Metrics = {}
    for label, values, how in (("", idle, note), ("_while_digesting", busy, digesting)):
        out[f"popup.search.p50_ms{label}"] = metric(round(statistics.median(values) * ms, 1), "ms", len(values), how)
        out[f"popup.search.p95_ms{label}"] = metric(round(quantile(values, 0.95) * ms, 1), "ms", len(values), how)
    print("    " + ", ".join(f"{k}={v['value']}" for k, v in out.items()), flush=True)
    return out


if __name__ == "__main__":
    from bench import results

    results.merge(run(sys.argv[1:]))
    results.render(results.collected_methods())
