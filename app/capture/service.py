"""Capture running by itself: APScheduler owns the capture tick, the OCR
worker's wake-ups, the hourly job (retention, then store upkeep) and the disk measure.
Nothing else starts timers.

A tick that finds the one before still running is skipped (one grab at a
time); APScheduler would log a warning for each, hundreds an hour on a busy
machine. They are counted instead (`health()`, shown in the tray) and summed
up in the log every few minutes.

Stopping sets a flag the OCR worker checks between frames and then waits for
running jobs, so no frame is left half-written (each store write is atomic
anyway; this keeps shutdown prompt and the counts right).
"""
from __future__ import annotations

import logging
import os
import threading
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from apscheduler.events import EVENT_JOB_MAX_INSTANCES, JobSubmissionEvent
from apscheduler.schedulers.background import BackgroundScheduler

from app.capture.ocr_worker import OcrWorker
from app.capture.recorder import Recorder
from app.capture.retention import RetentionPolicy, RetentionReport, enforce
from storage.upkeep import UpkeepReport, run_upkeep

log = logging.getLogger(__name__)
DISK_EVERY_SECONDS = 600.0


class _SkippedRunsCounted(logging.Filter):
    """APScheduler's 'maximum number of running instances reached' lines: counted by the services."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "maximum number of running instances" not in record.getMessage()


def quiet_scheduler_logs() -> None:
    """No line per job run ('Running job …', '… executed successfully'): the log keeps events, not ticks."""
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    scheduler_log = logging.getLogger("apscheduler.scheduler")
    if not any(isinstance(f, _SkippedRunsCounted) for f in scheduler_log.filters):
        scheduler_log.addFilter(_SkippedRunsCounted())


@dataclass(frozen=True)
class CaptureHealth:
    last_capture: datetime | None    # when a screen was last kept
    dropped: int                     # ticks skipped because the one before was still running
    disk_bytes: int | None           # everything Engram keeps on disk, as last measured

    def summary(self, now: datetime | None = None) -> str:
        """One line for the tray menu: "Last screen 14:05 · 3 ticks dropped · 1.3 GB on disk"."""
        parts = ["No screen kept yet"]
        if self.last_capture is not None:
            local = self.last_capture.astimezone()
            today = (now or datetime.now(local.tzinfo)).astimezone().date() == local.date()
            parts = [f"Last screen {local:%H:%M}" if today else f"Last screen {local:%d %b %H:%M}"]
        if self.dropped:
            parts.append(f"{self.dropped} tick{'s' if self.dropped != 1 else ''} dropped")
        if self.disk_bytes is not None:
            parts.append(f"{self.disk_bytes / 1e9:.1f} GB on disk" if self.disk_bytes >= 1e9
                         else f"{self.disk_bytes / 1e6:.0f} MB on disk")
        return " · ".join(parts)


def bytes_under(root: Path) -> int:
    """The size of every file under `root` (os.scandir: one stat per file, no Path objects)."""
    total, folders = 0, [str(root)]
    while folders:
        try:
            entries = list(os.scandir(folders.pop()))
        except OSError:
            continue
        for entry in entries:
            try:
                if entry.is_dir(follow_symlinks=False):
                    folders.append(entry.path)
                elif entry.is_file(follow_symlinks=False):
                    total += entry.stat(follow_symlinks=False).st_size
            except OSError:
                continue  # removed meanwhile (retention, a delete)
    return total


def hourly_upkeep(store: Any, policy: RetentionPolicy,
                  now: datetime | None = None) -> tuple[RetentionReport, UpkeepReport]:
    """The hourly job: retention within the user's budget, then the store's upkeep, which erases from
    disk what retention and the user's forgets deleted since the last run (storage/upkeep.py)."""
    retained = enforce(store, policy, now=now)
    if retained.frames_removed or retained.images_dropped:
        log.info("retention: %d frames removed, %d images dropped", retained.frames_removed, retained.images_dropped)
    return retained, run_upkeep(store)


class CaptureService:
    def __init__(self, recorder: Recorder, ocr_worker: OcrWorker, policy: RetentionPolicy,
                 interval_seconds: float = 3.0, retention_every_seconds: float = 3600.0) -> None:
        self.recorder = recorder
        self.ocr_worker = ocr_worker
        self.policy = policy
        self._stopping = threading.Event()
        self.dropped = 0
        self._dropped_logged = 0
        self.disk_bytes: int | None = None
        quiet_scheduler_logs()
        self._scheduler = BackgroundScheduler(job_defaults={"max_instances": 1, "coalesce": True})
        self._scheduler.add_listener(self._skipped, EVENT_JOB_MAX_INSTANCES)
        self._scheduler.add_job(self._tick, "interval", seconds=interval_seconds, id="capture")
        self._scheduler.add_job(self._read_text, "interval", seconds=1.0, id="ocr")
        self._scheduler.add_job(self._retain, "interval", seconds=retention_every_seconds, id="retention")
        self._scheduler.add_job(self._measure, "interval", seconds=DISK_EVERY_SECONDS, id="disk", next_run_time=_now())

    def start(self) -> None:
        self._stopping.clear()
        self._scheduler.start()
        self._scheduler.modify_job("capture", next_run_time=_now())  # first grab at once, not after one interval

    def stop(self) -> None:
        self._stopping.set()
        if self._scheduler.running:
            self._scheduler.shutdown(wait=True)

    def health(self) -> CaptureHealth:
        return CaptureHealth(self.recorder.last_kept, self.dropped, self.disk_bytes)

    def _skipped(self, event: JobSubmissionEvent) -> None:
        if event.job_id == "capture":
            self.dropped += 1

    def _measure(self) -> None:
        from storage import paths

        self.disk_bytes = bytes_under(paths.home())
        if self.dropped > self._dropped_logged:
            log.warning("%d capture tick(s) skipped in the last %d minutes: the one before was still running",
                        self.dropped - self._dropped_logged, DISK_EVERY_SECONDS // 60)
            self._dropped_logged = self.dropped

    def _tick(self) -> None:
        try:
            self.recorder.tick()
        except Exception as exc:  # keep capturing; the tray shows the error state
            self.recorder.counts["errors"] += 1
            self.recorder.stopped_reason = f"capture error: {type(exc).__name__}"
            log.error("capture tick failed: %s", type(exc).__name__)

    def _read_text(self) -> None:
        try:
            self.ocr_worker.drain(should_stop=self._stopping.is_set)
        except Exception as exc:
            log.error("OCR failed: %s", type(exc).__name__)

    def _retain(self) -> None:
        try:
            hourly_upkeep(self.recorder.store, self.policy)
        except Exception as exc:  # keep capturing; the next hour tries again
            log.error("hourly upkeep failed: %s", type(exc).__name__)


def _now() -> Any:
    from datetime import datetime, timezone

    return datetime.now(timezone.utc)
