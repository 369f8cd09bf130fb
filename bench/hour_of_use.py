"""An hour of use of the desktop app, as a new user has it (issue 21): the figures of items 5-7 re-measured.

    python -m bench.run hour                                   # 60 minutes, the first 10 a still screen
    python -m bench.run hour --minutes 6 --clock-minutes 2     # a smoke run

How: the real desktop app (`app.desktop.main.DesktopApp`, set up as `app.desktop.main.run` sets it up: two
heap arenas, the log file `logs/engram.log`, the style, the tray, the global shortcut) runs in a child process
on its own Xvfb (1920x1080, screen saver off) with the openbox window manager and, where it is installed, the
`trayer` system tray, over a new store (created as the first-run dialog creates it, the key derivation at the
app's setting) with capture every 3 s, the real MiniLM embedder, RapidOCR in its child process and the memory
agents on their default schedule (the nightly consolidation moved out of the hour; idle-time and auto-lock
off, since no one touches the X server's mouse or keyboard). The screen:
- the clock phase (`--clock-minutes`, default 10): a still terminal window and a desktop clock widget showing
  the seconds at 48 px (a separate window, top right), nothing else moving. What the app spends on it is
  `capture.clock.core_share`: the app's CPU time (its own and its children's, the OCR process included:
  /proc stat of the app and its live children plus the children it waited for) per second of wall time,
  from one minute into the phase (the models loading and the first frames read are left out) to its end;
  `capture.hour.kept_per_min` the frames the recorder kept per minute over the same span;
- at the end of the clock phase, 3,477 chat messages (LoCoMo's conversations in order, cut there, written as
  one WhatsApp "Export chat" .txt per conversation as an en-GB Android phone writes it, "31/12/2023, 21:41 -
  Name: text"; written as a US phone writes them, "12/31/23, 9:41 PM", a chat whose month changes its number of
  digits, December to January, came in with every line after that one message: 2,005 of the 3,477) are
  imported with `agents.importers.import_file`, the function `engram import whatsapp FILE` calls (the desktop
  app has no import action of its own), on a background thread of the app as its other store work runs; the
  first conversation's first speaker is the user (`agents.user_names`). The agents digest what is stored on
  their schedule (every 30 s, batch after batch while a backlog is left);
- from then on: the terminal window is replaced by app_memory's editor window, whose text changes every
  second (a line typed, a clock), beside the clock widget; from 5 s later (the new window takes the focus),
  every ~10 s a 2-3 word question (words of LoCoMo's questions about the imported chats; every fourth, words
  of the editor's page) is typed into the real recall popup, opened as the shortcut opens it (`show_recall`),
  key by key (`QTest.keyClicks`, 80-250 ms between keys, so the popup's 150 ms debounce also fires on the
  words typed so far, as it does for a person), then read for 2 s and closed with Esc. One sample is
  ui_bench's `results_after_keystroke` span: from the debounce firing after the last key to the rows being
  shown (the time from the last key is in the note). `_while_importing`: before the import ended;
  `_while_digesting`: after it, imported messages still waiting for the agents once the rows were shown
  (`store.count_undigested(["message"])`); `_idle_in_hour`: after it, none waiting (screens still arrive
  and wait for the agents all hour).
The app's VmRSS (and its children's: the OCR process) is sampled every minute; `app.rss_after_hour_mb`
is the last, taken at the end of the hour; `app.rss_after_hour_locked_mb` 5 s after Lock right after it;
`app.hour.rss_growth_mb_per_h` the least-squares slope of the samples after the first quarter of the run
(bench/app_memory.py's `growth_mb_per_hour`). Every figure's note gives the load average over the run and
the machine.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
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

from bench.results import Metrics, machine, metric, quantile

REPO = Path(__file__).resolve().parents[1]
MESSAGES = 3_477           # what the original hour imported
SEARCH_EVERY_S = 10.0
READ_S = 2.0               # the popup stays open this long after its results, as someone reads them
KEY_DELAY_S = (0.08, 0.25)
CLOCK_WARM_UP_S = 60.0     # the start of the clock phase left out of its CPU figure
METHODS = {"app.hour": (__doc__ or "").split("How: ", 1)[1].strip(),
           "capture.clock": "`capture.clock.core_share` and `capture.hour.*`: the clock phase of the hour of use "
                            "(bench/hour_of_use.py, method under `app.hour.*`). The replay through the recorder "
                            "alone is `capture.clock_replay.*` (bench/capture_bench.py)."}

_CLOCK = textwrap.dedent("""
    import sys, time
    from PySide6.QtCore import Qt, QTimer
    from PySide6.QtGui import QFont
    from PySide6.QtWidgets import QApplication, QLabel
    app = QApplication(sys.argv)
    clock = QLabel()
    clock.setWindowTitle("Clock")
    clock.setFont(QFont("DejaVu Sans", 48))
    clock.setAlignment(Qt.AlignmentFlag.AlignCenter)
    clock.setStyleSheet("background: white; color: black; padding: 8px")
    clock.resize(300, 110)
    clock.move(1610, 60)
    def tick():
        text = time.strftime("%H:%M:%S")
        if clock.text() != text:
            clock.setText(text)
    tick()
    clock.show()
    timer = QTimer()
    timer.timeout.connect(tick)
    timer.start(100)
    app.exec()
