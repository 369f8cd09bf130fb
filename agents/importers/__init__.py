"""Importing chat histories (ChatGPT, WhatsApp, Telegram, JSON Lines, LoCoMo) as `message` memories.

Each format is a module with a pure `parse(path, tz) -> list[Memory]` (oldest
first). `import_file` stores what a file holds that the store does not hold
yet, in one atomic write: a file is imported whole or not at all, and
importing it again adds nothing.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, tzinfo
from pathlib import Path
from typing import TYPE_CHECKING

from storage.memory import Memory

from agents.importers import chatgpt, jsonl, locomo, telegram, whatsapp
from agents.importers.files import ImportFailed
from agents.importers.progress import Progress, reporting
from agents.importers.turns import CUT_MARK
from agents.secrets import keep_secrets

if TYPE_CHECKING:
    from storage.store import MemoryStore

__all__ = ["FORMATS", "Format", "ImportFailed", "ImportSummary", "Progress", "import_file"]

# Ids per existence query: keeps the IN (...) filter a modest size.
_ID_CHUNK = 500


@dataclass(frozen=True)
class Format:
    parse: Callable[[Path, tzinfo | None], list[Memory]]
    help: str


def _within_the_stack(parse: Callable[[Path, tzinfo | None], list[Memory]]) -> Callable[[Path, tzinfo | None], list[Memory]]:
    """JSON nested a few hundred levels deep parses, then overflows the stack wherever a value of it is
    turned into text; deeper, the parser itself overflows. Either way the file is refused, not a traceback."""
    def guarded(path: Path, tz: tzinfo | None = None) -> list[Memory]:
        try:
            return parse(path, tz)
        except RecursionError:
            raise ImportFailed(path, "its JSON is nested too deeply (no chat export nests like this)") from None
    return guarded


FORMATS: dict[str, Format] = {
    "chatgpt": Format(_within_the_stack(chatgpt.parse), chatgpt.HELP),
    "whatsapp": Format(whatsapp.parse, whatsapp.HELP),
    "telegram": Format(_within_the_stack(telegram.parse), telegram.HELP),
    "jsonl": Format(_within_the_stack(jsonl.parse), jsonl.HELP),
    "locomo": Format(_within_the_stack(locomo.parse), locomo.HELP),
}


@dataclass(frozen=True)
class ImportSummary:
    read: int                   # messages found in the file
    new: int                    # of them, stored now
    already_present: int        # of them, in the store from an earlier import
    conversations: int
    first: datetime
    last: datetime
    shortened: int = 0          # of the new, how many were cut at MAX_MESSAGE_CHARACTERS


def import_file(store: MemoryStore, fmt: str, path: Path, progress: Progress | None = None,
                tz: tzinfo | None = None) -> ImportSummary:
    """Parse `path` as `fmt` and add the messages the store lacks, all in one commit.

    `tz` is the zone of exports that write wall-clock times (None: this machine's).
    `progress(done, total)` is called as the new messages are embedded.
    """
    if fmt not in FORMATS:
        raise ImportFailed(path, f"unknown format {fmt!r}; one of: {', '.join(FORMATS)}")
    memories = _unique(FORMATS[fmt].parse(path, tz))
    present = _existing_ids(store, [m.id for m in memories])
    new = [m for m in memories if m.id not in present]
    # Turns an earlier version imported are indexed again with their neighbours (storage/neighbours.py),
    # from what is stored (masked when it was first written), in the same commit as the new ones.
    again = store.indexed_alone([m.id for m in memories if m.id in present])
    if progress is not None:
        progress(0, len(new) + len(again))
    with reporting(store, progress, len(new) + len(again)):
        # Secrets in the chat are masked before the messages are first stored, and filed in the vault.
        store.add(keep_secrets(store, new) + again)
    return ImportSummary(read=len(memories), new=len(new), already_present=len(memories) - len(new),
                         conversations=len({m.fields["conversation"] for m in memories}),
                         first=min(m.time for m in memories), last=max(m.time for m in memories),
                         shortened=sum(m.text.endswith(CUT_MARK) for m in new))


def _unique(memories: list[Memory]) -> list[Memory]:
    """One memory per id (a full Telegram export may list a chat twice); order kept."""
    return list({m.id: m for m in reversed(memories)}.values())[::-1]


def _existing_ids(store: MemoryStore, ids: Sequence[str]) -> set[str]:
    """Which of `ids` the store holds, reading only the plaintext id column."""
    found: set[str] = set()
    for start in range(0, len(ids), _ID_CHUNK):
        chunk = ids[start:start + _ID_CHUNK]
        # Ids come from turn_id (hex only), so quoting them into the filter is safe.
        query = store.table.search().where(f"id IN ({', '.join(repr(i) for i in chunk)})").select(["id"])
        found.update(query.limit(None).to_arrow().column("id").to_pylist())
    return found
