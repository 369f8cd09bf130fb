"""Filling one store with a simulated year of use, the way the app fills it, resumably.

Per capture tick (bench/year_screens_sim.py says what the screen shows): a kept screen goes through
`Recorder._store_frame` (picture or patches into blobs/, the frame row with its text pending), then its
text and word boxes are written as the OCR worker writes them. At the end of every simulated hour: that
hour's chat messages are imported from a JSON Lines export through `agents.importers.import_file`, the
digester takes in the new frames and messages, and the hourly job of capture (`CaptureService._retain`)
runs. Every FORGET_EVERY frames the user forgets one screen from an hour before, as the timeline does.

The store is the truth about progress: a fill resumes at the tick after its newest frame, first writing
the text of any frame a kill left pending; messages are imported again whole (importing adds nothing twice).
"""
from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from bench import year_screens_sim as sim
from bench.year_embedder import YearEmbedder
from bench.year_screens import Screen

PASSPHRASE = "year of use bench"
EMBEDDER_NAME = "pooled-minilm"
FORGET_EVERY = 3_000
MESSAGES_PER_FRAME = 0.2      # 200k messages per 1M frames
TICKS_PER_HOUR = 1200
PROGRESS_EVERY = 1_000


@dataclass
class FillState:
    """What the store cannot say about itself: which screens it replays and the time spent filling."""

    path: Path
    screens: list[str] = field(default_factory=list)
    fill_seconds: float = 0.0
    frames_timed: int = 0
    measured: dict[str, Any] = field(default_factory=dict)
    # The filling process's open files, per run of it (a resumed fill is a new process): [screens kept at its
    # first progress line, at its last, open files at the first, the most at any]. Flat over a run means
    # nothing holds files open per write, table version or search.
    open_files: list[list[int]] = field(default_factory=list)

    @classmethod
    def load(cls, path: Path) -> "FillState":
        if not path.exists():
            return cls(path)
        data = json.loads(path.read_text())
        return cls(path, data["screens"], data["fill_seconds"], data["frames_timed"], data.get("measured", {}),
                   data.get("open_files", []))

    def save(self) -> None:
        data = {"screens": self.screens, "fill_seconds": self.fill_seconds, "frames_timed": self.frames_timed,
                "measured": self.measured, "open_files": self.open_files}
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(data, indent=1))
        os.replace(tmp, self.path)  # a kill -9 leaves the old state or the new, never half of one


def open_store(home: Path, embedder: YearEmbedder, kdf_seconds: float = 1.0) -> Any:
    from storage.store import MemoryStore

    if (home / "keys.json").exists():
        return MemoryStore.open(PASSPHRASE, home=home, embedder=embedder, embedder_name=EMBEDDER_NAME)
    home.mkdir(parents=True, exist_ok=True)
    return MemoryStore.create(PASSPHRASE, home=home, embedder=embedder, embedder_name=EMBEDDER_NAME,
                              kdf_seconds=kdf_seconds)[0]


class _Focused:
    """The focused window as the recorder reads it from the window provider."""

    def __init__(self, view: sim.View) -> None:
        self.app, self.title, self.url = view.app, view.title, None


def hourly_job(service: Any, now: datetime) -> None:
    """What capture's scheduler runs every hour (`CaptureService._retain`: retention, then the store's
    upkeep), on the simulated clock, and without the service's catch-all: a failure stops the fill."""
    from app.capture.service import hourly_upkeep

    hourly_upkeep(service.recorder.store, service.policy, now=now)


