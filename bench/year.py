"""A year of use on one laptop: one store filled the way the app fills it, measured as it grows.

    python -m bench.run year --frames 100000     # fill (or resume) to 100k screens, measuring at 100k

How: bench/year_fill.py fills one encrypted store under bench/.data/year/ (the app's default key
derivation, about 1 s) tick by tick on a simulated clock (8 h a day, a grab every 3 s, a third of grabs
kept, bench/year_screens_sim.py): each kept screen through the recorder's own save path
(`Recorder._store_frame`: a key frame or patches over the frame before, WebP pictures and thumbnails
encrypted into blobs/), then its text and word boxes written as the OCR worker writes them (the
reading of its ScreenAgent screenshot, cached once from RapidOCR, moved and added to as the simulated
user scrolls and types, with a ticking clock; a fill replays the screenshots read when it began: 80 of
the 313, the reading having been stopped to leave the two cores to the fill). Every simulated hour: the
hour's chat (LoCoMo turns, 200 messages per 1,000 screens) imported from a JSON Lines export through the
app's importer, the digester run over the new frames and messages (no language model: rules, extractors
and routing by meaning; the capable-model steps would take days here), and capture's hourly job
(`app.capture.service.hourly_upkeep`: retention, then the store's upkeep, on the simulated clock). Every
3,000 screens one screen from an hour before is forgotten as the timeline does. Vectors:
bench/year_embedder.py (real MiniLM vectors for the screenshots' readings, the LoCoMo turns and the
router's examples; other texts get their nearest base's vector plus noise; query vectors exact), since the
real model embeds tens of texts a second here.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import re
import statistics
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from app.desktop.footprint import limit_heap_arenas
from bench import results
from bench import year_screens_sim as sim
from bench.results import DATA_DIR, Metrics, metric
from bench.year_embedder import RealVectors, YearEmbedder
from bench.year_fill import FillState, Fill, hourly_job, open_files, open_store
from bench.year_screens import READINGS, Screen, cached_screens, read_screens

YEAR_DIR = DATA_DIR / "year"
MILESTONES = (100_000, 300_000, 1_000_000)
MODES = ("hybrid", "keyword", "vector")
FILTERS = ("none", "kind", "app", "time")
QUERIES_EACH = 40        # screen-word queries, and as many LoCoMo questions
DELETES = 12
MIN_SCREENS = 8

METHODS = {"year": (__doc__ or "").split("How: ", 1)[1].strip() + """

At each milestone (100k, 300k, 1M screens kept): `search.<mode>` p50/p95 over 40 two-word queries drawn from
the screenshots' readings and 40 LoCoMo questions, each run without a filter and with a type filter (frames
for screen words, messages for questions), an app filter and a time filter (the last 7 simulated days), k=10,
decrypting the top 10 (one run each, after a warm-up); `open_unlock` a fresh process opening and unlocking the
store (`MemoryStore.open`, key derivation included); `rss_mb` and `open_fds` that process's resident memory and
open file descriptors after 40 hybrid searches (it holds the bench embedder's vectors, not MiniLM, which the
app also loads), and `lance_cache_mb` how much of it LanceDB's caches hold (`lancedb.Session.size_bytes`: the
index cache, unbounded up to LanceDB's 6 GB default, and the metadata cache Engram bounds); `delete_frame`
'Forget this frame' (`agents.forget.forget`, what the timeline runs) on 12 frames spread over the store; `forget_day` 'Forget a time range' of one whole simulated day (frames and
episodes, as the timeline asks); `retention` one `retention.enforce` with the default policy; `upkeep` one
run of capture's hourly job, while a second thread searches and writes a message every 0.2 s
(`upkeep_blocks_*` the slowest of those during the job); `bytes_per_frame` everything under the store's home
(table, blobs, keys) per screen kept; `fill.frames_per_s` screens kept per second of filling over the
whole fill (messages, digesting, hourly jobs and forgets included, milestone measuring excluded). The machine is
shared with other sessions' work: the load average is in each figure's note.

