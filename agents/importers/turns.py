"""Chat turns into `message` memories: deterministic ids, aware times, kept order.

Ids are derived from what a turn is (format, conversation, its key in the
export, speaker, text), so importing the same file again, or a later export of
the same chat, finds the turns it already holds instead of adding copies.
"""
from __future__ import annotations

import hashlib
import json
from collections import Counter
from datetime import datetime, timedelta, tzinfo
from pathlib import Path

from storage.memory import Memory, TimeOutOfRange, Trust, check_time, check_year

from agents.importers.files import ImportFailed

# Exports often give minutes or seconds only, so several turns share a time; each
# later one is moved this much past the previous, so sorting by time keeps their order.
_TIE_STEP = timedelta(milliseconds=1)
# A message longer than this is cut here: WhatsApp allows 65,536 characters and Telegram 4,096, so beyond it
# is a pasted document or a crafted file, and a 100 MB "message" would keep the import busy for minutes
# (indexing and masking are linear in the text) with no sign of progress.
MAX_MESSAGE_CHARACTERS = 100_000
CUT_MARK = (f" […the rest of this message was not imported: Engram keeps a message's first "
            f"{MAX_MESSAGE_CHARACTERS:,} characters]")
# Names (a speaker, a chat's title) are cut too, unmarked: each is stored again with every message.
_MAX_NAME_CHARACTERS = 1_000


def local_time(naive: datetime, tz: tzinfo | None) -> datetime:
    """A wall-clock time from an export, in `tz` (None: this machine's zone, with its DST rules).
    A time that already carries its offset is kept as it is.
    TimeOutOfRange for a year outside the supported ones (applying a zone to year 1 or 9999 can overflow)."""
    check_year(naive)
    if naive.tzinfo is not None:
        return naive
    return naive.astimezone() if tz is None else naive.replace(tzinfo=tz)


def turn_id(*parts: str | int) -> str:
    """32 lowercase hex characters, the store's id shape."""
    return hashlib.sha256(json.dumps(parts, ensure_ascii=False).encode("utf-8")).hexdigest()[:32]


class Messages:
    """Collects one file's turns. `result()` returns them as memories, oldest first."""

    def __init__(self, path: Path, fmt: str, app: str) -> None:
        self.path, self.fmt, self.app = path, fmt, app
        self._memories: list[Memory] = []
        self._seen: Counter[tuple[str, str, str, str]] = Counter()
        self._last: dict[str, tuple[datetime, datetime]] = {}  # conversation -> (its last time as given, as stored)

    def add(self, *, conversation: str, title: str, key: str, speaker: str, text: str, time: datetime,
            tags: tuple[str, ...] = ()) -> None:
        """`key` places the turn in its conversation (a message id, a raw timestamp, ...)."""
        if len(text) > MAX_MESSAGE_CHARACTERS:
            text = text[:MAX_MESSAGE_CHARACTERS] + CUT_MARK
        conversation, title, key, speaker = (v[:_MAX_NAME_CHARACTERS] for v in (conversation, title, key, speaker))
        identity = (conversation, key, speaker, text)
        self._seen[identity] += 1  # the same words at the same time twice are two turns, not one
        memory_id = turn_id(self.fmt, *identity, self._seen[identity])
        self._memories.append(Memory(
            kind="message", text=text, fields={"speaker": speaker, "conversation": conversation},
            id=memory_id, time=self._checked(self._untied(conversation, time)), app=self.app, title=title,
            trust=Trust.IMPORTED, source_kind="import", tags=list(tags)))

    def _untied(self, conversation: str, time: datetime) -> datetime:
        last = self._last.get(conversation)
        stored = last[1] + _TIE_STEP if last is not None and last[0] == time else time
        self._last[conversation] = (time, stored)
        return stored

    def _checked(self, time: datetime) -> datetime:
        """Every importer's last check (theirs name a line or a conversation where they can): also a tie
        moved past the last instant of the supported years."""
        try:
            return check_time(time)
        except TimeOutOfRange as exc:
            raise ImportFailed(self.path, f"message {len(self._memories) + 1}: {exc}") from None

    def result(self, *, sort: bool = True) -> list[Memory]:
        """sort=False keeps file order (a single chat in the order it was written)."""
        if not self._memories:
            raise ImportFailed(self.path, "no chat messages found in it (only system notices, media or empty turns)")
        return sorted(self._memories, key=lambda m: m.time) if sort else list(self._memories)