""")

_TERMINAL = textwrap.dedent("""
    import sys
    from PySide6.QtGui import QFont
    from PySide6.QtWidgets import QApplication, QLabel
    from tests.ticking_clock import terminal_lines
    app = QApplication(sys.argv)
    page = QLabel()
    page.setWindowTitle("user@laptop: ~/project - Terminal")
    page.setFont(QFont("DejaVu Sans Mono", 13))
    page.setStyleSheet("background: #1e1e1e; color: #d0d0d0; padding: 12px")
    lines = ["$ tail -n 40 release-notes.txt"] + terminal_lines(40) + ["$ "]
    page.setText("\\n".join(lines))
    page.resize(1560, 1000)
    page.move(0, 30)
    page.show()
    app.exec()
""")


# -- the app's side (runs in the child process) ---------------------------------------


def child() -> None:
    """The desktop app with the hour's script; talks to the parent in lines on stdout."""
    from app.desktop.footprint import limit_heap_arenas

    limit_heap_arenas()   # as app.desktop.main.run does, before Qt and the services start threads
    from PySide6.QtCore import QEventLoop
    from PySide6.QtTest import QTest

    from app.cli import _open_log
    from app.capture.service import quiet_scheduler_logs
    from app.desktop.main import DesktopApp
    from app.desktop.style import apply_style
    from app.qt import QApplication, QSystemTrayIcon, Qt, QTimer
    from bench.app_memory import children_rss_mb, rss_mb

    app = QApplication(sys.argv)
    app.setApplicationName("Engram")
    app.setQuitOnLastWindowClosed(False)
    quiet_scheduler_logs()
    log_handler = _open_log()
    apply_style(app)
    desktop = DesktopApp(app)
    tray_available = QSystemTrayIcon.isSystemTrayAvailable()
    if tray_available:
        desktop.tray.show()
    desktop.start_hotkey()
    minutes, clock_minutes = float(os.environ["BENCH_MINUTES"]), float(os.environ["BENCH_CLOCK_MINUTES"])
    exports = json.loads(os.environ["BENCH_EXPORTS"])
    queries = json.loads(os.environ["BENCH_QUERIES"])
    rng = random.Random(21)

    def say(kind: str, **data: Any) -> None:
        print(kind + " " + json.dumps(data), flush=True)

    def wait(seconds: float, until: Callable[[], bool] = lambda: False) -> None:
        end = time.monotonic() + seconds
        while not until():
            left = end - time.monotonic()
            if left <= 0:
                return
            loop = QEventLoop()
            QTimer.singleShot(max(1, int(min(left, 0.1) * 1000)), loop.quit)
            loop.exec()
            sample()

    # -- unlock, as the first-run dialog does (its store, then what `unlock` starts)
    started = time.monotonic()
    store, _recovery = desktop.create_store("an hour of use, bench passphrase")
    desktop.store = store
    desktop.capture, desktop.capture_problem = desktop.start_capture(store), ""
    desktop.agents = desktop.start_agents(store)
    desktop._auto_lock.start()
    desktop._refresh_state()
    say("UNLOCKED", tray=tray_available, hotkey=str(desktop.hotkey.shortcut) if desktop.hotkey else "",
        hotkey_problem=desktop.hotkey_problem, unlock_s=round(time.monotonic() - started, 1))
    unlocked = time.monotonic()
    end_of_hour = unlocked + minutes * 60
    state: dict[str, Any] = {"next_sample": 0.0, "searches": 0, "phase": "clock", "undigested_messages": 0}

    def undigested(kind: str) -> int:
        try:
            return int(store.count_undigested((kind,)))
        except Exception as exc:  # noqa: BLE001 - a count failing must not end the hour
            say("NOTE", what=f"count_undigested failed: {type(exc).__name__}")
            return -1

    def sample() -> None:
        now = time.monotonic()
        if now < state["next_sample"] or desktop.store is None or desktop.capture is None:
            return
        state["next_sample"] = now + 60
        recorder = desktop.capture.recorder
        state["undigested_messages"] = undigested("message")
        say("SAMPLE", t=round(now - unlocked, 1), minute=round((now - unlocked) / 60, 1), phase=state["phase"],
            rss_mb=round(rss_mb(), 1), children_rss_mb=round(children_rss_mb(), 1),
            frames_read=desktop.capture.ocr_worker.read, kept=recorder.counts["kept"],
            duplicate=recorder.counts["duplicate"], dropped=desktop.capture.dropped,
            undigested_messages=state["undigested_messages"], undigested_frames=undigested("frame"),
            searches=state["searches"], load=[round(x, 2) for x in os.getloadavg()], cpu_s=round(app_cpu_s(), 1))

    # -- the clock phase: a still terminal and a ticking clock
    measure_from = unlocked + min(CLOCK_WARM_UP_S, clock_minutes * 60 / 4)
    wait(measure_from - time.monotonic())
    cpu0, kept0, t0 = app_cpu_s(), desktop.capture.recorder.counts["kept"], time.monotonic()
    own0 = app_cpu_s(own_only=True)
    say("CLOCK_MEASURE_START")
    wait(unlocked + clock_minutes * 60 - time.monotonic())
    cpu1, kept1, t1 = app_cpu_s(), desktop.capture.recorder.counts["kept"], time.monotonic()
    own1 = app_cpu_s(own_only=True)
    say("CLOCK_MEASURE_END", cpu_s=round(cpu1 - cpu0, 2), wall_s=round(t1 - t0, 1), kept=kept1 - kept0,
        own_cpu_s=round(own1 - own0, 2), children_cpu_s=round(cpu1 - cpu0 - (own1 - own0), 2),
        core_share=round((cpu1 - cpu0) / (t1 - t0), 4), kept_per_min=round((kept1 - kept0) / ((t1 - t0) / 60), 2),
        frames_read=desktop.capture.ocr_worker.read)

    # -- the import, on a background thread as the app runs its store work
    from agents.importers import import_file
    from app.desktop.ops import run_in_background

    state["phase"] = "import"
    done: dict[str, Any] = {}
    import_started = time.monotonic()

    def imported(result: Any) -> None:
        done.update(result=result)
        state["phase"] = "digest"
        say("IMPORTED", new=sum(s.new for s in result), read=sum(s.read for s in result), files=len(result),
            seconds=round(time.monotonic() - import_started, 1), undigested_messages=undigested("message"))

    run_in_background(lambda: [import_file(store, "whatsapp", Path(p)) for p in exports], imported,
                      lambda exc: done.update(error=exc))
    say("BUSY")      # the parent swaps the terminal for the changing editor window
    wait(5)          # which takes the focus when it appears: the popup is opened after that

    # -- searches typed into the popup every ~10 s until the end of the hour
    popup = desktop.popup
    fired: list[tuple[float, str]] = []
    shown: list[tuple[float, str]] = []
    run_search, show = popup.run_search, popup._show

    def timed_run() -> None:
        fired.append((time.perf_counter(), popup.query.text()))
        run_search()

    def timed_show(hits: Any, status: str) -> None:
        show(hits, status)
        shown.append((time.perf_counter(), status))

    popup._debounce.timeout.disconnect()
    popup._debounce.timeout.connect(timed_run)
    popup._show = timed_show  # type: ignore[method-assign]
    n = 0
    while time.monotonic() < end_of_hour - SEARCH_EVERY_S:
        if "error" in done:
            raise RuntimeError(f"the import failed: {done['error']!r}")
        cycle = time.monotonic()
        phase = state["phase"]
        query = queries[n % len(queries)]
        n += 1
        desktop.show_recall()
        wait(0.3)                      # the popup drawn before the first key
        fired.clear()
        shown.clear()
        last_key = 0.0
        for i, char in enumerate(query):
            QTest.keyClicks(popup.query, char)
            last_key = time.perf_counter()
            if i < len(query) - 1:
                wait(rng.uniform(*KEY_DELAY_S))

        def arrived() -> bool:
            after = [f for f in fired if f[0] >= last_key]
            return bool(after) and any(s[0] >= after[0][0] and s[1] != "Searching…" for s in shown)

        wait(120, arrived)
        state["searches"] = n
        record: dict[str, Any] = {"n": n, "t": round(time.monotonic() - unlocked, 1), "query": query,
                                  "phase": phase if phase == state["phase"] else "import_ended",
                                  "typed": popup.query.text() == query, "visible": popup.isVisible()}
        if arrived():
            fire = next(f for f in fired if f[0] >= last_key)
            at, status = next(s for s in shown if s[0] >= fire[0] and s[1] != "Searching…")
            record.update(ms=round((at - fire[0]) * 1000, 1), from_key_ms=round((at - last_key) * 1000, 1),
                          status=status, searches_fired=len(fired))
        else:
            record.update(ms=None, status="no results in 120 s")
        record["undigested_messages"] = undigested("message")
        say("SEARCH", **record)
        if n == 2 or n % 60 == 0:
            say("SHOT", name=f"popup_{n:03d}")     # the parent takes a screenshot now, the popup open
            wait(1.5)
        wait(READ_S)
        QTest.keyClick(popup.query, Qt.Key.Key_Escape)
        wait(cycle + SEARCH_EVERY_S - time.monotonic())
    popup._debounce.timeout.disconnect()
    popup._debounce.timeout.connect(run_search)
    popup._show = show  # type: ignore[method-assign]
    wait(end_of_hour - time.monotonic())

    # -- the end of the hour, then Lock
    state["next_sample"] = 0.0
    sample()
    recorder = desktop.capture.recorder
    try:
        kinds = store.stats().by_kind
    except Exception as exc:  # noqa: BLE001 - only for the report
        kinds = {"stats failed": type(exc).__name__}
    say("AFTER_HOUR", rss_mb=round(rss_mb(), 1), children_rss_mb=round(children_rss_mb(), 1),
        counts=dict(recorder.counts), dropped=desktop.capture.dropped, frames_read=desktop.capture.ocr_worker.read,
        undigested_messages=undigested("message"), undigested_frames=undigested("frame"), by_kind=kinds,
        agents_error=desktop.agents.last_error, searches=n, minutes=round((time.monotonic() - unlocked) / 60, 2))
    desktop.lock()
    end = time.monotonic() + 5
    while time.monotonic() < end:
        loop = QEventLoop()
        QTimer.singleShot(100, loop.quit)
        loop.exec()
    say("LOCKED", rss_mb=round(rss_mb(), 1), children_rss_mb=round(children_rss_mb(), 1))
    desktop.quit()
    if log_handler is not None:
        import logging

        logging.getLogger().removeHandler(log_handler)
        log_handler.close()


