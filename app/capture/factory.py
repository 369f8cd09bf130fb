"""Building the capture pipeline from the user's settings (used by the CLI and the desktop app)."""
from __future__ import annotations

import logging
import os
import sys
from typing import Any

from storage.config import Config

from app.capture.windows import NullWindows, WindowProvider

log = logging.getLogger(__name__)


def build_capture(store: Any, screen: Any = None, windows: Any = None, ocr: Any = None) -> tuple[Any, Any, Any]:
    """The recorder, OCR worker and retention policy, from the user's settings."""
    from app.capture.frame_filter import CaptureRules, FrameFilter
    from app.capture.quiet_hours import parse_schedule
    from app.capture.ocr_worker import OcrWorker
    from app.capture.recorder import CaptureSettings, Recorder
    from app.capture.retention import RetentionPolicy
    from app.capture.screen import MssScreen
    from app.capture.ocr_process import default_ocr

    cfg = Config.load()
    rules = CaptureRules(excluded_apps=frozenset(cfg.get("capture.excluded_apps")),
                         excluded_title_keywords=tuple(cfg.get("capture.excluded_title_keywords")))
    settings = CaptureSettings(idle_after_seconds=cfg.get("capture.idle_after_seconds"),
                               min_free_disk_mb=cfg.get("capture.min_free_disk_mb"),
                               image_scale=cfg.get("capture.image_scale"), webp_quality=cfg.get("capture.webp_quality"),
                               allow_without_window_info=cfg.get("capture.allow_without_window_info"),
                               monitors=monitor_numbers(cfg.get("capture.monitors")),
                               quiet_hours=parse_schedule(cfg.get("capture.quiet_hours")))
    frame_filter = FrameFilter(rules, moving_seconds=max(0.0, cfg.get("capture.moving_picture_seconds")))
    recorder = Recorder(store, screen or MssScreen(), windows or window_provider(), frame_filter, settings)
    policy = RetentionPolicy(max_bytes=int(cfg.get("retention.max_gb") * 1e9), max_age_days=cfg.get("retention.max_age_days"),
                             text_only_after_days=cfg.get("retention.text_only_after_days"))
    return recorder, OcrWorker(store, ocr or default_ocr()), policy


def monitor_numbers(values: list[Any]) -> tuple[int, ...]:
    """The monitors setting as numbers; says which entry is not one."""
    numbers = []
    for value in values:
        try:
            number = int(str(value).strip())
        except ValueError:
            raise ValueError(f"monitor {value!r} is not a number (1 = the first monitor)") from None
        if number < 1:
            raise ValueError(f"monitor {number}: monitors are numbered from 1")
        numbers.append(number)
    return tuple(numbers)


def start_capture_service(store: Any) -> Any:
    """The capture service running in the background (APScheduler threads)."""
    from app.capture.service import CaptureService

    recorder, worker, policy = build_capture(store)
    service = CaptureService(recorder, worker, policy, interval_seconds=Config.load().get("capture.interval_seconds"))
    service.start()
    return service


def window_provider(platform: str | None = None, environ: dict[str, str] | None = None) -> WindowProvider:
    """The best provider that works here; NullWindows when none does (never raises)."""
    platform = platform or sys.platform
    env = dict(os.environ if environ is None else environ)
    try:
        if platform == "win32":
            from app.capture.windows_native import Win32Windows

            return Win32Windows()
        if platform == "darwin":
            from app.capture.windows_native import QuartzWindows

            return QuartzWindows()
        if env.get("XDG_SESSION_TYPE") == "wayland" or (env.get("WAYLAND_DISPLAY") and not env.get("DISPLAY")):
            # XWayland would show only X clients: a native Wayland password manager in front would look
            # like "the last X window is focused". Knowing nothing is more honest than being wrong.
            return NullWindows()
        if env.get("DISPLAY"):
            from app.capture.windows_x11 import X11Windows

            provider = X11Windows(env["DISPLAY"])
            provider.check()
            return provider
    except Exception as exc:  # a missing library or an unreachable display: degrade, do not crash capture
        log.warning("window metadata unavailable: %s", exc.__class__.__name__)
    return NullWindows()
