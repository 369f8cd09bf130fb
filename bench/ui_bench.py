"""The desktop app's responsiveness, on a real X server (Xvfb), with 100k memories.

One process runs the windows under Xvfb (so painting is real) and measures:
- popup visible: from the call the hotkey makes (`show_recall`) until the popup
  is first painted on the X server;
- results after keystroke: from the search starting (the moment the debounce
  fires) until the result rows are in the list, over LoCoMo questions;
- timeline frame switch: from choosing a frame on the axis until its screenshot
  is built and drawn, stepping back from the newest of 120 1920x1080 screens recorded by the real
  recorder (each retypes a line of the one before, so most are patches in chains over a key frame:
  the direction that cannot reuse the picture just built);
Child processes measure app start to tray visible (python start, imports, the
tray shown). What the app holds in memory is measured by bench/app_memory.py.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from bench.results import Metrics, metric, quantile

REPO = Path(__file__).resolve().parents[1]
START_METHOD = ("Start = wall time from spawning `python` under Xvfb until the tray icon is shown (imports "
                "included, no unlock; bench/ui_bench.py).")
METHODS = {"ui": (__doc__ or "").split("\n\n", 1)[1].strip()}


def _wait(app: Any, done: Callable[[], bool], timeout: float = 20.0) -> float:
    started = time.perf_counter()
    while not done():
        app.processEvents()
        if time.perf_counter() - started > timeout:
            raise TimeoutError("the window did not get there in time")
    return time.perf_counter() - started


class _PaintWatch:
    """Notes when a widget is first painted after being shown."""

    def __new__(cls) -> Any:
        from app.qt import QEvent, QObject

        class Watch(QObject):
            at: float | None = None

            def eventFilter(self, watched: Any, event: Any) -> bool:  # noqa: N802 (Qt's name)
                if event.type() == QEvent.Type.Paint and self.at is None:
                    self.at = time.perf_counter()
                return False

        return Watch()


def _screen_frames(store: Any, count: int, text_of: Callable[[int], str]) -> tuple[datetime, list[str]]:
    """`count` 1920x1080 screens 3 s apart, recorded by the real recorder: each retypes one line of
    the one before (so they are stored as chains of patches, as typing is) and every 25th is a new page."""
    from PIL import Image, ImageDraw, ImageFont

    from app.capture.recorder import CaptureSettings, Recorder
    from app.capture.screen import ReplayScreen
    from app.capture.windows import ReplayWindows

    start = datetime.now().astimezone().replace(hour=9, minute=0, second=0, microsecond=0)
    pictures = []
    font = ImageFont.load_default(size=18)
    for i in range(count):
        page = i // 25
        picture = Image.new("RGB", (1920, 1080), (240, 240 - page * 8, 235))
        draw = ImageDraw.Draw(picture)
        for row in range(40):
            edited = row <= i % 25
            draw.text((40, 30 + 25 * row), f"line {row} of page {page}: " + ("retyped, now final" if edited else
                                                                          "quarterly figures and notes"),
                      fill="black", font=font)
        pictures.append(picture)
    recorder = Recorder(store, ReplayScreen(pictures), ReplayWindows(), settings=CaptureSettings(min_free_disk_mb=1))
    pooled = store.embedder

    class TextStillToRead:  # frames are recorded before their text is read: embed a pool text meanwhile
        dim = pooled.dim

        def embed(self, texts: list[str]) -> Any:
            return pooled.embed([text or text_of(0) for text in texts])

    store.embedder = TextStillToRead()
    try:
        for i in range(count):
            assert recorder.tick(start + timedelta(seconds=3 * i)) == "kept"
    finally:
        store.embedder = pooled
    frames = store.list_range(kinds=["frame"], limit=count)
    for i, frame in enumerate(frames):
        frame.text, frame.text_pending, frame.app = text_of(i), False, f"App{i % 5}"
        frame.fields = {**frame.fields, "boxes": [[f"screen {i}", 40, 30, 300, 14]]}
    store.save(frames)
    return start, [f.id for f in frames]


def in_process(rows: int, trials: int) -> Metrics:
    from bench.locomo_retrieval import CachedEmbedder
    from bench.store_latency import PooledEmbedder, _build, _pool_and_queries

    pool, vectors, queries = _pool_and_queries(CachedEmbedder())
    cached = CachedEmbedder()
    embedder = PooledEmbedder(pool, vectors, {q: v for q, v in zip(queries, cached.embed(queries))})
    with tempfile.TemporaryDirectory(prefix="engram-ui-") as tmp:
        os.environ["ENGRAM_HOME"] = tmp
        store, _, _, _ = _build(Path(tmp), rows, pool, embedder, log_every=0)
        from app.desktop.ops import wait_for_background
        from app.desktop.recall import RecallPopup
        from app.desktop.style import apply_style
        from app.desktop.timeline import TimelineWindow
        from app.qt import QApplication

        app = QApplication.instance() or QApplication(sys.argv)
        apply_style(app)
        popup = RecallPopup(lambda q, o: store.search(q, o), lambda hit: None)
        painted = _PaintWatch()
        popup.installEventFilter(painted)
        visible = []
        for _ in range(trials):
            painted.at = None
            started = time.perf_counter()
            popup.popup()
            _wait(app, lambda: painted.at is not None)   # mapped, exposed and drawn
            visible.append(painted.at - started)
            popup.hide()
            _wait(app, lambda: not popup.isVisible())
        popup.popup()
        shown: list[float] = []
        original = popup._show
        for query in queries[: trials * 2]:
            arrived: list[float] = []
            popup._show = lambda hits, status, arrived=arrived: (original(hits, status),  # type: ignore[method-assign]
                                                                 arrived.append(time.perf_counter()))
            popup.query.blockSignals(True)
            popup.query.setText(query)
            popup.query.blockSignals(False)
            started = time.perf_counter()
            popup.run_search()  # what the debounce timer calls 150 ms after the last keystroke
            _wait(app, lambda: bool(arrived))
            shown.append(arrived[0] - started)
        popup._show = original  # type: ignore[method-assign]
        popup.hide()

        from bench.store_latency import SUFFIX

        day, frame_ids = _screen_frames(store, 120, lambda i: f"{pool[i]}{SUFFIX} screen {i}")
        timeline = TimelineWindow(store)
        timeline.show()
        wait_for_background()
        _wait(app, lambda: len(timeline.axis.frames) >= 120 and timeline.frame is not None)
        switches = []
        for index in range(len(timeline.axis.frames) - 2, len(timeline.axis.frames) - 2 - trials * 2, -1):
            target = timeline.axis.frames[index][0]
            started = time.perf_counter()
            timeline.axis.choose(index)
            _wait(app, lambda: timeline.frame is not None and timeline.frame.id == target
                  and timeline.image.pixmap() is not None and not timeline.image.pixmap().isNull())
            switches.append(time.perf_counter() - started)
        timeline.close()
        store.close()
    ms = 1000.0
    note = f"{rows:,} memories, Xvfb"
    return {
        "ui.popup_visible.p50_ms": metric(round(statistics.median(visible) * ms, 1), "ms", len(visible), note),
        "ui.popup_visible.p95_ms": metric(round(quantile(visible, 0.95) * ms, 1), "ms", len(visible), note),
        "ui.results_after_keystroke.p50_ms": metric(round(statistics.median(shown) * ms, 1), "ms", len(shown),
                                                    note + "; after the 150 ms debounce"),
        "ui.results_after_keystroke.p95_ms": metric(round(quantile(shown, 0.95) * ms, 1), "ms", len(shown),
                                                    note + "; after the 150 ms debounce"),
        "ui.timeline_frame_switch.p50_ms": metric(round(statistics.median(switches) * ms, 1), "ms", len(switches),
                                                  "1920x1080, chains of patches, newest to oldest"),
        "ui.timeline_frame_switch.p95_ms": metric(round(quantile(switches, 0.95) * ms, 1), "ms", len(switches),
                                                  "1920x1080, chains of patches, newest to oldest"),
    }


_START = textwrap.dedent("""
    import sys, time
    from app.desktop.main import DesktopApp
    from app.qt import QApplication
    app = QApplication(sys.argv)
    desktop = DesktopApp(app)
    desktop.tray.show()
    print("TRAY", flush=True)