Measured so far at 8k, 10k, 15k, 16k and 34k screens kept, each on the same store as it grew (`--milestones`; each
point forgets a day and 12 screens, so fewer frames are held than kept): at 2.5 screens/s over the whole fill
(6.7 over the last 1,000, after writes got cheaper), 100k takes most of a day of filling and 1M about 5 days;
the fill resumes where it stopped. Between 10k and 16k: forgetting finds the memories made from a screen by
blind source tags instead of opening every memory written since (schema 10; 'Forget this frame' p95 0.94 s
at 10k, 0.21 s at 16k), and new rows are folded into the indexes every 1,000 rows instead of 5,000 (at 15k,
3,981 rows outside the indexes made a keyword search 58 ms p50 instead of ~11). At 15k a search run beside
the hourly job failed on a data file the upkeep had just replaced; reads now try once more from the newest
version. The hourly job runs through `CaptureService._retain` (the real clock; in simulated January
retention has nothing to do either way). At 34k (2026-12-06; the write path keeping the newest 100 table
versions): 'Forget this frame' p95 0.29 s and a day forgotten in 1.7 s, both within the 1M targets so far;
vector search p95 41 ms (27 at 16k) because below 50,000 rows (`vector_index_min_rows`) it is still an exact
scan of every vector, so hybrid p95 is 56 ms; the fill's own open files stayed at 21 from 29k to 34k
(`year.fill.open_files_growth`, written when a fill ends). Up to 34k the fill and the probe ran with glibc's
default malloc arenas (8 per core), the app with two (`app.desktop.footprint.limit_heap_arenas`). From 35k on,
both limit arenas as the app does, so their memory and search times are the app's: at 35k the probe held
300 MB (529 at 34k) and searches were slower than at 34k (hybrid p95 67 ms against 56, keyword 40 against 31,
vector 44 against 41; one run each, load average 1.1). Measured again by hand at 35k, three
interleaved runs of 240 hybrid searches per setting in fresh processes (the fill paused): p50 47/48/49 ms and
p95 58/69/66 ms (medians of the runs) with glibc's default, two and four arenas, at 570/285/345 MB: the tail
costs 10-20% with fewer arenas, the median nothing measurable, and four are no better than two. The vector
leg is an exact scan until the store builds its vector index at 50,000 rows: on a copy of the 35k store, the
index built by hand (12.8 s) took hybrid search from p50 36 / p95 47 ms to 24 / 32 ms (two arenas, one run
each), and its search returned 0.856 of the exact top 10 (`ann_agreement_at_10`, measured at every milestone
from the one where the index exists)."""}


def label(size: int) -> str:
    return "1m" if size == 1_000_000 else f"{size // 1000}k" if size % 1000 == 0 else str(size)


def load_note() -> str:
    one, five, _ = os.getloadavg()
    return f"load average {one:.1f} (5 min {five:.1f}) on {os.cpu_count()} cores"


# -- inputs -----------------------------------------------------------------------------------------


def locomo_inputs() -> tuple[list[Any], list[str]]:
    from bench.locomo_retrieval import load_locomo, questions_of, turns_of

    turns, questions = [], []
    for sample in load_locomo():
        sample_turns = turns_of(sample)
        turns += sample_turns
        questions += [q.text for q in questions_of(sample, {t.dia_id for t in sample_turns})[0]]
    return turns, questions


def screen_queries(screens: Sequence[Screen], count: int, seed: int = 11) -> list[str]:
    """Two words seen on one screenshot and on few others: what a person types to find a screen again."""
    word_sets = [{w[0].lower() for w in s.words if re.fullmatch(r"[A-Za-z]{4,}", w[0])} for s in screens]
    df = Counter(w for ws in word_sets for w in ws)
    rng, out = random.Random(seed), []
    for ws in word_sets:
        rare = sorted(w for w in ws if df[w] <= max(1, len(screens) // 5))
        if len(rare) >= 2:
            out.append(" ".join(rng.sample(rare, 2)))
    return rng.sample(out, min(count, len(out)))


def make_embedder(screens: Sequence[Screen], turns: Sequence[Any], queries: Sequence[str],
                  vectors: RealVectors) -> YearEmbedder:
    from agents.routing_examples import EXAMPLES

    readings = [" ".join(w[0] for w in s.words) for s in screens]
    examples = [t for texts in EXAMPLES.values() for t in texts]
    turn_vectors = vectors.get([f"{t.text}\n{t.speaker}" for t in turns])  # as locomo_retrieval cached them
    bases = dict(zip(readings, vectors.get(readings)))
    bases.update(zip((t.text.removeprefix(f"{t.speaker}: ") for t in turns), turn_vectors))
    exact = dict(zip([*queries, *examples], vectors.get([*queries, *examples])))
    bases.update((e, exact[e]) for e in examples)
    return YearEmbedder(bases, exact)


class Inputs:
    """Screens, chat turns, queries and the embedder of one fill (the same in the probe process)."""

    def __init__(self, state: FillState, year_dir: Path) -> None:
        if not state.screens:
            found = cached_screens() if READINGS.exists() else []
            if len(found) < MIN_SCREENS:
                found = read_screens(limit=MIN_SCREENS)
            state.screens = [s.key for s in found]
            state.save()
        self.screens = cached_screens(state.screens)
        self.turns, questions = locomo_inputs()
        rng = random.Random(5)
        self.screen_queries = screen_queries(self.screens, QUERIES_EACH)
        self.questions = rng.sample(questions, QUERIES_EACH)
        vectors = RealVectors(YEAR_DIR / "vectors.npz", shared=DATA_DIR / "minilm_cache.npz")
        self.embedder = make_embedder(self.screens, self.turns, self.screen_queries + self.questions, vectors)


# -- measuring -----------------------------------------------------------------------------------------


def _pct(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q / 100 * len(ordered)))], 3)


def _options(mode: str, flt: str, for_screens: bool, now: Any) -> Any:
    from storage.search import SearchOptions

    extra: dict[str, Any] = {}
    if flt == "kind":
        extra["kinds"] = ["frame"] if for_screens else ["message"]
    elif flt == "app":
        extra["app"] = sim.APPS[0]
    elif flt == "time":
        extra["since"] = now - timedelta(days=7)
    return SearchOptions(mode=mode, k=10, time_words=False, **extra)


def time_searches(store: Any, inputs: Inputs, now: Any) -> dict[tuple[str, str], list[float]]:
    queries = [(q, True) for q in inputs.screen_queries] + [(q, False) for q in inputs.questions]
    for q, screens in queries[:5]:
        store.search(q, _options("hybrid", "none", screens, now), now=now)
    times: dict[tuple[str, str], list[float]] = {(m, f): [] for m in MODES for f in FILTERS}
    for q, screens in queries:
        for mode in MODES:
            for flt in FILTERS:
                t0 = time.perf_counter()
                store.search(q, _options(mode, flt, screens, now), now=now)
                times[(mode, flt)].append((time.perf_counter() - t0) * 1000)
    return times


def ann_agreement(store: Any, inputs: Inputs, k: int = 10) -> float:
    """What the vector index costs in recall: the share of the exact top k that the index's search returns
    (at 35k screens, built by hand: 0.856)."""
    import numpy as np

    shares = []
    for query in inputs.screen_queries + inputs.questions:
        vector = np.asarray(inputs.embedder.embed([query])[0], dtype=np.float32)

        def top(exact: bool) -> set[str]:
            search = store.table.search(vector).distance_type("l2").limit(k).select(["id", "_distance"])
            search = search.bypass_vector_index() if exact else search.nprobes(20).refine_factor(5)
            return set(search.to_arrow().column("id").to_pylist())
        shares.append(len(top(True) & top(False)) / k)
    return sum(shares) / len(shares)


def probe(home: str, year_dir: str) -> None:
    """Run in a fresh process: open and unlock the store, search, and say what the process holds."""
    limit_heap_arenas()
    state = FillState.load(Path(year_dir) / "state.json")
    inputs = Inputs(state, Path(year_dir))
    from storage.store import MemoryStore

    from bench.year_fill import EMBEDDER_NAME, PASSPHRASE

    t0 = time.perf_counter()
    store = MemoryStore.open(PASSPHRASE, home=Path(home), embedder=inputs.embedder, embedder_name=EMBEDDER_NAME)
    opened = time.perf_counter() - t0
    from storage.search import SearchOptions

    for q in inputs.screen_queries + inputs.questions:
        store.search(q, SearchOptions(k=10, time_words=False))
    rss = int(Path("/proc/self/status").read_text().split("VmRSS:")[1].split()[0]) / 1024
    print(json.dumps({"open_unlock_s": opened, "rss_mb": rss, "open_fds": open_files(),
                      "lance_cache_mb": store.session.size_bytes / 1e6}))


def _probe_process(home: Path, year_dir: Path) -> dict[str, float]:
    out = subprocess.run([sys.executable, "-m", "bench.year", "probe", str(home), str(year_dir)],
                         capture_output=True, text=True, check=True, cwd=Path(__file__).resolve().parents[1])
    return json.loads(out.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def time_deletes(store: Any, count: int) -> list[float]:
    from agents.forget import forget

    first, last = sim.START, sim.moment(max(1, sim.tick_of(store.list_range(kinds=["frame"], limit=1,
                                                                              newest_first=True)[0].time)))
    span, seconds = last - first, []
    for i in range(count):
        around = first + span * (i + 0.5) / count
        found = store.frame_times(around, around + timedelta(hours=1))
        if found:
            t0 = time.perf_counter()
            forget(store, [found[len(found) // 2][0]])
            seconds.append(time.perf_counter() - t0)
    return seconds


def time_upkeep(store: Any, service: Any, now: Any) -> tuple[float, float, float]:
    """The hourly job's duration, and the slowest search (ms) and write (s) run beside it meanwhile."""
    from storage.memory import Memory
    from storage.search import SearchOptions

    done = threading.Event()
    took: list[float] = []

    def job() -> None:
        t0 = time.perf_counter()
        try:
            hourly_job(service, now)
        finally:
            took.append(time.perf_counter() - t0)
            done.set()

    searches, writes = [0.0], [0.0]
    worker = threading.Thread(target=job)
    worker.start()
    while not done.is_set():
        t0 = time.perf_counter()
        store.search("upkeep probe budget", SearchOptions(k=10, time_words=False), now=now)
        searches.append((time.perf_counter() - t0) * 1000)
        t0 = time.perf_counter()
        store.add([Memory("message", "upkeep probe budget", {"conversation": "upkeep probe"}, time=now)])
        writes.append(time.perf_counter() - t0)
        done.wait(0.2)
    worker.join()
    return took[0], max(searches), max(writes)