def app_cpu_s(own_only: bool = False) -> float:
    """CPU seconds of this process and its children: the live ones from /proc, the ended ones it waited for."""
    own = os.times()
    if own_only:
        return own.user + own.system
    total = own.user + own.system + own.children_user + own.children_system
    for task in os.listdir("/proc/self/task"):
        try:
            with open(f"/proc/self/task/{task}/children", encoding="utf-8") as children:
                pids = children.read().split()
        except OSError:
            continue
        for pid in pids:
            total += _cpu_of(pid, with_children=True)
    return total


def _cpu_of(pid: int | str, with_children: bool = False) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0  # it ended meanwhile
    ticks = int(fields[11]) + int(fields[12]) + (int(fields[13]) + int(fields[14]) if with_children else 0)
    return ticks / os.sysconf("SC_CLK_TCK")


# -- the parent: the X server, window manager, tray, windows and the chats -------------------------------


def write_exports(folder: Path, count: int = MESSAGES) -> tuple[list[Path], list[str], str]:
    """LoCoMo's conversations in order, cut at `count` messages, as WhatsApp (Android) exports; returns the
    files, the questions about what was written, and the user (the first conversation's first speaker)."""
    from bench.shared import locomo_path

    path = locomo_path()
    if not path.exists():
        raise SystemExit(f"LoCoMo not found at {path}: set ENGRAM_SHARED to the folder holding data/locomo/")
    samples = json.loads(path.read_text(encoding="utf-8"))
    folder.mkdir(parents=True, exist_ok=True)
    files: list[Path] = []
    questions: list[str] = []
    left = count
    from agents.importers.locomo import _DATE, _MONTHS

    for sample in samples:
        if left <= 0:
            break
        conversation = sample["conversation"]
        lines: list[str] = []
        dias: set[str] = set()
        numbers = sorted(int(k.split("_")[1]) for k in conversation if re.fullmatch(r"session_\d+", k))
        for number in numbers:
            match = _DATE.fullmatch(conversation[f"session_{number}_date_time"].strip())
            assert match is not None
            hour = int(match[1]) % 12 + (12 if match[3].lower() == "p" else 0)
            moment = datetime(int(match[6]), _MONTHS[match[5].lower()], int(match[4]), hour, int(match[2]))
            for i, turn in enumerate(conversation[f"session_{number}"]):
                text = " ".join(str(turn["text"]).split())
                if not text or left <= 0:
                    continue
                when = moment + timedelta(seconds=40 * i)
                lines.append(f"{when:%d/%m/%Y, %H:%M} - {turn['speaker']}: {text}")
                dias.add(str(turn["dia_id"]))
                left -= 1
        target = folder / f"WhatsApp Chat with {conversation['speaker_b']}.txt"
        copies = 1
        while target in files:   # a second John: saved as the browser saves a second download
            target = folder / f"WhatsApp Chat with {conversation['speaker_b']} ({copies}).txt"
            copies += 1
        target.write_text("\n".join(lines) + "\n", encoding="utf-8")
        files.append(target)
        questions += [str(q["question"]) for q in sample.get("qa", [])
                      if q.get("question") and set(map(str, q.get("evidence", []))) <= dias]
    return files, questions, str(samples[0]["conversation"]["speaker_a"])


