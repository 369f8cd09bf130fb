"""Capture running by itself: APScheduler owns the capture tick, the OCR
worker's wake-ups and the retention job. Nothing else starts timers.

Stopping sets a flag the OCR worker checks between frames and then waits for
running jobs, so no frame is left half-written (each store write is atomic
anyway; this keeps shutdown prompt and the counts right).
"""
from __future__ import annotations

import logging
import threading
from typing import Any

from apscheduler.schedulers.background import BackgroundScheduler

from app.capture.ocr_worker import OcrWorker
from app.capture.recorder import Recorder
from app.capture.retention import RetentionPolicy, enforce

log = logging.getLogger(__name__)


class CaptureService:
    def __init__(self, recorder: Recorder, ocr_worker: OcrWorker, policy: RetentionPolicy,
                 interval_seconds: float = 3.0, retention_every_seconds: float = 3600.0) -> None:
        self.recorder = recorder
        self.ocr_worker = ocr_worker
        self.policy = policy
        self._stopping = threading.Event()
        self._scheduler = BackgroundScheduler(job_defaults={"max_instances": 1, "coalesce": True})
        self._scheduler.add_job(self._tick, "interval", seconds=interval_seconds, id="capture")
        self._scheduler.add_job(self._read_text, "interval", seconds=1.0, id="ocr")
        self._scheduler.add_job(self._retain, "interval", seconds=retention_every_seconds, id="retention")

    def start(self) -> None:
        self._stopping.clear()
        self._scheduler.start()
        self._scheduler.modify_job("capture", next_run_time=_now())  # first grab at once, not after one interval

    def stop(self) -> None:
        self._stopping.set()
        if self._scheduler.running:
            self._scheduler.shutdown(wait=True)

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
        report = enforce(self.recorder.store, self.policy)
        if report.frames_removed or report.images_dropped:
            log.info("retention: %d frames removed, %d images dropped", report.frames_removed, report.images_dropped)


def _now() -> Any:
    from datetime import datetime, timezone

    return datetime.now(timezone.utc)
