"""Generic JSON Lines: one turn per line, for chats from anywhere else.

    {"time": "2024-03-05T14:02:00", "speaker": "Anna", "text": "...", "conversation": "team"}

`time` is ISO-8601 (without an offset: read in the zone given) or Unix
seconds; `conversation` is optional (default: the file's name). Blank lines
are skipped.
"""
from __future__ import annotations

import json
from datetime import datetime, tzinfo
from pathlib import Path
from typing import Any

from storage.memory import Memory, TimeOutOfRange, from_unix

from agents.importers.files import ImportFailed, read_text
from agents.importers.turns import Messages, local_time

HELP = 'JSON Lines: one {"time", "speaker", "text", "conversation"?} object per line'


def parse(path: Path, tz: tzinfo | None = None) -> list[Memory]:
    messages = Messages(path, "jsonl", "")
    for number, line in enumerate(read_text(path).split("\n"), 1):
        if not line.strip():
            continue
        try:
            turn = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ImportFailed(path, f"column {exc.colno}: not valid JSON ({exc.msg})", line=number) from None
        if not isinstance(turn, dict):
            raise ImportFailed(path, "expected a JSON object", line=number)
        _add(messages, path, number, turn, tz)
    return messages.result()


def _add(messages: Messages, path: Path, number: int, turn: dict[str, Any], tz: tzinfo | None) -> None:
    for name in ("time", "speaker", "text"):
        if name not in turn:
            raise ImportFailed(path, f"no '{name}'", line=number)
    speaker, text, conversation = turn["speaker"], turn["text"], turn.get("conversation", path.stem)
    if not all(isinstance(v, str) for v in (speaker, text, conversation)):
        raise ImportFailed(path, "'speaker', 'text' and 'conversation' must be strings", line=number)
    if text.strip():
        messages.add(conversation=conversation, title=conversation, key=str(turn["time"]), speaker=speaker,
                     text=text.strip(), time=_time(path, number, turn["time"], tz))


def _time(path: Path, number: int, value: Any, tz: tzinfo | None) -> datetime:
    try:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return from_unix(value)
        if isinstance(value, str):
            return local_time(datetime.fromisoformat(value), tz)
    except TimeOutOfRange:
        raise ImportFailed(path, str(TimeOutOfRange("'time' is")), line=number) from None
    except (ValueError, OverflowError, OSError):  # OSError: a time the platform's clock cannot hold
        pass
    raise ImportFailed(path, "'time' is neither an ISO-8601 date/time nor Unix seconds", line=number)
