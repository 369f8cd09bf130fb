"""Pausing capture, shared by the tray and the CLI through one small file.

A file (not process memory) so that `engram capture --pause 1h` in a terminal
pauses the running app too, and a pause survives a restart.
"""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

from storage import paths
from storage.atomic import write_json_atomically

FOREVER = "until resumed"


def _file() -> Path:
    return paths.home() / "capture-pause.json"


def pause(minutes: float | None) -> None:
    """Pause for `minutes`, or until resumed when None."""
    until = None if minutes is None else (datetime.now(timezone.utc) + timedelta(minutes=minutes)).isoformat()
    write_json_atomically(_file(), {"until": until or FOREVER})


def resume() -> None:
    _file().unlink(missing_ok=True)


def paused_until(now: datetime | None = None) -> datetime | str | None:
    """None when capturing; FOREVER or the end of the pause otherwise (an expired pause is cleared)."""
    try:
        until = json.loads(_file().read_text(encoding="utf-8"))["until"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if until == FOREVER:
        return FOREVER
    end = datetime.fromisoformat(until)
    if end <= (now or datetime.now(timezone.utc)):
        resume()
        return None
    return end
