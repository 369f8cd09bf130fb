"""What screen capture costs: CPU per tick, disk per hour, time until a frame is searchable.

METHODS["capture"] says how; run with `python -m bench.run capture_bench`.
"""
from __future__ import annotations

import glob
import json
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from bench.shared import screens_dir
from bench.results import metric

INTERVAL_S = 3.0

METHODS = {"capture": textwrap.dedent("""\
    **Unchanged screen** (`capture.unchanged.*`): a real X server (Xvfb, 1920x1080) showing a real Qt
    window; `Recorder.tick()` with `MssScreen`, `X11Windows` and the `FrameFilter`, 100 ticks after the first
    kept one. CPU is Engram's process time plus the X server's (it does the copying of a grab), per tick,
    median; `core_share` = that CPU / the 3 s default interval. **Kept frame** (`capture.kept_frame.*`): the
    35 ScreenAgent sessions (real 1024x768 desktops) replayed in order through the real pipeline (filter,
    WebP encode, encrypted blobs, store add, RapidOCR reading only what changed, MiniLM embedding of
    the text, store update); process CPU per kept frame, median over sessions. `keep_share` is the share of
    grabs the filter kept in that replay: ScreenAgent screenshots were taken at the agent's actions, not
    every 3 s, so this overstates how often a real screen changes; `avg_core_share` combines both costs at
    that (pessimistic) change rate. The screenshots' file names are the times they were taken: over the
    sessions' own time (`images_at_recorded_pace`), the agent took a step every ~100 s, slower than a
    person, so the two figures bracket a real hour. The replayed screens are JPEG files: their compression
    noise costs lossy WebP bytes and rules out lossless, where a real grab has exact pixels (the typing
    scenario below is real grabs). **Disk** (`capture.mb_per_hour.*`): bytes of encrypted images,
    thumbnails and table rows per kept frame (after compaction), plus what the table's indexes add for
    those rows in a long-lived store (keyword, filters and the ANN vector index, which a store builds at
    50,000 rows: the slope of the index files' bytes between the rows and four copies of them, so the
    fixed parts of a small index are not charged to a few rows; until session 5 indexes were not
    counted), x 1,200 ticks per hour x `keep_share`; `text_only`: the same replay after the "text
    only" conversion retention applies (pictures and word boxes dropped, runs of one screen merged into
    one row), table and index bytes per kept frame x the same rate. **To searchable** (`capture.to_searchable.*`): the
    `CaptureService` (APScheduler, 3 s interval) over a replayed session; for every kept frame, the time from
    its capture to its OCR text being stored (then keyword search finds it). **Typing**
    (`capture.mb_per_hour.typing*`): a full-screen Qt editor under Xvfb (1920x1080) holding a page of text,
    15 characters typed before each of 120 ticks (60 words a minute, without pause): the real recorder, X11
    window provider, RapidOCR and store; bytes on disk per tick x 1,200, and the same after the text-only
    conversion. **Reading** (`capture.mb_per_hour.reading*`): the same editor holding a long document that
    moves up 3 lines before each tick (a page a minute), the way scrolling while reading changes a screen.
    For both, `cpu_ms_per_tick` is the median CPU (Engram and the X server) of a tick and reading its text,
    and `ocr_agreement` the share of the words a whole-screen read of the middle and last frames finds
    that their text, built tick by tick from reads of what changed, has too. It is not an error rate of
    either: where they differ, the whole-screen read is as often the wrong one (its detector sees the
    1080p screen shrunk to 1280 px: "tabie", "salēs" where the small reads had "table", "sales").
    **Video** (`capture.*video*`): a 1280x720 window on a 1920x1080 X server playing footage at 20 frames a
    second (tests/video.py: synthetic, panned colour noise with film grain; real footage has sharper edges,
    so costs more bytes a frame), captured by the real recorder, X11 window provider, mss, RapidOCR and
    store for 40 ticks 3 s apart in real time; bytes on disk per tick x 1,200, and the CPU of a tick with
    reading its text (Engram and the X server; the player's own CPU is not counted). Run twice: with the
    moving-picture rule (a frame a minute while only the picture moves) and without it (`_every_frame`:
    every changed frame kept, as before session 6). **Clock** (`capture.clock_replay.*`, issue 21.5; what a
    clock costs in the desktop app over real windows is `capture.clock.core_share`, bench/hour_of_use.py): a still
    1920x1080 terminal page with a 48 px seconds clock in a corner (tests/ticking_clock.py: a desktop clock
    widget; synthetic frames, so no X server copies them), 3 s apart by the filter's clock, through the
    real recorder, frame filter, RapidOCR worker and a store embedding with MiniLM; after 8 grabs (until
    the clock is known to tick), 100 grabs (5 minutes of capture) are measured: `kept_per_min`, the
    process CPU (every thread: OCR and BLAS included) per minute of capture (`cpu_s_per_min`, and
    `core_share` = that / 60 s), and `embeds_per_min`, the texts the store embedded (a kept frame's
    empty pending text included). `_every_tick`: the same with the clock rule off (`ticking_seconds=0`),
    which keeps a frame whenever the clock changed the screen enough; its texts still take the vector
    of the screen before when only numbers changed. `_before`: both off, every text read is embedded, as
    before issue 21.5."""),
}