_STOP = set("""what when where which who whom whose why how did does do is are was were has have had the a an of to in
on for with at by from about and or but into over after before during his her their its they them she he it
this that these those be been being would could should will can may might any some kind kinds type types
many much long often ever first last recently based likely""".split())
_SCREEN_QUERIES = ["budget meeting notes", "invoice travel", "garden recipe", "quarterly figures draft",
                   "review invoice", "travel plan"]


def short_queries(questions: list[str], count: int = 400, seed: int = 21) -> list[str]:
    """2-3 words a person would type for each question (a name or the first word that matters, then the
    last ones), and every fourth a few words of the editor's page."""
    rng = random.Random(seed)
    out: list[str] = []
    for question in rng.sample(questions, min(len(questions), count)):
        words = [w for w in re.findall(r"[A-Za-z][A-Za-z'-]+", question) if w.lower() not in _STOP and len(w) > 2]
        if len(words) < 2:
            continue
        size = rng.choice((2, 3)) if len(words) >= 3 else 2
        picked = [words[0]] + words[-(size - 1):] if words[0] not in words[-(size - 1):] else words[-size:]
        out.append(" ".join(dict.fromkeys(w.lower() if i else w for i, w in enumerate(picked))))
        if len(out) % 4 == 3:
            out.append(rng.choice(_SCREEN_QUERIES))
    return out


