"""Reading what the user typed: passphrases, times, memories given as JSON."""
from __future__ import annotations

import getpass
import os
import sys
from datetime import datetime, timedelta
from typing import Any

from storage.config import Config
from storage.memory import KINDS, Memory, TimeOutOfRange, Trust, check_time, check_year


class CliError(Exception):
    """Printed as one line, exit status 1; no traceback for problems the user can fix."""


def ask_passphrase(prompt: str = "Passphrase: ") -> str:
    from_env = os.environ.get("ENGRAM_PASSPHRASE")
    if from_env:
        return from_env
    if not sys.stdin.isatty():
        raise CliError("no passphrase: run in a terminal, or set ENGRAM_PASSPHRASE for scripts")
    return getpass.getpass(prompt)


# One rule for a new passphrase, in `init` and `passwd` as in the desktop's first-run and Settings dialogs.
MIN_PASSPHRASE_CHARACTERS = 8


def check_new_passphrase(passphrase: str, unchanged: str) -> str:
    """`passphrase`, if long enough to be a passphrase; `unchanged` says what was left as it was."""
    if len(passphrase) < MIN_PASSPHRASE_CHARACTERS:
        raise CliError(f"a passphrase needs at least {MIN_PASSPHRASE_CHARACTERS} characters (a few words are "
                       f"best); {unchanged}")
    return passphrase


def parse_when(text: str | None, *, end: bool = False) -> datetime | None:
    """ISO date/time in the local zone, or time words ("yesterday"): start of the span, or its end."""
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        pass
    else:
        moment = _in_supported_years(text, moment)
        # "--until 2026-11-24" means through the end of that day, not its first instant.
        return moment + timedelta(days=1) if end and len(text.strip()) == 10 else moment
    from storage.timewords import parse_time_words

    parsed = parse_time_words(text, datetime.now().astimezone())
    if parsed.phrase is None or parsed.text:
        raise CliError(f"cannot read {text!r} as a time (try 2024-03-05, 2024-03-05T14:00, 'yesterday', 'last week')")
    return parsed.until if end else parsed.since


def _in_supported_years(text: str, moment: datetime) -> datetime:
    """`moment` made aware in the local zone, if its year is supported (a zone applied to year 1 or 9999
    can overflow, and a store row that far off could not be read back)."""
    try:
        return check_time(moment if moment.tzinfo else check_year(moment).astimezone())
    except (TimeOutOfRange, OverflowError, OSError):
        raise CliError(str(TimeOutOfRange(f"{text!r} is"))) from None


def memory_from_json(raw: dict[str, Any]) -> Memory:
    """A memory from the JSON a user or script wrote: {"kind", "text", "fields", "time", ...}.
    Anything of the wrong shape is a CliError naming the key, before anything is stored."""
    if not isinstance(raw, dict) or not isinstance(raw.get("kind"), str):
        raise CliError("each JSON memory must be an object with at least a 'kind' (a memory type's name)")
    kind = KINDS.get(raw["kind"])
    if kind is None:
        raise CliError(f"unknown memory type {raw['kind']!r}; one of: {', '.join(KINDS)}")
    fields = raw.get("fields") or {}
    if not isinstance(fields, dict):
        raise CliError("'fields' must be an object of field names and values")
    fields = dict(fields)
    for name in kind.fields:  # also accept the kind's fields at the top level
        if name in raw:
            fields[name] = raw[name]
    for name, value in fields.items():
        if _depth(value) > _MAX_FIELD_DEPTH:  # deeper overflows the stack when it is indexed or stored
            raise CliError(f"'{name}' is nested too deeply (a field holds text or lists, {_MAX_FIELD_DEPTH} "
                           "levels at most)")
    text = raw.get("text", raw.get(kind.text_field, ""))
    extra: dict[str, Any] = {}
    for stamp, key in (("time", "time"), ("ended", "ended")):
        if raw.get(key):
            extra[stamp] = parse_when(str(raw[key]))
    if "trust" in raw:
        extra["trust"] = _trust(raw["trust"])
    try:
        return Memory(kind=raw["kind"], text=_text(raw, "text", text), fields=fields, app=_text(raw, "app"),
                      title=_text(raw, "title"), tags=_texts(raw, "tags"), source_ids=_texts(raw, "source_ids"),
                      source_kind=_text(raw, "source_kind", raw.get("source_kind", "user")),
                      secret=_secret(raw), **extra)
    except ValueError as exc:
        raise CliError(str(exc)) from None


_MAX_FIELD_DEPTH = 8


def _depth(value: Any) -> int:
    """How many lists and objects deep `value` goes (counted without recursion, whatever its depth)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, (list, dict)):
            deepest = max(deepest, level)
            if deepest > _MAX_FIELD_DEPTH:
                break
            stack.extend((child, level + 1) for child in (item.values() if isinstance(item, dict) else item))
    return deepest


def _trust(value: Any) -> Trust:
    names = ", ".join(t.name.lower() for t in Trust)
    try:
        return Trust[value.upper()] if isinstance(value, str) else Trust(value)
    except (KeyError, ValueError, TypeError):
        raise CliError(f"unknown trust {value!r}; one of: {names} (or 1-4)") from None


def _text(raw: dict[str, Any], key: str, value: Any = None) -> str:
    value = raw.get(key, "") if value is None else value
    if not isinstance(value, (str, int, float)) or isinstance(value, bool):
        raise CliError(f"'{key}' must be text, not {type(value).__name__}")
    return str(value)


def _texts(raw: dict[str, Any], key: str) -> list[str]:
    value = raw.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise CliError(f"'{key}' must be a list of texts")
    return list(value)


def _secret(raw: dict[str, Any]) -> str | None:
    value = raw.get("secret_value", raw.get("secret"))
    if value is not None and not isinstance(value, str):
        raise CliError("'secret_value' must be text")
    return value


def config() -> Config:
    return Config.load()