def measure(fill: Fill, home: Path, year_dir: Path, inputs: Inputs, size: int) -> Metrics:
    from agents.forget import forget_range
    from app.capture.retention import RetentionPolicy, enforce
    from app.capture.service import bytes_under

    store, name, out = fill.store, label(size), {}
    now = sim.moment(fill.tick)
    frames = store.count("frame")
    print(f"  measuring at {size:,} screens kept ({frames:,} frames, {store.count():,} rows); {load_note()}",
          flush=True)
    out[f"year.bytes_per_frame.{name}"] = metric(round(bytes_under(home) / frames), "bytes", frames,
                                                 f"{store.count():,} rows in all")
    times = time_searches(store, inputs, now)
    note = load_note()
    for mode in MODES:
        every = [t for f in FILTERS for t in times[(mode, f)]]
        out[f"year.search.{mode}.p50_ms.{name}"] = metric(_pct(every, 50), "ms", len(every), note)
        out[f"year.search.{mode}.p95_ms.{name}"] = metric(_pct(every, 95), "ms", len(every), note)
        for flt in FILTERS:
            out[f"year.search.{mode}.{flt}.p95_ms.{name}"] = metric(_pct(times[(mode, flt)], 95), "ms",
                                                                    len(times[(mode, flt)]))
    if store.has_vector_index():
        agreement = ann_agreement(store, inputs)
        out[f"year.search.vector.ann_agreement_at_10.{name}"] = metric(
            round(agreement, 3), "share", len(inputs.screen_queries + inputs.questions),
            "of the exact top 10 by vector (every vector scanned), how many the index's search (nprobes 20, "
            "refine 5, as Engram searches) also returns")
    probed = _probe_process(home, year_dir)
    note = load_note()
    out[f"year.open_unlock.s.{name}"] = metric(round(probed["open_unlock_s"], 2), "s", 1, note)
    out[f"year.rss_mb.{name}"] = metric(round(probed["rss_mb"]), "MB", 1, note)
    out[f"year.lance_cache_mb.{name}"] = metric(round(probed["lance_cache_mb"], 1), "MB", 1,
                                                "of that RSS: LanceDB's index and metadata caches (its session)")
    out[f"year.open_fds.{name}"] = metric(int(probed["open_fds"]), "fds", 1, "after opening and 80 searches")
    deletes = time_deletes(store, DELETES)
    out[f"year.delete_frame.p95_s.{name}"] = metric(_pct(deletes, 95), "s", len(deletes), load_note())
    t0 = time.perf_counter()
    enforce(store, RetentionPolicy(), now=now)
    out[f"year.retention.s.{name}"] = metric(round(time.perf_counter() - t0, 2), "s", 1, load_note())
    took, slowest_search, slowest_write = time_upkeep(store, fill.service, now)
    out[f"year.upkeep.s.{name}"] = metric(round(took, 2), "s", 1, load_note())
    out[f"year.upkeep_blocks_search.ms.{name}"] = metric(round(slowest_search), "ms", None,
                                                          "slowest search run beside the hourly job")
    out[f"year.upkeep_blocks_write.s.{name}"] = metric(round(slowest_write, 2), "s", None,
                                                        "slowest one-row write run beside the hourly job")
    day = _day_still_held(store, now)
    t0 = time.perf_counter()
    gone = forget_range(store, day - timedelta(hours=1), day + timedelta(hours=9), kinds=["frame", "episodic"])
    out[f"year.forget_day.s.{name}"] = metric(round(time.perf_counter() - t0, 2), "s", gone.sources,
                                              f"{gone.sources:,} rows of {day:%Y-%m-%d}; {load_note()}")
    for key, value in out.items():
        print(f"    {key} = {value['value']} {value['unit']}", flush=True)
    return out