""")


def child_processes(display: str, starts: int) -> Metrics:
    env = {**os.environ, "DISPLAY": display, "QT_QPA_PLATFORM": "xcb"}
    seconds = []
    for _ in range(starts):
        with tempfile.TemporaryDirectory(prefix="engram-start-") as tmp:
            started = time.perf_counter()
            child = subprocess.Popen([sys.executable, "-c", _START], cwd=REPO, env={**env, "ENGRAM_HOME": tmp},
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
            assert child.stdout is not None
            for line in child.stdout:
                if line.startswith("TRAY"):
                    seconds.append(time.perf_counter() - started)
                    break
            child.kill()
            child.wait()
    return {"app.start_to_tray_s": metric(round(statistics.median(seconds), 2), "s", len(seconds), "median")}


def run(argv: Sequence[str] = ()) -> Metrics:
    parser = argparse.ArgumentParser(prog="bench.ui_bench")
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--trials", type=int, default=30)
    args, _ = parser.parse_known_args(list(argv))
    sys.path.insert(0, str(REPO / "tests"))
    from xvfb import start_xvfb

    server, display = start_xvfb("1920x1080x24")
    os.environ["DISPLAY"] = display
    os.environ["QT_QPA_PLATFORM"] = "xcb"
    try:
        out = in_process(args.rows, args.trials)
        out.update(child_processes(display, starts=5))
    finally:
        server.terminate()
        server.wait()
    print(json.dumps({k: v["value"] for k, v in out.items()}), flush=True)
    return out


if __name__ == "__main__":
    from bench import results

    results.merge(run(sys.argv[1:]))
    results.render(results.collected_methods())