def _config(home: Path, user: str) -> None:
    home.mkdir(parents=True, exist_ok=True)
    far = (datetime.now() - timedelta(hours=6)).strftime("%H:%M")   # the nightly consolidation out of the hour
    (home / "config.toml").write_text(textwrap.dedent(f"""
        [capture]
        interval_seconds = 3.0
        idle_after_seconds = 1000000.0
        min_free_disk_mb = 1

        [security]
        auto_lock_minutes = 0

        [agents]
        user_names = [{json.dumps(user)}]
        consolidate_at = "{far}"
    """), encoding="utf-8")


def screenshot(display: str, target: Path) -> None:
    """The whole X screen as a PNG (mss, as capture grabs it)."""
    code = ("import mss, mss.tools, sys\nwith mss.mss(display=sys.argv[1]) as s:\n"
            "    shot = s.grab(s.monitors[0])\n    mss.tools.to_png(shot.rgb, shot.size, output=sys.argv[2])\n")
    subprocess.run([sys.executable, "-c", code, display, str(target)], check=False, timeout=30,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def measure(args: argparse.Namespace) -> dict[str, Any]:
    from bench.app_memory import _SCREEN, _xvfb

    server, display = _xvfb()
    helpers: dict[str, subprocess.Popen[bytes]] = {}
    out: dict[str, Any] = {"samples": [], "searches": [], "lines": []}
    shots = Path(args.screenshots) if args.screenshots else None
    if shots:
        shots.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix="engram-hour-"))
    try:
        home = tmp / "home"
        files, questions, user = write_exports(tmp / "exports")
        queries = short_queries(questions)
        _config(home, user)
        env = {**os.environ, "DISPLAY": display, "QT_QPA_PLATFORM": "xcb", "ENGRAM_HOME": str(home),
               "BENCH_MINUTES": str(args.minutes), "BENCH_CLOCK_MINUTES": str(args.clock_minutes),
               "BENCH_EXPORTS": json.dumps([str(f) for f in files]), "BENCH_QUERIES": json.dumps(queries)}
        env.pop("ENGRAM_PASSPHRASE", None)
        quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}

        def start(name: str, command: list[str]) -> None:
            helpers[name] = subprocess.Popen(command, cwd=REPO, env=env, **quiet)  # type: ignore[call-overload]

        def stop(name: str) -> None:
            helper = helpers.pop(name, None)
            if helper is not None:
                helper.terminate()
                helper.wait()

        start("openbox", ["openbox", "--sm-disable"])
        time.sleep(1.5)
        out["window_manager"] = "openbox" if helpers["openbox"].poll() is None else "none (openbox ended)"
        if shutil.which("trayer"):
            start("trayer", ["trayer", "--edge", "top", "--align", "right", "--widthtype", "request",
                             "--height", "26", "--SetDockType", "true", "--SetPartialStrut", "true",
                             "--transparent", "false", "--expand", "true"])
            time.sleep(1.0)
        out["tray_host"] = "trayer" if "trayer" in helpers and helpers["trayer"].poll() is None else "none"
        start("clock", [sys.executable, "-c", _CLOCK])
        start("terminal", [sys.executable, "-c", _TERMINAL])
        time.sleep(3)
        errors = open(tmp / "child.err", "w+", encoding="utf-8")   # a pipe unread for an hour would fill
        app = subprocess.Popen([sys.executable, "-c", "from bench.hour_of_use import child; child()"], cwd=REPO,
                               env=env, stdout=subprocess.PIPE, stderr=errors, text=True)
        assert app.stdout is not None
        xserver: dict[str, float] = {}
        for line in app.stdout:
            kind, _, rest = line.rstrip("\n").partition(" ")
            data = json.loads(rest) if rest.startswith("{") else {}
            if kind == "SAMPLE":
                out["samples"].append(data)
                print(f"  minute {data['minute']:5.1f} [{data['phase']}]: rss {data['rss_mb']:.0f} MB "
                      f"(+{data['children_rss_mb']:.0f} children), frames kept {data['kept']} read "
                      f"{data['frames_read']}, dropped ticks {data['dropped']}, messages left to digest "
                      f"{data['undigested_messages']}, screens left {data['undigested_frames']}, searches "
                      f"{data['searches']}, load {data['load'][0]:.1f}", flush=True)
                continue
            if kind == "SEARCH":
                out["searches"].append(data)
                if data["n"] % 6 == 1:
                    print(f"  search {data['n']}: {data['query']!r} {data.get('ms')} ms ({data.get('status')}), "
                          f"messages left {data['undigested_messages']}", flush=True)
                continue
            print("  " + line.rstrip()[:300], flush=True)
            out["lines"].append(line.rstrip())
            if kind == "CLOCK_MEASURE_START":
                xserver["start"] = _cpu_of(server.pid)
            elif kind == "CLOCK_MEASURE_END":
                out["clock"] = data
                out["clock"]["xserver_cpu_s"] = round(_cpu_of(server.pid) - xserver.get("start", 0.0), 2)
                if shots:
                    screenshot(display, shots / "clock_phase.png")
            elif kind == "BUSY":
                stop("terminal")
                start("editor", [sys.executable, "-c", _SCREEN])
            elif kind == "SHOT" and shots:
                screenshot(display, shots / f"{data['name']}.png")
            elif kind in ("UNLOCKED", "IMPORTED", "AFTER_HOUR", "LOCKED"):
                out[kind.lower()] = data
        app.wait()
        errors.seek(0)
        err = errors.read()
        errors.close()
        out["stderr_lines"] = len(err.splitlines())
        out["stderr_tail"] = err[-3000:]
        log = home / "logs" / "engram.log"
        out["log"] = log.read_text(encoding="utf-8", errors="replace") if log.exists() else ""
        if args.log_copy and log.exists():
            Path(args.log_copy).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(log, args.log_copy)
            (Path(args.log_copy).with_suffix(".stderr.txt")).write_text(err, encoding="utf-8")
        if app.returncode:
            raise RuntimeError(f"the app child failed ({app.returncode}): {err[-3000:]}")
    finally:
        for name in list(helpers)[::-1]:
            helper = helpers.pop(name)
            helper.terminate()
            helper.wait()
        server.terminate()
        server.wait()
        shutil.rmtree(tmp, ignore_errors=True)
    return out