def _cpu_of(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _store(home: Path, embedder: Any = None) -> Any:
    from storage.store import MemoryStore

    store, _ = MemoryStore.create("bench", home=home, embedder=embedder, kdf_seconds=0.01)
    return store


def unchanged_tick(home: Path) -> dict[str, Any]:
    from app.capture.recorder import CaptureSettings, Recorder
    from app.capture.screen import MssScreen
    from app.capture.windows_x11 import X11Windows

    from tests.xvfb import start_xvfb

    xvfb, display = start_xvfb("1920x1080x24")
    window_code = ("import sys\nfrom PySide6.QtWidgets import QApplication, QLabel\napp = QApplication(sys.argv)\n"
                   "w = QLabel('An unchanged document\\n' * 20)\nw.setWindowTitle('notes.txt - Editor')\n"
                   "w.setGeometry(0, 0, 1200, 900)\nw.show()\nprint('ready', flush=True)\napp.exec()\n")
    env = dict(os.environ, DISPLAY=display, QT_QPA_PLATFORM="xcb")
    window = subprocess.Popen([sys.executable, "-c", window_code], env=env, stdout=subprocess.PIPE, text=True)
    try:
        assert window.stdout is not None and window.stdout.readline().strip() == "ready"
        time.sleep(1.0)
        os.environ["DISPLAY"] = display
        from tests.fakes import HashEmbedder

        recorder = Recorder(_store(home, HashEmbedder()), MssScreen(), X11Windows(display),
                            settings=CaptureSettings(min_free_disk_mb=1))
        assert recorder.tick() == "kept"
        costs = []
        for _ in range(100):
            own, server = time.process_time(), _cpu_of(xvfb.pid)
            outcome = recorder.tick()
            costs.append((time.process_time() - own + _cpu_of(xvfb.pid) - server) * 1000)
            assert outcome == "duplicate", outcome
        recorder.close()
    finally:
        window.terminate()
        window.wait(10)
        xvfb.terminate()
        xvfb.wait(10)
    tick_ms = statistics.median(costs)
    return {"capture.unchanged.cpu_ms_per_tick": metric(round(tick_ms, 2), "ms CPU", len(costs), "Engram + X server"),
            "capture.unchanged.core_share": metric(round(tick_ms / (INTERVAL_S * 1000), 5), "of one core",
                                                   len(costs), "at the 3 s default interval")}


def replay_sessions(home: Path) -> tuple[dict[str, Any], Any]:
    from app.capture.ocr_worker import OcrWorker
    from app.capture.recorder import CaptureSettings, Recorder
    from app.capture.screen import ReplayScreen
    from app.capture.windows import ReplayWindows
    from app.capture.ocr import RapidOcrEngine

    store = _store(home)
    ocr = RapidOcrEngine()
    sessions = sorted(p for p in screens_dir().iterdir() if p.is_dir())
    per_frame, grabs, kept, recorded_s = [], 0, 0, 0.0
    for session in sessions:
        images = sorted(glob.glob(str(session / "images" / "*.jpg")))
        recorded_s += (_taken(images[-1]) - _taken(images[0])).total_seconds() + INTERVAL_S
        recorder = Recorder(store, ReplayScreen(images), ReplayWindows(), settings=CaptureSettings(min_free_disk_mb=1))
        worker = OcrWorker(store, ocr)
        started, session_kept = time.process_time(), 0
        for _ in images:
            session_kept += recorder.tick() == "kept"
        worker.drain()
        grabs += len(images)
        kept += session_kept
        if session_kept:
            per_frame.append((time.process_time() - started) * 1000 / session_kept)
    store.purge()
    frames = store.count("frame")
    blob_bytes = store.blobs.bytes_on_disk()
    rows_bytes, index_bytes = _table_bytes(store)
    table_bytes = rows_bytes + index_bytes
    share = kept / grabs
    per_hour = 3600 / INTERVAL_S * share
    kept_ms = statistics.median(per_frame)
    text_bytes, text_rows = text_only_bytes(store)
    return {
        "capture.kept_frame.ms": metric(round(kept_ms), "ms CPU", len(per_frame), "median over sessions"),
        "capture.keep_share": metric(round(share, 3), "of grabs", grabs, "ScreenAgent replay (pessimistic)"),
        "capture.mb_per_hour.images": metric(round((blob_bytes + table_bytes) / frames * per_hour / 1e6, 2), "MB/h",
                                             frames, f"{(blob_bytes + table_bytes) / frames / 1e3:.1f} kB per kept frame "
                                             f"(pictures and thumbnails {blob_bytes / frames / 1e3:.1f}, table "
                                             f"{rows_bytes / frames / 1e3:.1f}, its indexes {index_bytes / frames / 1e3:.1f})"),
        "capture.mb_per_hour.images_at_recorded_pace": metric(
            round((blob_bytes + table_bytes) / (recorded_s / 3600) / 1e6, 2), "MB/h", frames,
            f"the same bytes over the sessions' own {recorded_s / 3600:.1f} h (an agent step every "
            f"{recorded_s / max(1, grabs - len(sessions)):.0f} s on average)"),
        "capture.mb_per_hour.text_only": metric(round(text_bytes / frames * per_hour / 1e6, 3), "MB/h", frames,
                                                f"{frames} frames -> {text_rows} text-only rows, "
                                                f"{text_bytes / frames:.0f} B per kept frame"),
    }, kept_ms


def _taken(image: str) -> datetime:
    """When a ScreenAgent screenshot was taken: its file name (YYYY-MM-DD_HH-MM-SS-micro.jpg)."""
    return datetime.strptime(Path(image).stem, "%Y-%m-%d_%H-%M-%S-%f")


def _table_bytes(store: Any) -> tuple[int, int]:
    """Bytes of the table's rows, and what every index a long-lived store keeps adds for them at scale
    (keyword, filters, and the ANN vector index a store builds at 50,000 rows, about a week of capture).
    Left to itself the store folds new rows into its indexes only every 5,000, so a short run would
    not count them; built over these few rows alone, their fixed parts (centroids, dictionaries) would
    be counted many times over. So: the slope of the indexes' bytes between this table's rows and
    four copies of them, in a scratch copy of the store, times the rows."""
    import shutil

    import pyarrow as pa

    from storage.store import MemoryStore

    store.purge()
    data = _bytes_under(store.root) - _bytes_under(store.root / "memories.lance" / "_indices")
    rows = store.table.to_arrow()
    sizes = []
    with tempfile.TemporaryDirectory() as tmp:
        for copies in (1, 4):
            home = Path(tmp) / str(copies)
            shutil.copytree(store.root.parent, home, ignore=shutil.ignore_patterns("blobs"))
            scratch = MemoryStore.open("bench", home=home)
            for c in range(1, copies):
                ids = pa.array([f"{(int(i[0], 16) + c) % 16:x}{i[1:]}" for i in rows["id"].to_pylist()])
                scratch.table.add(rows.set_column(rows.schema.get_field_index("id"), "id", ids))
            scratch.build_indexes(vector_min_rows=1)
            scratch.build_indexes()  # takes the rows written since the keyword index was made into it
            scratch.purge()  # index files of replaced versions
            sizes.append(_bytes_under(scratch.root / "memories.lance" / "_indices"))
            scratch.close()
    return data, round((sizes[1] - sizes[0]) / 3)


def _agreement_with_full_reads(store: Any, frames: list[Any]) -> float:
    """Share of the words a whole-screen read finds that the frames' text (built tick by tick from
    reads of what changed and words carried over) has too, counting repeats."""
    from collections import Counter

    from app.capture.ocr import RapidOcrEngine
    from storage.frame_pictures import picture

    ocr, found, total = RapidOcrEngine(), 0, 0
    for frame in frames:
        whole = Counter(ocr.read(picture(store, frame)).text.split())
        found += sum((whole & Counter(frame.text.split())).values())
        total += sum(whole.values())
    return found / max(1, total)


def _bytes_under(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def text_only_bytes(store: Any) -> tuple[int, int]:
    """The replay's table after the "text only" conversion (retention's, as the app runs it): frames
    taken in by the agents (marked so here) lose their pictures and runs of one screen merge."""
    from app.capture.retention import RetentionPolicy, enforce

    frames = store.list_range(kinds=["frame"], limit=100_000)
    store.mark_digested([f.id for f in frames])
    later = datetime.now(timezone.utc) + timedelta(days=2)
    enforce(store, RetentionPolicy(max_age_days=0, text_only_after_days=1), now=later)
    return sum(_table_bytes(store)), store.count("frame")


def to_searchable(home: Path) -> dict[str, Any]:
    from app.capture.ocr_worker import OcrWorker
    from app.capture.recorder import CaptureSettings, Recorder
    from app.capture.retention import RetentionPolicy
    from app.capture.screen import ReplayScreen
    from app.capture.windows import ReplayWindows
    from app.capture.service import CaptureService
    from app.capture.ocr import RapidOcrEngine

    store = _store(home)
    session = sorted(p for p in screens_dir().iterdir() if p.is_dir())[0]
    images = sorted(glob.glob(str(session / "images" / "*.jpg")))[:15]
    recorder = Recorder(store, ReplayScreen(images), ReplayWindows(), settings=CaptureSettings(min_free_disk_mb=1))
    service = CaptureService(recorder, OcrWorker(store, RapidOcrEngine()), RetentionPolicy(), INTERVAL_S)
    service.start()
    time.sleep(INTERVAL_S * len(images) + 1)
    deadline = time.monotonic() + 120
    while store.pending_text() and time.monotonic() < deadline:
        time.sleep(0.5)
    service.stop()
    delays = sorted((f.updated - f.time).total_seconds() for f in store.list_range(kinds=["frame"]))
    p95 = delays[min(len(delays) - 1, round(0.95 * (len(delays) - 1)))]
    return {"capture.to_searchable.p50_s": metric(round(statistics.median(delays), 2), "s", len(delays)),
            "capture.to_searchable.p95_s": metric(round(p95, 2), "s", len(delays))}


_EDITOR = textwrap.dedent("""
    import sys
    from PySide6.QtGui import QFont
    from PySide6.QtWidgets import QApplication, QPlainTextEdit
    app = QApplication(sys.argv)
    editor = QPlainTextEdit()
    editor.setWindowTitle("report.txt - Editor")
    editor.setFont(QFont("DejaVu Sans", 12))
    editor.setGeometry(0, 0, 1920, 1080)
    editor.setCursorWidth(0)  # no caret blink: the typing alone changes the screen
    editor.setPlainText(open(sys.argv[1]).read())
    editor.show()
    print("ready", flush=True)
    source = open(sys.argv[2]).read()
    done = 0

    def type_more():
        global done
        line = sys.stdin.readline()
        if not line:
            app.quit()
            return
        what, count = line.split()
        if what == "scroll":  # reading: the page moves up by `count` lines
            bar = editor.verticalScrollBar()
            bar.setValue(bar.value() + int(count))
        else:
            editor.moveCursor(editor.textCursor().MoveOperation.End)
            editor.insertPlainText(source[done:done + int(count)])
            done += int(count)
        app.processEvents()
        print("done", flush=True)

    from PySide6.QtCore import QTimer
    timer = QTimer()
    timer.timeout.connect(type_more)
    timer.start(0)
    app.exec()
""")


def editor_session(home: Path, scenario: str = "typing", ticks: int = 120) -> dict[str, Any]:
    """A full-screen editor under a real X server, real capture, OCR and store; disk per hour = bytes
    per tick x 1,200. `typing`: someone writing steadily at 60 words a minute (15 characters per 3 s
    tick). `reading`: someone reading a long document, which moves up 3 lines every tick (a page a
    minute). Every tick keeps a frame in both: the heaviest steady use of one window."""
    from app.capture.ocr_worker import OcrWorker
    from app.capture.recorder import CaptureSettings, Recorder
    from app.capture.screen import MssScreen
    from app.capture.windows_x11 import X11Windows
    from app.capture.ocr import RapidOcrEngine

    from tests.xvfb import start_xvfb

    sessions = sorted(p for p in screens_dir().iterdir() if p.is_dir())
    prompts = [json.loads(Path(j).read_text()).get("task_prompt", "") for s in sessions
               for j in sorted(glob.glob(str(s / "*.json")))[:1]]
    page = "\n".join(f"{i + 1}. {t}" for i, t in enumerate(prompts * (24 if scenario == "reading" else 1)))
    words = " ".join(prompts) * 4                                         # the text being typed
    (home / "page.txt").parent.mkdir(parents=True, exist_ok=True)
    (home / "page.txt").write_text(page)
    (home / "typed.txt").write_text(words)
    xvfb, display = start_xvfb("1920x1080x24")
    env = dict(os.environ, DISPLAY=display, QT_QPA_PLATFORM="xcb")
    editor = subprocess.Popen([sys.executable, "-c", _EDITOR, str(home / "page.txt"), str(home / "typed.txt")],
                              env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert editor.stdout is not None and editor.stdin is not None
        assert editor.stdout.readline().strip() == "ready"
        time.sleep(1.0)
        os.environ["DISPLAY"] = display
        store = _store(home / "store")
        # No input reaches this X server: past the idle limit (300 s, reached on a loaded machine) capture
        # would stop and the rest of the ticks count as not kept.
        recorder = Recorder(store, MssScreen(), X11Windows(display),
                            settings=CaptureSettings(min_free_disk_mb=1, idle_after_seconds=float("inf")))
        worker = OcrWorker(store, RapidOcrEngine())
        start = datetime.now(timezone.utc)
        outcomes = [recorder.tick(start)]
        worker.drain()  # the first screen is read whole: the ticks after it are what is measured
        cpu = []
        for i in range(1, ticks + 1):
            editor.stdin.write("scroll 3\n" if scenario == "reading" else "type 15\n")
            editor.stdin.flush()
            assert editor.stdout.readline().strip() == "done"
            time.sleep(0.05)
            own, server = time.process_time(), _cpu_of(xvfb.pid)
            outcomes.append(recorder.tick(start + timedelta(seconds=INTERVAL_S * i)))
            worker.drain()
            cpu.append((time.process_time() - own + _cpu_of(xvfb.pid) - server) * 1000)
        recorder.close()
    finally:
        editor.kill()
        editor.wait(10)
        xvfb.terminate()
        xvfb.wait(10)
    store.purge()
    frames = store.list_range(kinds=["frame"], limit=100_000)
    patches = sum(1 for f in frames if f.fields.get("key"))
    scrolled = sum(1 for f in frames if f.fields.get("moves"))
    thumbs = store.blobs.bytes_on_disk(f.fields["thumb_id"] for f in frames)
    pictures = store.blobs.bytes_on_disk() - thumbs
    agreement = _agreement_with_full_reads(store, [frames[len(frames) // 2], frames[-1]])
    table, indexes = _table_bytes(store)
    total = pictures + thumbs + table + indexes
    per_hour = total / len(outcomes) * 3600 / INTERVAL_S
    text_bytes, rows = text_only_bytes(store)
    what = {"typing": "60 wpm", "reading": "3 lines a tick"}[scenario]
    return {f"capture.{scenario}.keep_share": metric(round(outcomes.count("kept") / len(outcomes), 3), "of grabs",
                                                     len(outcomes), f"{what} in a full-screen editor, 1920x1080"),
            f"capture.mb_per_hour.{scenario}": metric(round(per_hour / 1e6, 2), "MB/h", len(frames),
                                                 f"{total / len(frames) / 1e3:.1f} kB per kept frame (pictures "
                                                 f"{pictures / len(frames) / 1e3:.1f}, thumbnails "
                                                 f"{thumbs / len(frames) / 1e3:.1f}, table {table / len(frames) / 1e3:.1f}, its indexes "
                                                 f"{indexes / len(frames) / 1e3:.1f}); "
                                                 f"{patches} of {len(frames)} stored as patches"
                                                 + (f", {scrolled} as scrolls" if scrolled else "")),
            f"capture.mb_per_hour.{scenario}_text_only": metric(round(text_bytes / len(outcomes) * 3600 / INTERVAL_S / 1e6, 3),
                                                           "MB/h", len(frames), f"{len(frames)} frames -> {rows} text-only rows"),
            f"capture.{scenario}.ocr_agreement": metric(round(agreement, 4), "of words", 2,
                                                        "words of the middle and last frames as the ticks read "
                                                        "them (what changed, the rest carried), against reading "
                                                        "the whole screen"),
            f"capture.{scenario}.cpu_ms_per_tick": metric(round(statistics.median(cpu)), "ms CPU", len(cpu),
                                                          "median: grab, filter, encode, store, OCR of what changed")}


def video_session(home: Path, moving_seconds: float, ticks: int = 40) -> tuple[float, list[str], list[float]]:
    """A 1280x720 video playing in a window on a 1920x1080 X server (tests/video.py: synthetic footage at
    20 frames a second), captured for `ticks` real 3 s intervals. Returns bytes on disk per tick (pictures,
    table and its indexes), each tick's outcome, and the CPU of each tick after the first with reading its
    text (Engram and the X server, not the player)."""
    from app.capture.frame_filter import FrameFilter
    from app.capture.ocr_worker import OcrWorker
    from app.capture.recorder import CaptureSettings, Recorder
    from app.capture.screen import MssScreen
    from app.capture.windows_x11 import X11Windows
    from app.capture.ocr import RapidOcrEngine

    from tests.video import PLAYER
    from tests.xvfb import start_xvfb

    xvfb, display = start_xvfb("1920x1080x24")
    env = dict(os.environ, DISPLAY=display, QT_QPA_PLATFORM="xcb")
    root = str(Path(__file__).resolve().parents[1])
    player = subprocess.Popen([sys.executable, "-c", PLAYER, "Holiday clip - Videos", "", "600,200,1280,720", root],
                              env=env, stdout=subprocess.PIPE, text=True)
    try:
        assert player.stdout is not None and player.stdout.readline().strip() == "ready"
        os.environ["DISPLAY"] = display
        store = _store(home)
        recorder = Recorder(store, MssScreen(), X11Windows(display), FrameFilter(moving_seconds=moving_seconds),
                            CaptureSettings(min_free_disk_mb=1))
        worker = OcrWorker(store, RapidOcrEngine())
        outcomes, cpu = [], []
        for _ in range(ticks):
            began, own, server = time.monotonic(), time.process_time(), _cpu_of(xvfb.pid)
            outcomes.append(recorder.tick())
            worker.drain()
            cpu.append((time.process_time() - own + _cpu_of(xvfb.pid) - server) * 1000)
            time.sleep(max(0.0, INTERVAL_S - (time.monotonic() - began)))
        recorder.close()
    finally:
        player.kill()
        player.wait(10)
        xvfb.terminate()
        xvfb.wait(10)
    return (store.blobs.bytes_on_disk() + sum(_table_bytes(store))) / ticks, outcomes, cpu[1:]


def video(home: Path) -> dict[str, Any]:
    from app.capture.frame_filter import MOVING_PICTURE_SECONDS

    per_tick, outcomes, cpu = video_session(home / "a", MOVING_PICTURE_SECONDS)
    every_tick, every_outcomes, every_cpu = video_session(home / "b", 0)
    per_hour, ticks, kept = 3600 / INTERVAL_S, len(outcomes), outcomes.count("kept")
    return {"capture.mb_per_hour.video": metric(round(per_tick * per_hour / 1e6, 2), "MB/h", kept,
                                                f"{kept} frames kept of {ticks} ticks"),
            "capture.mb_per_hour.video_every_frame": metric(round(every_tick * per_hour / 1e6, 2), "MB/h",
                                                            every_outcomes.count("kept"),
                                                            "baseline: every changed frame kept (before session 6)"),
            "capture.video.keep_share": metric(round(kept / ticks, 3), "of grabs", ticks,
                                               "a 720p video in a window, 1920x1080"),
            "capture.video.cpu_ms_per_tick": metric(round(statistics.median(cpu)), "ms CPU", len(cpu),
                                                    "median; grab, second grab, filter, encode, store, OCR "
                                                    "(Engram and the X server, not the player)"),
            "capture.video.cpu_ms_per_tick_every_frame": metric(round(statistics.median(every_cpu)), "ms CPU",
                                                                 len(every_cpu), "baseline: every changed frame kept"),
            "capture.video.core_share": metric(round(statistics.mean(cpu) / (INTERVAL_S * 1000), 4), "of one core",
                                               len(cpu), f"mean CPU of a tick / 3 s; every frame kept: "
                                               f"{statistics.mean(every_cpu) / (INTERVAL_S * 1000):.3f}")}


class _CountingEmbedder:
    """The real model, counting the texts it is given."""

    def __init__(self) -> None:
        from storage.minilm import MiniLMEmbedder

        self.inner, self.texts = MiniLMEmbedder(), 0

    @property
    def dim(self) -> int:
        return self.inner.dim

    def embed(self, texts: Any) -> Any:
        self.texts += len(texts)
        return self.inner.embed(texts)


def clock_session(home: Path, ticking_seconds: float, reuse_vectors: bool = True, warm_up: int = 8,
                  ticks: int = 100) -> dict[str, float]:
    """A still page with a ticking seconds clock (tests/ticking_clock.py), captured, read and embedded for
    `ticks` grabs 3 s apart after `warm_up` ones: kept frames, process CPU and embedded texts per minute.
    `reuse_vectors=False`: every read text is embedded, as before issue 21.5."""
    from app.capture.frame_filter import FrameFilter
    from app.capture.ocr import RapidOcrEngine
    from app.capture.ocr_worker import OcrWorker
    from app.capture.recorder import CaptureSettings, Recorder
    from app.capture.windows import ReplayWindows

    from tests.ticking_clock import ClockScreen

    screen, embedder = ClockScreen(), _CountingEmbedder()
    store = _store(home, embedder)
    if not reuse_vectors:
        save = store.save
        store.save = lambda memories, replace_only=(), vectors_from=None: save(memories, replace_only)
    recorder = Recorder(store, screen, ReplayWindows(),
                        FrameFilter(ticking_seconds=ticking_seconds, clock=lambda: screen.clock),
                        CaptureSettings(min_free_disk_mb=1))
    worker = OcrWorker(store, RapidOcrEngine())
    for _ in range(warm_up):
        recorder.tick(screen.now + timedelta(seconds=INTERVAL_S))
        worker.drain()
    kept, texts, started = 0, embedder.texts, time.process_time()
    for _ in range(ticks):
        kept += recorder.tick(screen.now + timedelta(seconds=INTERVAL_S)) == "kept"
        worker.drain()
    minutes = ticks * INTERVAL_S / 60
    store.close()
    return {"kept": kept / minutes, "cpu_s": (time.process_time() - started) / minutes,
            "embeds": (embedder.texts - texts) / minutes}


def clock(home: Path) -> dict[str, Any]:
    from app.capture.frame_filter import TICKING_SECONDS

    load = os.getloadavg()[0]
    rule, every = clock_session(home / "a", TICKING_SECONDS), clock_session(home / "b", 0)
    before = clock_session(home / "c", 0, reuse_vectors=False)
    note = (f"5 min of a still page with a 48 px seconds clock; load average {load:.1f} at the start, "
            f"{os.getloadavg()[0]:.1f} at the end, on {os.cpu_count()} cores")
    return {"capture.clock_replay.kept_per_min": metric(round(rule["kept"], 2), "frames/min", 100, note),
            "capture.clock_replay.cpu_s_per_min": metric(round(rule["cpu_s"], 2), "s CPU/min", 100,
                                                  "grab, filter, encode, store, OCR and embedding of what was kept"),
            "capture.clock_replay.core_share": metric(round(rule["cpu_s"] / 60, 4), "of one core", 100, "cpu_s_per_min / 60 s"),
            "capture.clock_replay.embeds_per_min": metric(round(rule["embeds"], 2), "texts/min", 100,
                                                   "texts embedded (a kept frame's empty pending text included)"),
            "capture.clock_replay.kept_per_min_every_tick": metric(round(every["kept"], 2), "frames/min", 100,
                                                            "the clock rule off (ticking_seconds=0)"),
            "capture.clock_replay.cpu_s_per_min_every_tick": metric(round(every["cpu_s"], 2), "s CPU/min", 100,
                                                             "the clock rule off; vectors still reused"),
            "capture.clock_replay.embeds_per_min_every_tick": metric(round(every["embeds"], 2), "texts/min", 100,
                                                              "the clock rule off; vectors still reused"),
            "capture.clock_replay.kept_per_min_before": metric(round(before["kept"], 2), "frames/min", 100,
                                                        "both off: every read text embedded (before issue 21.5)"),
            "capture.clock_replay.cpu_s_per_min_before": metric(round(before["cpu_s"], 2), "s CPU/min", 100,
                                                         "both off (before issue 21.5)"),
            "capture.clock_replay.embeds_per_min_before": metric(round(before["embeds"], 2), "texts/min", 100,
                                                          "both off (before issue 21.5)")}


def run(argv: list[str] | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        if "--editor-only" in (argv or []):
            return {**editor_session(Path(tmp) / "t"), **editor_session(Path(tmp) / "r", "reading")}
        if "--video-only" in (argv or []):
            return video(Path(tmp) / "v")
        if "--clock-only" in (argv or []):
            return clock(Path(tmp) / "k")
        out.update(clock(Path(tmp) / "k"))
        out.update(video(Path(tmp) / "v"))
        out.update(editor_session(Path(tmp) / "t"))
        out.update(editor_session(Path(tmp) / "r", "reading"))
        out.update(unchanged_tick(Path(tmp) / "a"))
        replay, kept_ms = replay_sessions(Path(tmp) / "b")
        out.update(replay)
        share = out["capture.keep_share"]["value"]
        tick_ms = out["capture.unchanged.cpu_ms_per_tick"]["value"]
        avg = ((1 - share) * tick_ms + share * kept_ms) / (INTERVAL_S * 1000)
        out["capture.avg_core_share"] = metric(round(avg, 3), "of one core", None,
                                               "at the replay's keep share; OCR included")
        out.update(to_searchable(Path(tmp) / "c"))
    print(f"captured at {datetime.now(timezone.utc):%H:%M}")
    return out
