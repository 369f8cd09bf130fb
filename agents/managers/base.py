"""What every memory manager shares: candidates in, ADD / UPDATE / MERGE / NOOP out.

mem0's discipline: a candidate is never simply appended. The manager of its
type looks at the nearest memories of that type and decides
- ADD: nothing like it is known; a new memory (with a deterministic id, so a
  replayed batch rewrites the same record instead of adding a twin),
- UPDATE: it supersedes a known memory (newer value, more complete text),
- MERGE: it adds to a known memory (details, sources, a longer time span),
- NOOP: already known, or a lower-trust source contradicting a higher one.
Every change is noted in the memory's history with its reason. Trust orders
sources (user-stated > observed > inferred > imported): a candidate never
changes a memory that a more trusted source vouched for.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from storage.memory import Memory, Trust, utcnow

ADD, UPDATE, MERGE, NOOP = "ADD", "UPDATE", "MERGE", "NOOP"
# Sources kept per memory: the first ones and the latest ones, enough to open where it came from.
MAX_SOURCES = 24


@dataclass
class Candidate:
    kind: str
    text: str
    time: datetime
    trust: Trust
    source_kind: str
    source_ids: list[str]
    fields: dict[str, Any] = field(default_factory=dict)
    ended: datetime | None = None
    app: str = ""
    title: str = ""
    secret: str | None = None
    key: str = ""          # what makes two candidates "the same thing" (a URL, a vault value, a fact type)
    why: str = ""          # which extractor or route proposed it
    tags: list[str] = field(default_factory=list)  # vault: "said-by:<speaker>" when not the user's (ownership.py)


@dataclass
class Decision:
    action: str
    kind: str
    reason: str
    memory: Memory | None = None   # what to write (None for a NOOP that changes nothing)
    new: bool = False              # the memory is not stored yet (everything else only replaces)


class Store(Protocol):
    """The part of storage.store.MemoryStore the managers use (fakes in tests implement it too)."""

    def similar(self, text: str, kinds: Any, k: int = 5, min_similarity: float = 0.0) -> list[tuple[Memory, float]]: ...

    def get(self, memory_id: str) -> Memory | None: ...

    def list_range(self, since: datetime | None = None, until: datetime | None = None, kinds: Any = None,
                   limit: int = 1000, where: str | None = None) -> list[Memory]: ...


class Batch:
    """What one batch has decided so far: later candidates see earlier decisions before they are stored."""

    def __init__(self) -> None:
        self.changed: dict[str, Memory] = {}
        self.decisions: list[Decision] = []

    def record(self, decision: Decision) -> Decision:
        self.decisions.append(decision)
        if decision.memory is not None:
            self.changed[decision.memory.id] = decision.memory
        return decision

    def of_kind(self, kind: str) -> list[Memory]:
        return [m for m in self.changed.values() if m.kind == kind]

    def current(self, memory: Memory) -> Memory:
        """The batch's newer copy of a stored memory, if it changed it already."""
        return self.changed.get(memory.id, memory)


class MemoryManager:
    kind = ""
    who = ""

    def __init__(self, store: Store) -> None:
        self.store = store

    def decide(self, candidate: Candidate, batch: Batch) -> Decision:
        raise NotImplementedError

    # shared moves

    def add(self, candidate: Candidate, reason: str, **overrides: Any) -> Decision:
        memory = Memory(kind=self.kind, text=candidate.text, fields=dict(candidate.fields),
                        id=stable_id(self.kind, candidate.key or candidate.text, *candidate.source_ids[:1]),
                        time=candidate.time, ended=candidate.ended, app=candidate.app, title=candidate.title,
                        trust=candidate.trust, source_kind=candidate.source_kind,
                        source_ids=list(candidate.source_ids)[:MAX_SOURCES], secret=candidate.secret,
                        tags=list(candidate.tags))
        for name, value in overrides.items():
            setattr(memory, name, value)
        memory.note(self.who, f"{ADD}: {reason}")
        return Decision(ADD, self.kind, reason, memory, new=True)

    def change(self, action: str, memory: Memory, candidate: Candidate, reason: str) -> Decision:
        """UPDATE or MERGE an existing memory (already modified by the caller); sources joined, noted."""
        memory.source_ids = join_sources(memory.source_ids, candidate.source_ids)
        memory.updated = utcnow()
        memory.note(self.who, f"{action}: {reason}")
        return Decision(action, self.kind, reason, memory)

    def noop(self, reason: str, seen_again: Memory | None = None, candidate: Candidate | None = None) -> Decision:
        """Nothing new; when it was seen again from a new source, that source is recorded (no history entry)."""
        if seen_again is not None and candidate is not None:
            joined = join_sources(seen_again.source_ids, candidate.source_ids)
            if joined != seen_again.source_ids:
                # Updated: a new source is a change (forgetting that source finds the memory by this time).
                seen_again.source_ids, seen_again.updated = joined, utcnow()
                return Decision(NOOP, self.kind, reason, seen_again)
        return Decision(NOOP, self.kind, reason)

    def outranked(self, existing: Memory, candidate: Candidate) -> bool:
        return candidate.trust < existing.trust


def stable_id(*parts: str) -> str:
    """The same candidate from the same source always gets the same id (replays stay idempotent)."""
    return hashlib.sha256("\x1f".join(parts).encode("utf-8")).hexdigest()[:32]


def join_sources(old: list[str], new: list[str]) -> list[str]:
    joined = list(dict.fromkeys([*old, *new]))
    if len(joined) <= MAX_SOURCES:
        return joined
    keep = MAX_SOURCES // 2
    return joined[:keep] + joined[-(MAX_SOURCES - keep):]


def trust_name(trust: Trust) -> str:
    return Trust(trust).name.lower()