def metrics(run: dict[str, Any], args: argparse.Namespace) -> Metrics:
    from bench.app_memory import growth_mb_per_hour

    loads = [s["load"][0] for s in run["samples"]]
    box = machine()
    where = (f"load average (1 min) {min(loads):.1f}-{max(loads):.1f}, mean {statistics.mean(loads):.1f}, on "
             f"{box['cores']} cores ({box['CPU']}, {box['RAM']})")
    setup = (f"the desktop app for {args.minutes:g} min under Xvfb with openbox"
             f"{' and the trayer tray' if run['tray_host'] == 'trayer' else ', no tray host'}, capture every 3 s")
    imported = run.get("imported", {})
    after, locked = run["after_hour"], run["locked"]
    out: Metrics = {}
    note = (f"{setup}: {args.clock_minutes:g} min of a still terminal and a seconds clock, then "
            f"{imported.get('new', 0):,} WhatsApp messages imported and digested while an editor window changed "
            f"every second and {after['searches']} searches were typed into the popup; {where}")
    out["app.rss_after_hour_mb"] = metric(after["rss_mb"], "MB", len(run["samples"]), "VmRSS at the end; " + note)
    out["app.rss_after_hour_children_mb"] = metric(after["children_rss_mb"], "MB", 1,
                                                   "the OCR process's VmRSS at the end (0: not running); " + where)
    out["app.rss_after_hour_locked_mb"] = metric(locked["rss_mb"], "MB", 1, "5 s after Lock at the end of the hour; "
                                                 + where)
    if len(run["samples"]) >= 4:
        out["app.hour.rss_growth_mb_per_h"] = metric(round(growth_mb_per_hour(run["samples"]), 1), "MB/h",
                                                     len(run["samples"]), "slope of the minute samples after the "
                                                     "first quarter of the hour; " + where)
        first = next((s for s in run["samples"] if s["t"] >= 30), run["samples"][0])
        out["app.hour.rss_first_minute_mb"] = metric(first["rss_mb"], "MB", 1, "the first minute sample after "
                                                     "unlocking (clock phase); " + where)
        out["app.hour.rss_peak_mb"] = metric(max(s["rss_mb"] for s in run["samples"]), "MB", len(run["samples"]),
                                             "the highest minute sample; " + where)
    clock = run["clock"]
    clock_note = (f"{clock['wall_s'] / 60:.1f} min of a still terminal window and a 48 px seconds clock widget, "
                  f"from {min(CLOCK_WARM_UP_S, args.clock_minutes * 15):g} s after unlocking; the app's CPU "
                  f"{clock['cpu_s']:.1f} s ({clock['own_cpu_s']:.1f} s its own, {clock['children_cpu_s']:.1f} s "
                  f"its children's: the OCR process); the X server's {clock['xserver_cpu_s']:.1f} s besides; "
                  f"{setup}; {where}")
    out["capture.clock.core_share"] = metric(clock["core_share"], "of one core", None, clock_note)
    out["capture.hour.kept_per_min"] = metric(clock["kept_per_min"], "frames/min", clock["kept"],
                                              "frames kept per minute over the clock phase (same span)")
    out["capture.hour.dropped_ticks"] = metric(after["dropped"], "ticks", None,
                                               f"capture ticks skipped over the hour (the one before still running); "
                                               f"{after['counts'].get('kept', 0)} kept, "
                                               f"{after['counts'].get('duplicate', 0)} unchanged; {where}")
    timed = [s for s in run["searches"] if s.get("ms") is not None]
    failed = [s for s in run["searches"] if s.get("ms") is None]
    importing = [s for s in timed if s["phase"] == "import"]
    busy = [s for s in timed if s["phase"] == "digest" and s["undigested_messages"] > 0]
    idle = [s for s in timed if s["phase"] == "digest" and s["undigested_messages"] == 0]
    hidden = sum(not s["visible"] for s in run["searches"])
    finished = next((s["t"] for s in idle), None)
    search_note = (f"typed key by key into the real popup every ~10 s, from the debounce firing after the last key "
                   f"to the rows shown (ui_bench's span)"
                   + (f"; the import took {imported['seconds']:.0f} s" if imported else "; the import did not end")
                   + (f", its messages were all digested {finished / 60:.1f} min after unlocking" if finished
                      else ", its messages were not all digested by the end")
                   + (f"; {len(failed)} searches without results in 120 s" if failed else "")
                   + (f"; the popup had closed itself by the results in {hidden} of {len(run['searches'])}"
                      if hidden else "") + f"; {setup}; {where}")
    for label, group, what in (("_while_importing", importing, "while the chats were being imported (the agents "
                                "digesting the files stored so far)"),
                               ("_while_digesting", busy, "import done, imported messages still waiting for the "
                                "agents"),
                               ("_idle_in_hour", idle, "all imported messages digested (screens still arriving)")):
        if not group:
            continue
        ms = [s["ms"] for s in group]
        keyed = [s["from_key_ms"] for s in group]
        text = (f"{what}; from the last key (the 150 ms debounce included): p50 {statistics.median(keyed):.0f} / "
                f"p95 {quantile(keyed, 0.95):.0f} ms; " + search_note)
        out[f"ui.results_after_keystroke.p50_ms{label}"] = metric(round(statistics.median(ms), 1), "ms", len(ms), text)
        out[f"ui.results_after_keystroke.p95_ms{label}"] = metric(round(quantile(ms, 0.95), 1), "ms", len(ms), text)
    return out


