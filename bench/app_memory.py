"""What the desktop app holds in memory, part by part, and whether it grows.

The app runs in a child process under its own Xvfb (no screen saver), unlocked on a new store with the real
MiniLM embedder and RapidOCR, capture every `--interval` s over a window whose text changes every second
(a line typed, a clock) and the memory agents running. The child reports, at each step:

- start: the tray shown, nothing unlocked;
- unlocked: 15 s after unlocking (capture and agents started);
- reading: `--frames` screens kept, the changing window closed, and the OCR worker done reading them;
- idle: capture still on over the still screen, 75 s later (the OCR worker lets its models go after 60 s
  without a frame, and the app its library pages: app/idle_pages.py);
- idle_5min: the same, 5 minutes after the last frame was read (the agents look for work every 30 s);
- with_ask_model / ask_model_closed (`--with-llm`): the packaged model for Ask loaded, then closed;
- after_run (`--hours`): the end of the growth run;
- locked: 5 s after Lock.

Each report is the app's VmRSS, the RSS of its mappings grouped by what they belong to (`anon`: heaps and
arenas, where every part's own allocations land - Python objects, numpy arrays, LanceDB's Rust and Qt's C++
allocations; the others are the code and data pages of the named libraries, shared with any other process
that maps them), its PSS in total, the RSS of its child processes (the OCR process, which reads screens while
they wait and ends 60 s after the last) and, with `--tracemalloc` (a separate run: its bookkeeping inflates
the RSS), the Python-side allocations by file, numpy arrays included (the embedder's weights show as
storage/minilm.py). `--with-llm` loads the packaged model for Ask after the idle step and closes it again.

`--hours H` adds the growth run after the idle step: capture at `--interval` over the changing window plus a
search 2 s after the one before ended, RSS sampled every minute; the growth is the slope of a line fitted to
the samples after the first quarter of the run (warm-up excluded), in MB per hour.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench.results import Metrics, metric
from bench.ui_bench import START_METHOD

REPO = Path(__file__).resolve().parents[1]
FINDINGS = """What the parts cost, and what changed (issue 16.6, 21.6; 2026-12-05, the machine shared with up to six
other jobs, load average 10-18 on 2 cores). Before, this bench (tracemalloc on) gave 591 MB after unlocking,
1,055 MB after reading 7 frames, 723 MB idle and 795 MB after Lock: Lock let nothing go.
- OCR: 360-460 MB while its models are loaded (onnxruntime's working memory, kept by the heap); dropping the
  models inside the app left ~85 MB (the libraries, and what the heap kept). It now reads in a child process
  that ends 60 s after the last frame and on Lock (`app.ocr_process_rss_mb`: 465 MB while reading, 0 idle).
- MiniLM: 97 MB (views kept the whole 87 MB model file alive, plus the fused attention weights); now 64 MB
  (tensors copied out, token table in float16), and let go on Lock.
- PySide6's import hook reads the source of every module imported after it into linecache: 25-30 MB, now
  emptied whenever memory is given back (a quiet spell of the OCR worker, Lock).
- glibc arenas: one 1080p OCR read left 417 MB anonymous memory with the default arenas, 312 MB with one;
  the app now allows 2. malloc_trim after a quiet spell and after Lock.
- The packaged Ask model: +595 MB while loaded (its 495 MB GGUF is mapped), all of it back when closed.
What stayed at idle before 2026-12-06 (455 MB): 145 MB of LanceDB/Arrow library pages (the 185 MB
_lancedb.so; file pages shared with any process mapping them), 33 MB Qt, 27 MB Python, 40 MB other libraries,
and 211 MB anonymous: Python ~125 MB (MiniLM 64, modules ~60) and ~85 MB native (LanceDB, Qt, heap). PSS was
262 MB. Since 2026-12-06 (`app.idle_rss_mb` 263 MB, 265 five minutes after the last frame; target 300): the app
drops its pages of read-only library mappings that hold nothing of its own when the OCR worker goes quiet, when the
agents find nothing to do, and on Lock (app/idle_pages.py; they are the files' content, read back from the page
cache when next needed, and meanwhile plain file cache the system reclaims first), and at idle nothing touches
LanceDB any more: the OCR worker looked for frames to read every second and the agents for rows to digest every
30 s, each a LanceDB query that brought ~85 MB of its pages back within seconds (idle 343 MB, 351 at 5 min, with
the pages dropped but the polling left). They now ask only once this process wrote since they last found
nothing (the agents also every 10 min, for what another process wrote). Left at idle: ~208 MB anonymous (MiniLM 64,
Python's modules, LanceDB's and Qt's heaps), 13 MB of LanceDB's pages, 19 MB of other libraries. The first search
after idle reads LanceDB's pages back (~100 MB from the page cache: 23 ms against 21 for a search on a small store
in a by-hand test). Growth (`app.rss_growth_mb_per_h`: 0.5 h, tracemalloc on, 295 searches, 52 frames read; in that run the OCR
worker did not yet empty linecache at idle): the Python heap stayed flat (149.3 -> 149.8 MB, no file grew by more
than 0.1 MB); RSS rose 24 MB/h after warm-up, 36 MB of it LanceDB/Arrow library pages first touched by searches
and writes, ~30 MB native anonymous memory; too short a run to say whether that levels off. After Lock the Python
heap fell to 62 MB (MiniLM's weights and linecache gone). Not done: letting MiniLM go when idle (64 MB; the next
search would wait for its load, 1-10 s here), the store in a process of its own (LanceDB's pages), bounding LanceDB's caches (storage/store.py could pass
`session=lancedb.Session(index_cache_size_bytes=..., metadata_cache_size_bytes=...)` to `connect`; not
measured on a large store)."""
METHODS = {"app": START_METHOD + " Memory (bench/app_memory.py): " + (__doc__ or "").split("\n\n", 1)[1].strip()
           + "\n\n" + FINDINGS}

# Mappings by what they belong to: the first group whose word is in the path.
GROUPS = (("qt", ("PySide6", "shiboken6", "libQt6", "/Qt/")), ("ocr", ("onnxruntime", "cv2", "opencv", "rapidocr")),
          ("lancedb_arrow", ("lancedb", "/lance", "pyarrow", "libarrow", "libparquet")),
          ("llama", ("llama", "ggml")), ("numpy_blas", ("numpy", "openblas")),
          ("python", ("python3", "libpython", "lib-dynload")))


def smaps_groups(pid: int | str = "self", field: str = "Rss") -> dict[str, float]:
    """`field` (Rss or Pss) in MB per group of mappings (see GROUPS), plus 'anon' and 'other_files'."""
    groups: dict[str, float] = {}
    name = "anon"
    with open(f"/proc/{pid}/smaps", encoding="utf-8", errors="replace") as smaps:
        for line in smaps:
            first = line.split(None, 1)[0]
            if "-" in first and not first.endswith(":"):  # a mapping's header: range perms offset dev inode [path]
                parts = line.split(None, 5)
                path = parts[5].strip() if len(parts) > 5 else ""
                name = _group(path)
            elif first == field + ":":
                groups[name] = groups.get(name, 0.0) + int(line.split()[1]) / 1024
    return {k: round(v, 1) for k, v in sorted(groups.items())}


def _group(path: str) -> str:
    if not path or path.startswith("[heap") or path.startswith("[anon") or path.startswith("[stack"):
        return "anon"
    if path.startswith("["):
        return "other_files"
    return next((group for group, words in GROUPS if any(word in path for word in words)), "other_files")


def rss_mb(pid: int | str = "self") -> float:
    with open(f"/proc/{pid}/status", encoding="utf-8") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def children_rss_mb() -> float:
    """The VmRSS of this process's children (the OCR process while it runs)."""
    total = 0.0
    for task in os.listdir("/proc/self/task"):
        with open(f"/proc/self/task/{task}/children", encoding="utf-8") as children:
            for pid in children.read().split():
                try:
                    total += rss_mb(pid)
                except (OSError, RuntimeError):
                    pass  # it ended meanwhile
    return total


_SCREEN = textwrap.dedent("""
    import sys, time
    from app.qt import QApplication, QLabel, QTimer, QFont
    app = QApplication(sys.argv)
    label = QLabel()
    label.setWindowTitle("notes.txt - Editor")
    label.setFont(QFont("DejaVu Sans Mono", 16))
    label.setStyleSheet("background: white; color: black; padding: 20px")
    label.resize(1600, 900)
    label.move(0, 0)
    words = "quarterly figures budget meeting notes draft review invoice travel plan garden recipe".split()
    state = {"n": 0}
    def step():
        n = state["n"] = state["n"] + 1
        lines = [f"{i:3d}  " + " ".join(words[(i * 7 + j + n // 5) % len(words)] for j in range(8))
                 for i in range(25)]
        lines.append(time.strftime("%H:%M:%S") + f"  edit {n}")
        label.setText("\\n".join(lines))
    step()
    label.show()
    timer = QTimer()
    timer.timeout.connect(step)
    timer.start(1000)
    app.exec()
""")

_CHILD = textwrap.dedent("""
    import gc, json, os, sys, time
    TRACE = os.environ.get("BENCH_TRACEMALLOC") == "1"
    if TRACE:
        import tracemalloc
        tracemalloc.start(1)
    from bench.app_memory import children_rss_mb, rss_mb, smaps_groups
    if os.environ.get("BENCH_ARENAS") != "default":
        from app.desktop.footprint import limit_heap_arenas
        limit_heap_arenas()             # as app.desktop.main.run does
    from app.desktop.main import DesktopApp
    from app.qt import QApplication
    app = QApplication(sys.argv)
    desktop = DesktopApp(app)
    desktop.tray.show()

    def wait(seconds, until=lambda: False):
        end = time.time() + seconds
        while time.time() < end and not until():
            app.processEvents()
            time.sleep(0.05)

    def report(step, **extra):
        gc.collect()
        out = {"step": step, "rss_mb": round(rss_mb(), 1), "children_rss_mb": round(children_rss_mb(), 1),
               "rss_by_part_mb": smaps_groups(),
               "pss_mb": round(sum(smaps_groups(field="Pss").values()), 1), **extra}
        if TRACE:
            snap = tracemalloc.take_snapshot()
            stats = snap.statistics("filename")
            out["traced_mb"] = round(sum(s.size for s in stats) / 2**20, 1)
            out["traced_top"] = {short(s.traceback[0].filename): round(s.size / 2**20, 1) for s in stats[:12]}
            if snapshots:  # what grew since the step before, by file
                out["traced_growth"] = {short(d.traceback[0].filename): round(d.size_diff / 2**20, 2)
                                        for d in snap.compare_to(snapshots[-1], "filename")[:8]}
            snapshots[:] = [snap]
        print("STEP " + json.dumps(out), flush=True)

    snapshots = []
    def short(path):
        return path.split("site-packages/")[-1].split("/work/main/")[-1].split("python3.11/")[-1]

    wait(3)
    report("start")
    from storage.store import MemoryStore
    store, _ = MemoryStore.create("bench passphrase", kdf_seconds=0.05)
    desktop.store = store
    desktop.capture = desktop.start_capture(store)
    desktop.agents = desktop.start_agents(store)
    wait(15)
    report("unlocked", frames_read=desktop.capture.ocr_worker.read)
    frames = int(os.environ["BENCH_FRAMES"])
    wait(600, lambda: desktop.capture.recorder.counts["kept"] >= frames)
    print("QUIET", flush=True)          # the parent closes the changing window
    wait(1800, lambda: desktop.capture.ocr_worker.read >= 2 and not store.pending_text(limit=1))
    report("reading", frames_read=desktop.capture.ocr_worker.read)
    wait(75)
    report("idle", frames_read=desktop.capture.ocr_worker.read)
    wait(225)
    report("idle_5min", frames_read=desktop.capture.ocr_worker.read)
    if os.environ.get("BENCH_LLM") == "1":
        from agents.llm import LocalLLM, packaged_model
        from app.desktop.footprint import give_memory_back
        llm = LocalLLM(packaged_model())
        llm.load()
        wait(5)
        report("with_ask_model")
        llm.close()
        del llm
        give_memory_back()
        wait(5)
        report("ask_model_closed")
    hours = float(os.environ.get("BENCH_HOURS", "0"))
    if hours:
        print("BUSY", flush=True)       # the parent opens the changing window again
        from storage.search import SearchOptions
        queries = ["budget meeting", "invoice travel", "garden recipe", "quarterly figures", "notes draft"]
        end, n, next_sample = time.time() + hours * 3600, 0, 0.0
        started = time.time()
        while time.time() < end:
            if time.time() >= next_sample:
                print("SAMPLE " + json.dumps({"t": round(time.time() - started, 1), "rss_mb": round(rss_mb(), 1),
                                              "children_rss_mb": round(children_rss_mb(), 1),
                                              "frames_read": desktop.capture.ocr_worker.read, "searches": n}),
                      flush=True)
                next_sample = time.time() + 60
            desktop._search(queries[n % len(queries)], SearchOptions())
            n += 1
            wait(2)
        report("after_run", frames_read=desktop.capture.ocr_worker.read, searches=n)
    desktop.lock()
    wait(5)
    report("locked")
    desktop.quit()
""")


def _config(home: Path, interval: float) -> None:
    home.mkdir(parents=True, exist_ok=True)
    (home / "config.toml").write_text(textwrap.dedent(f"""
        [capture]
        interval_seconds = {interval}
        idle_after_seconds = 1000000.0
        min_free_disk_mb = 1

        [security]
        auto_lock_minutes = 0
    """), encoding="utf-8")


def _xvfb() -> tuple[subprocess.Popen[bytes], str]:
    """Like tests/xvfb.py, with the screen saver off (`-s 0`): an hour without input must not blank it."""
    read, write = os.pipe()
    server = subprocess.Popen(["Xvfb", "-displayfd", str(write), "-screen", "0", "1920x1080x24", "-nolisten", "tcp",
                               "-s", "0"], pass_fds=(write,), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    os.close(write)
    with os.fdopen(read) as numbers:
        return server, ":" + numbers.readline().strip()


def measure(frames: int, interval: float, hours: float, trace: bool, with_llm: bool) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    server, display = _xvfb()
    screen: subprocess.Popen[bytes] | None = None
    steps: list[dict[str, Any]] = []
    samples: list[dict[str, Any]] = []
    try:
        with tempfile.TemporaryDirectory(prefix="engram-mem-") as tmp:
            env = {**os.environ, "DISPLAY": display, "QT_QPA_PLATFORM": "xcb", "ENGRAM_HOME": tmp,
                   "BENCH_FRAMES": str(frames), "BENCH_LLM": "1" if with_llm else "0", "BENCH_HOURS": str(hours), "BENCH_TRACEMALLOC": "1" if trace else "0"}
            _config(Path(tmp), interval)
            screen = subprocess.Popen([sys.executable, "-c", _SCREEN], cwd=REPO, env=env,
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(2)
            errors = open(Path(tmp) / "child.err", "w+", encoding="utf-8")  # a pipe unread for an hour would fill
            child = subprocess.Popen([sys.executable, "-c", _CHILD], cwd=REPO, env=env, stdout=subprocess.PIPE,
                                     stderr=errors, text=True)
            assert child.stdout is not None
            for line in child.stdout:
                print(line.rstrip()[:400], flush=True)
                if line.startswith("STEP "):
                    steps.append(json.loads(line[5:]))
                elif line.startswith("SAMPLE "):
                    samples.append(json.loads(line[7:]))
                elif line.startswith("QUIET") and screen is not None:
                    screen.terminate()
                    screen.wait()
                    screen = None
                elif line.startswith("BUSY"):
                    screen = subprocess.Popen([sys.executable, "-c", _SCREEN], cwd=REPO, env=env,
                                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            child.wait()
            errors.seek(0)
            failure = errors.read()[-3000:]
            errors.close()
            if child.returncode:
                raise RuntimeError(f"the app child failed: {failure}")
    finally:
        if screen is not None:
            screen.terminate()
            screen.wait()
        server.terminate()
        server.wait()
    return steps, samples


def growth_mb_per_hour(samples: list[dict[str, Any]]) -> float:
    """The least-squares slope of RSS over time, after the first quarter of the run."""
    kept = [s for s in samples if s["t"] >= samples[-1]["t"] / 4]
    ts, ys = [s["t"] / 3600 for s in kept], [s["rss_mb"] for s in kept]
    mt, my = sum(ts) / len(ts), sum(ys) / len(ys)
    return float(sum((t - mt) * (y - my) for t, y in zip(ts, ys)) / sum((t - mt) ** 2 for t in ts))


def run(argv: Sequence[str] = ()) -> Metrics:
    parser = argparse.ArgumentParser(prog="bench.app_memory")
    parser.add_argument("--frames", type=int, default=6)
    parser.add_argument("--interval", type=float, default=3.0)
    parser.add_argument("--hours", type=float, default=0.0)
    parser.add_argument("--tracemalloc", action="store_true")
    parser.add_argument("--with-llm", action="store_true", help="load and close the packaged model after idle")
    args, _ = parser.parse_known_args(list(argv))
    before = os.getloadavg()
    steps, samples = measure(args.frames, args.interval, args.hours, args.tracemalloc, args.with_llm)
    print(json.dumps({"steps": steps, "samples": samples}, indent=1))
    worst = [max(a, b) for a, b in zip(before, os.getloadavg())]
    return metrics(steps, samples, args, f"load average up to {worst[0]:.1f}/{worst[1]:.1f}/{worst[2]:.1f} on 2 cores")


def metrics(steps: list[dict[str, Any]], samples: list[dict[str, Any]], args: Any, load: str) -> Metrics:
    """Python-heap figures from a --tracemalloc run (its own bookkeeping inflates the RSS), RSS from a plain one."""
    by_step = {step["step"]: step for step in steps}
    out: Metrics = {}
    if samples:
        out["app.rss_growth_mb_per_h"] = metric(round(growth_mb_per_hour(samples), 1), "MB/h", len(samples),
                                                f"{args.hours:g} h of capture every {args.interval:g} s over a "
                                                f"changing window, a search 2 s after the one before "
                                                f"({samples[-1]['searches']} searches, {samples[-1]['frames_read']} "
                                                f"frames read){' with tracemalloc on' if args.tracemalloc else ''}; "
                                                f"{load}")
    if args.tracemalloc:
        for name, step in by_step.items():
            out[f"app.python_heap_mb.{name}"] = metric(step["traced_mb"], "MB", 1, "tracemalloc, numpy arrays included; "
                                                        + load)
            minilm = sum(v for k, v in step["traced_top"].items() if "minilm" in k or "zipfile" in k)
            out[f"app.python_heap_mb.minilm_weights.{name}"] = metric(round(minilm, 1), "MB", 1, load)
        return out
    for name, step in by_step.items():
        out[f"app.rss_mb.{name}"] = metric(step["rss_mb"], "MB", 1, load)
        out[f"app.pss_mb.{name}"] = metric(step["pss_mb"], "MB", 1, load)
        if "children_rss_mb" in step:
            out[f"app.ocr_process_rss_mb.{name}"] = metric(step["children_rss_mb"], "MB", 1, load)
        for part, mb in step["rss_by_part_mb"].items():
            out[f"app.rss_breakdown.{part}_mb.{name}"] = metric(mb, "MB", 1, load)
    notes = {"unlocked": "15 s after unlocking, capture and agents running", "idle": "capture on over a still "
             "screen, 75 s after the last frame was read (OCR models dropped after 60 s)", "locked": "5 s after Lock"}
    notes["idle_5min"] = "as idle, 5 min after the last frame was read (the agents on their 30 s schedule)"
    for metric_name, step_name in (("app.rss_after_start_mb", "unlocked"), ("app.idle_rss_mb", "idle"),
                                   ("app.idle_rss_mb_after_5min", "idle_5min"), ("app.rss_after_lock_mb", "locked")):
        out[metric_name] = metric(by_step[step_name]["rss_mb"], "MB", 1, f"{notes[step_name]}; {load}")
    if "with_ask_model" in by_step:
        out["app.idle_rss_mb_with_llm"] = metric(by_step["with_ask_model"]["rss_mb"], "MB", 1,
                                                 "idle plus the packaged model loaded for Ask; " + load)
    return out


if __name__ == "__main__":
    from bench import results

    results.merge(run(sys.argv[1:]))
    results.render(results.collected_methods())
