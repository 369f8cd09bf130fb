"""Reading what the user typed: passphrases, times, memories given as JSON."""
from __future__ import annotations

import getpass
import os
import sys
from datetime import datetime, timedelta
from typing import Any

from storage.config import Config
from storage.memory import KINDS, Memory, Trust


class CliError(Exception):
    """Printed as one line, exit status 1; no traceback for problems the user can fix."""


def ask_passphrase(prompt: str = "Passphrase: ") -> str:
    from_env = os.environ.get("ENGRAM_PASSPHRASE")
    if from_env:
        return from_env
    if not sys.stdin.isatty():
        raise CliError("no passphrase: run in a terminal, or set ENGRAM_PASSPHRASE for scripts")
    return getpass.getpass(prompt)


def parse_when(text: str | None, *, end: bool = False) -> datetime | None:
    """ISO date/time in the local zone, or time words ("yesterday"): start of the span, or its end."""
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        pass
    else:
        moment = moment if moment.tzinfo else moment.astimezone()
        # "--until 2026-11-24" means through the end of that day, not its first instant.
        return moment + timedelta(days=1) if end and len(text.strip()) == 10 else moment
    from storage.timewords import parse_time_words

    parsed = parse_time_words(text, datetime.now().astimezone())
    if parsed.phrase is None or parsed.text:
        raise CliError(f"cannot read {text!r} as a time (try 2024-03-05, 2024-03-05T14:00, 'yesterday', 'last week')")
    return parsed.until if end else parsed.since


def memory_from_json(raw: dict[str, Any]) -> Memory:
    """A memory from the JSON a user or script wrote: {"kind", "text", "fields", "time", ...}."""
    if not isinstance(raw, dict) or "kind" not in raw:
        raise CliError("each JSON memory must be an object with at least a 'kind'")
    kind = KINDS.get(raw["kind"])
    if kind is None:
        raise CliError(f"unknown memory type {raw['kind']!r}")
    fields = dict(raw.get("fields") or {})
    for name in kind.fields:  # also accept the kind's fields at the top level
        if name in raw:
            fields[name] = raw[name]
    text = raw.get("text", raw.get(kind.text_field, ""))
    extra: dict[str, Any] = {}
    for stamp, key in (("time", "time"), ("ended", "ended")):
        if raw.get(key):
            extra[stamp] = parse_when(str(raw[key]))
    if "trust" in raw:
        extra["trust"] = Trust[str(raw["trust"]).upper()] if isinstance(raw["trust"], str) else Trust(raw["trust"])
    return Memory(kind=raw["kind"], text=str(text), fields=fields, app=str(raw.get("app", "")),
                  title=str(raw.get("title", "")), tags=list(raw.get("tags", [])),
                  source_ids=list(raw.get("source_ids", [])), source_kind=str(raw.get("source_kind", "user")),
                  secret=raw.get("secret_value", raw.get("secret")), **extra)


def config() -> Config:
    return Config.load()