def _day_still_held(store: Any, now: datetime) -> datetime:
    """The simulated day nearest the middle of the fill that still has screens: each measuring point
    forgets one, and the next must not time the forgetting of a day already gone (0 rows at 10k)."""
    from storage.codec import to_us

    days = (now - sim.START).days
    middle = days // 2
    for offset in sorted(range(-middle, days - middle + 1), key=abs):
        day = sim.START + timedelta(days=middle + offset)
        span = f"time_us >= {to_us(day - timedelta(hours=1))} AND time_us < {to_us(day + timedelta(hours=9))}"
        if store.table.count_rows(f"kind = 'frame' AND {span}"):
            return day
    return sim.START + timedelta(days=middle)


# -- the run -------------------------------------------------------------------------------------------


def run(argv: Sequence[str] = ()) -> Metrics:
    parser = argparse.ArgumentParser(prog="bench.year")
    parser.add_argument("--frames", type=int, default=100_000, help="screens to keep in all (resumes)")
    parser.add_argument("--milestones", default="", help="comma-separated sizes to measure at (default 100k,300k,1M)")
    parser.add_argument("--dir", type=Path, default=YEAR_DIR, help="where the store and its state live")
    parser.add_argument("--kdf-seconds", type=float, default=1.0, help="key derivation time (the app's: 1)")
    args, _ = parser.parse_known_args(list(argv))
    limit_heap_arenas()  # as the app does before its threads start: its memory and its search times
    milestones = [int(m) for m in args.milestones.split(",") if m] or [m for m in MILESTONES if m <= args.frames]
    targets = sorted({*(m for m in milestones if m <= args.frames), args.frames})
    year_dir, home = args.dir, args.dir / "home"
    year_dir.mkdir(parents=True, exist_ok=True)
    state = FillState.load(year_dir / "state.json")
    inputs = Inputs(state, year_dir)
    store = open_store(home, inputs.embedder, args.kdf_seconds)
    fill = Fill(store, inputs.screens, inputs.turns, year_dir, state=state)
    print(f"  {fill.kept:,} screens kept so far ({store.count():,} rows); filling to {args.frames:,}", flush=True)
    out: Metrics = {}
    for target in targets:
        fill.run(target)
        if target in milestones and label(target) not in state.measured:
            new = measure(fill, home, year_dir, inputs, target)
            results.merge(new)
            out.update(new)
            state.measured[label(target)] = True
            state.save()
    runs = [r for r in state.open_files if r[1] > r[0]]
    if runs:
        longest = max(runs, key=lambda r: r[1] - r[0])
        out["year.fill.open_files_growth"] = metric(
            max(r[3] - r[2] for r in runs), "fds", len(runs),
            f"most open files in a run of the fill above its first count, over {len(runs)} runs; the longest kept "
            f"{longest[1] - longest[0]:,} screens (~{2 * (longest[1] - longest[0]):,} writes): {longest[2]} -> "
            f"at most {longest[3]}")
    if state.frames_timed:
        rate = state.frames_timed / state.fill_seconds
        out["year.fill.frames_per_s"] = metric(round(rate, 2), "frames/s", state.frames_timed,
                                               f"1M screens would take {1_000_000 / rate / 86400:.1f} days; "
                                               f"{load_note()} at the end")
    store.close()
    return out


if __name__ == "__main__":
    if sys.argv[1:2] == ["probe"]:
        probe(*sys.argv[2:4])
    else:
        results.merge(run(sys.argv[1:]))
        results.render(results.collected_methods())
