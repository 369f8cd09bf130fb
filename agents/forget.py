"""Forgetting what the user asked to forget, and what the agents made only from it.

A memory names the screens and messages it came from (`source_ids`: "frame:<id>", "message:<id>").
Forgetting a screen or a stretch of time forgets them as sources too: a memory made only from them
goes, one with other sources keeps those and loses the forgotten ones, and core memory loses the facts
they gave. What the user wrote or edited themself (trust USER) stays, without the forgotten sources. A
memory made from memories that go, and an answer in Ask quoting them, are treated the same way.

The memories are dealt with before the sources are deleted: a crash in between leaves screens whose
memories are gone (the user wanted both gone), never memories pointing at screens that are not there.
"""
from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from agents.managers.core import render
from agents.managers.episodes import key_phrases
from storage.codec import to_us
from storage.memory import Memory, Trust, utcnow

log = logging.getLogger(__name__)
_NO_LIMIT = 10**9


@dataclass
class Forgotten:
    sources: int = 0      # screens, messages (and anything else) deleted as asked
    derived: int = 0      # memories deleted because everything they came from was forgotten
    trimmed: int = 0      # memories kept, minus the forgotten sources (or core facts)


def forget_range(store: Any, since: datetime, until: datetime, kinds: Sequence[str] | None = None) -> Forgotten:
    """Forget everything of `kinds` (all when None) that happened in [since, until), and what was made from it."""
    refs: set[str] = set()
    if not kinds or "frame" in kinds:
        refs.update(f"frame:{frame_id}" for frame_id, _, _ in store.frame_times(since, until))
    if not kinds or "message" in kinds:
        refs.update(f"message:{m.id}" for m in store.list_range(since, until, kinds=["message"], limit=_NO_LIMIT))
    report = forget_derived(store, refs, since)
    report.sources = store.delete_range(since, until, kinds)
    return report


def forget(store: Any, ids: Iterable[str]) -> Forgotten:
    """Forget these memories (a screen, a message, ...) and what was made from them."""
    memories = store.get_many(ids)
    if not memories:
        return Forgotten()
    report = forget_derived(store, {f"{m.kind}:{m.id}" for m in memories}, min(m.time for m in memories))
    report.sources = store.delete([m.id for m in memories])
    return report


def forget_derived(store: Any, refs: set[str], since: datetime) -> Forgotten:
    """Memories whose sources are among `refs` lose them; those left with none are deleted.

    Only memories written since `since` that name one of them are read (found by their blind source tags):
    a memory gets a source when it is written (added, or seen again, which also marks it updated), and a
    source is written before whatever is made from it."""
    if not refs:
        return Forgotten()
    seen: dict[str, Memory] = {}
    doomed: dict[str, Memory] = {}
    trimmed: dict[str, Memory] = {}
    gone = set(refs)
    while gone:
        next_gone: set[str] = set()
        # Found by their blind source tags; one already trimmed keeps its changes (the same object).
        for found in store.made_from(gone, since):
            memory = seen.setdefault(found.id, found)
            if memory.id in doomed or not gone.intersection(memory.source_refs()):
                continue  # a tag shared by chance, or a source already dropped
            if _without(memory, gone):
                if memory.kind == "episodic" and memory.source_kind == "screen":
                    _reshape_episode(store, memory)
                trimmed[memory.id] = memory
            else:
                doomed[memory.id] = memory
                trimmed.pop(memory.id, None)
                next_gone.add(f"{memory.kind}:{memory.id}")
        gone = next_gone
    if trimmed:
        store.save(list(trimmed.values()), replace_only=list(trimmed))
    if doomed:
        store.delete(list(doomed))
    # Counts only: what was forgotten must not reach the log.
    log.info("forgot %d source(s): %d memories made only from them deleted, %d kept without them",
             len(refs), len(doomed), len(trimmed))
    return Forgotten(derived=len(doomed), trimmed=len(trimmed))


def _reshape_episode(store: Any, episode: Memory) -> None:
    """An episode of screen activity spans, and sums up, only the screens it still has: the forgotten
    ones' time and words must not stay in it."""
    frames = store.get_many(ref.removeprefix("frame:") for ref in episode.source_ids if ref.startswith("frame:"))
    if frames:
        episode.time, episode.ended = min(f.time for f in frames), max(f.time for f in frames)
        episode.fields = {**episode.fields, "key_phrases": key_phrases(f.text for f in frames)}


def _without(memory: Memory, gone: set[str]) -> bool:
    """Drop the forgotten sources (and core facts) from `memory`; False when nothing should keep it."""
    before = len(memory.source_ids)
    memory.source_ids = [s for s in memory.source_ids if s not in gone]
    if memory.kind == "core":
        facts = memory.fields.get("facts") or []
        kept = [f for f in facts if f.get("source") not in gone or int(f.get("trust", 0)) >= Trust.USER]
        suggested = [f for f in memory.fields.get("suggestions") or [] if f.get("source") not in gone]
        memory.fields = {**memory.fields, "facts": kept, "suggestions": suggested}
        memory.text = render(kept)
    elif not memory.source_ids and memory.trust < Trust.USER:
        return False
    memory.updated = utcnow()
    memory.note("user", f"forgot {before - len(memory.source_ids)} source(s)")
    return True