class Fill:
    def __init__(self, store: Any, screens: list[Screen], turns: list[Any], work_dir: Path,
                 state: FillState | None = None, say: Callable[[str], None] = print) -> None:
        from agents.meta import MetaMemoryManager
        from agents.pipeline import Digester
        from agents.router import EmbeddingRouter
        from app.capture.ocr_worker import OcrWorker
        from app.capture.recorder import Recorder
        from app.capture.retention import RetentionPolicy
        from app.capture.service import CaptureService

        self.store, self.screens, self.turns, self.work_dir, self.say = store, screens, turns, work_dir, say
        self.state = state or FillState(work_dir / "state.json")
        # The fill hands the recorder its grabs (`_store_frame`) and writes what the OCR read itself, so
        # neither a screen source, a window provider nor an OCR engine is ever asked anything.
        self.recorder = Recorder(store, screen=None, windows=None)  # type: ignore[arg-type]
        # Not started: its jobs are run here on the simulated clock, not on APScheduler's.
        self.service = CaptureService(self.recorder, OcrWorker(store, ocr=None),  # type: ignore[arg-type]
                                      RetentionPolicy())
        # No language model: what the digester does without one (rules, extractors, routing by meaning).
        self.digester = Digester(store, MetaMemoryManager(store, EmbeddingRouter(store.embedder), llm=None))
        self.tick = self._resume_tick()
        self.kept = sum(sim.kept(t) for t in range(self.tick))

    def _resume_tick(self) -> int:
        newest = self.store.list_range(kinds=["frame"], limit=1, newest_first=True)
        if not newest:
            return 0
        self._write_pending_text()
        return sim.tick_of(newest[0].time) + 1

    def run(self, until_frames: int) -> int:
        """Fill until `until_frames` screens were kept in all; returns how many this call kept."""
        started, kept_here = time.perf_counter(), 0
        self._mark = (started, 0)
        self._files_run: list[int] | None = None
        while self.kept < until_frames:
            if sim.kept(self.tick):
                self._capture(self.tick)
                self.kept += 1
                kept_here += 1
                if self.kept % FORGET_EVERY == 0:
                    self._forget_one()
                if self.kept % PROGRESS_EVERY == 0:
                    self._progress(started, kept_here, until_frames)
                    self._account(kept_here)  # saves the state, the open files just noted with it
            self.tick += 1
            if self.tick % TICKS_PER_HOUR == 0:
                self._end_of_hour(self.tick // TICKS_PER_HOUR - 1)
        self._end_of_hour(self.tick // TICKS_PER_HOUR)  # the hour so far, so the store is whole when measured
        self._account(kept_here)
        return kept_here

    def _account(self, kept_here: int) -> None:
        """The filling time and screens since the last call, added to the saved state (for the fill rate)."""
        now = time.perf_counter()
        self.state.fill_seconds += now - self._mark[0]
        self.state.frames_timed += kept_here - self._mark[1]
        self._mark = (now, kept_here)
        self.state.save()

    def _capture(self, tick: int) -> None:
        v = sim.view(tick, self.screens)
        self.recorder._store_frame(0, sim.picture(v), v.changed, _Focused(v), sim.moment(tick))
        self._write_pending_text()

    def _write_pending_text(self) -> None:
        """The OCR worker's part: its reading is replayed from the cache, its write is the worker's."""
        for frame in self.store.pending_text(limit=100):
            write_text(self.store, frame, sim.words_of(sim.view(sim.tick_of(frame.time), self.screens)))

    def _end_of_hour(self, hour: int) -> None:
        self._import_messages(hour)
        self.digester.run()
        hourly_job(self.service, sim.moment(self.tick))

    def _import_messages(self, hour: int) -> None:
        """The hour's chat, as far as the simulated clock has got: an export holding every message so far
        is imported (again), and the importer adds only those the store lacks."""
        from agents.importers import import_file

        ticks = range(hour * TICKS_PER_HOUR, (hour + 1) * TICKS_PER_HOUR)
        count = round(MESSAGES_PER_FRAME * sum(sim.kept(t) for t in ticks))
        start, now = sim.moment(ticks[0]), sim.moment(self.tick)
        lines = []
        for j in range(count if self.turns else 0):
            when = start + int(sim.roll("at", hour, j) * TICKS_PER_HOUR) * sim.TICK
            if when >= now:
                continue
            turn = self.turns[int(sim.roll("turn", hour, j) * len(self.turns))]
            text = turn.text.removeprefix(f"{turn.speaker}: ")
            lines.append(json.dumps({"time": when.isoformat(), "speaker": turn.speaker, "text": text,
                                     "conversation": f"chat {hour % 7}"}))
        if not lines:
            return
        # The importer reads files; this one holds public LoCoMo turns only and lives until imported.
        path = self.work_dir / "chat.jsonl"
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        try:
            import_file(self.store, "jsonl", path, tz=timezone.utc)
        finally:
            path.unlink()

    def _forget_one(self) -> None:
        """'Forget this frame' on a screen from about an hour before."""
        from agents.forget import forget

        now = sim.moment(self.tick)
        found = self.store.frame_times(now - timedelta(hours=1), now - timedelta(minutes=50))
        if found:
            forget(self.store, [found[0][0]])

    def _progress(self, started: float, kept_here: int, until: int) -> None:
        rate = kept_here / max(time.perf_counter() - started, 1e-9)
        eta = (until - self.kept) / rate if rate else float("inf")
        files = self._note_open_files()
        self.say(f"    {self.kept:>9,} frames kept ({self.store.count():,} rows), {rate:.2f} frames/s, "
                 f"{files} files open, simulated {sim.moment(self.tick):%Y-%m-%d %H:%M}, ETA {eta / 3600:.1f} h")

    def _note_open_files(self) -> int:
        files = open_files()
        if self._files_run is None:
            self._files_run = [self.kept, self.kept, files, files]
            self.state.open_files.append(self._files_run)
        run = self._files_run
        run[1], run[3] = self.kept, max(run[3], files)
        return files


def open_files() -> int:
    """This process's open file descriptors (Linux)."""
    return len(os.listdir("/proc/self/fd"))


def write_text(store: Any, frame: Any, words: list[tuple[str, tuple[int, int, int, int]]]) -> None:
    """A frame's text and word boxes, written as `OcrWorker.read_frame` writes what it read."""
    from agents.secrets import keep_secrets
    from app.capture.ocr import OcrWord
    from app.capture.ocr_worker import reading_order
    from storage.memory import utcnow

    lines = reading_order([OcrWord(text, box, 0.9) for text, box in words], frame.fields.get("windows") or ())
    frame.text = "\n".join(" ".join(word.text for word in line) for line in lines)
    frame.fields = {**frame.fields, "boxes": [[word.text, *word.box] for line in lines for word in line]}
    frame.text_pending = False
    frame.updated = utcnow()
    frame.note("ocr", "screen text read")
    store.save(keep_secrets(store, [frame]), replace_only=[frame.id])