def run(argv: Sequence[str] = ()) -> Metrics:
    parser = argparse.ArgumentParser(prog="bench.hour_of_use")
    parser.add_argument("--minutes", type=float, default=60.0, help="the whole hour, clock phase included")
    parser.add_argument("--clock-minutes", type=float, default=10.0, help="the still screen with a clock first")
    parser.add_argument("--screenshots", default="", help="a folder for screenshots of the X screen")
    parser.add_argument("--log-copy", default="", help="copy the app's logs/engram.log there at the end")
    parser.add_argument("--raw", default="", help="write every sample, search and step there as JSON")
    args, _ = parser.parse_known_args(list(argv))
    if args.minutes < args.clock_minutes + 1:
        raise SystemExit("--minutes must leave at least a minute after --clock-minutes")
    started = datetime.now()
    result = measure(args)
    if args.raw:
        Path(args.raw).write_text(json.dumps({k: v for k, v in result.items() if k != "log"}, indent=1), "utf-8")
    print(json.dumps({k: v for k, v in result.items() if k not in ("log",)}, indent=1)[-6000:], flush=True)
    problems = [line for line in result["log"].splitlines() if " WARNING " in line or " ERROR " in line]
    print(f"  ran {started:%H:%M}-{datetime.now():%H:%M}; the app's log: {len(result['log'].splitlines())} lines, "
          f"{len(problems)} warnings/errors; its stderr: {result['stderr_lines']} lines", flush=True)
    for line in problems[:20]:
        print("    " + line[:300], flush=True)
    return metrics(result, args)


if __name__ == "__main__":
    from bench import results

    results.merge(run(sys.argv[1:]))
    results.render(results.collected_methods())
