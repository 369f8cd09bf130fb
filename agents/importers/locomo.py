"""LoCoMo benchmark conversations (`locomo10.json`), so benchmarks import what users import.

A list of samples; each has a `sample_id` and a `conversation` with
`session_N` lists of turns `{speaker, dia_id, text, blip_caption?}` and
`session_N_date_time` strings ("1:56 pm on 8 May, 2023"). Every turn keeps its
`dia_id` as the tag "dia:D1:3", which the questions' evidence refers to.
"""
from __future__ import annotations

import re
from datetime import datetime, timedelta, tzinfo
from pathlib import Path
from typing import Any

from storage.memory import Memory, TimeOutOfRange

from agents.importers.files import ImportFailed, looks_like, read_json
from agents.importers.turns import Messages, local_time

HELP = "LoCoMo benchmark conversations (locomo10.json); each turn tagged dia:<dia_id>"

# Sessions give one start time; turns are spread after it so they sort in order.
TURN_GAP = timedelta(seconds=5)
_SESSION = re.compile(r"session_(\d+)")
_DATE = re.compile(r"(\d{1,2}):(\d{2}) ?([ap])\.?m\.? on (\d{1,2}) ([A-Za-z]+),? (\d{4})", re.IGNORECASE)
# Parsed by hand, not strptime: %B and %p follow the process locale, which Qt sets to the user's.
_MONTHS = {m: i for i, m in enumerate(("january", "february", "march", "april", "may", "june", "july", "august",
                                        "september", "october", "november", "december"), 1)}


def parse(path: Path, tz: tzinfo | None = None) -> list[Memory]:
    """tz: the zone the session times are read in (None: this machine's)."""
    data = read_json(path)
    samples = data if isinstance(data, list) else [data]
    if not all(isinstance(s, dict) and isinstance(s.get("conversation"), dict) for s in samples):
        raise ImportFailed(path, "not a LoCoMo file: expected a list of samples, each with a 'conversation'"
                           + looks_like(data))
    messages = Messages(path, "locomo", "LoCoMo")
    for number, sample in enumerate(samples, 1):
        sample_id = str(sample.get("sample_id") or f"sample-{number}")
        try:
            _add_sample(messages, path, sample_id, sample["conversation"], tz)
        except (AttributeError, TypeError, KeyError):
            raise ImportFailed(path, f"sample {sample_id}: not in the LoCoMo layout") from None
    return messages.result()


def _add_sample(messages: Messages, path: Path, sample_id: str, conversation: dict[str, Any],
                tz: tzinfo | None) -> None:
    title = " & ".join(str(conversation[k]) for k in ("speaker_a", "speaker_b") if conversation.get(k))
    numbers = sorted(int(m[1]) for k in conversation if (m := _SESSION.fullmatch(k)))
    for number in numbers:
        start = _session_start(path, sample_id, number, conversation.get(f"session_{number}_date_time"), tz)
        for i, turn in enumerate(conversation[f"session_{number}"]):
            text = str(turn["text"]).strip()
            if turn.get("blip_caption"):  # a shared photo: its caption is all there is of it
                text = f"{text} [image: {turn['blip_caption']}]".strip()
            if text:
                messages.add(conversation=sample_id, title=title, key=str(turn["dia_id"]),
                             speaker=str(turn["speaker"]), text=text, time=start + i * TURN_GAP,
                             tags=(f"dia:{turn['dia_id']}",))


def _session_start(path: Path, sample_id: str, number: int, value: Any, tz: tzinfo | None) -> datetime:
    match = _DATE.fullmatch(value.strip()) if isinstance(value, str) else None
    month = _MONTHS.get(match[5].lower()) if match else None
    try:
        if match is None or month is None:
            raise ValueError
        hour = int(match[1]) % 12 + (12 if match[3].lower() == "p" else 0)
        return local_time(datetime(int(match[6]), month, int(match[4]), hour, int(match[2])), tz)
    except TimeOutOfRange as exc:
        raise ImportFailed(path, f"sample {sample_id}, session {number}: {exc}") from None
    except ValueError:
        raise ImportFailed(path, f"sample {sample_id}, session {number}: its date/time is not like "
                                 "'1:56 pm on 8 May, 2023'") from None
