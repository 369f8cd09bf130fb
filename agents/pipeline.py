"""The digester: takes frames and messages the agents have not seen yet, batch by batch.

The scheduler calls `run_once` on a timer (app/agent_service.py); `engram import`
and `engram digest` call `run` to clear the backlog with progress. A batch's
memories and its masked observations are written in one commit, then the batch
is marked as taken in; a crash between the two replays the batch, and because
every new memory has an id derived from its source, the replay rewrites the
same records instead of adding twins. Nothing is lost and nothing repeats.

Digestion is never urgent: `run` marks its thread as one that gives way to searches
(storage/search_first.py), and steps aside between batches and before each write.
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from agents.meta import BatchReport, MetaMemoryManager
from storage.memory import utcnow
from storage.search_first import SEARCH_FIRST, SearchFirst
from storage.store import MemoryStore

log = logging.getLogger(__name__)

BATCH = 64


@dataclass
class DigestSummary:
    observations: int = 0
    batches: int = 0
    counts: dict[str, int] = field(default_factory=dict)
    sources: dict[str, int] = field(default_factory=dict)     # "frame"/"message" -> how many

    def add(self, report: BatchReport) -> None:
        self.observations += report.observations
        for kind, n in report.sources.items():
            self.sources[kind] = self.sources.get(kind, 0) + n
        self.batches += 1
        for key, n in report.counts().items():
            self.counts[key] = self.counts.get(key, 0) + n

    def describe_sources(self) -> str:
        parts = [f"{n:,} new {kind}{'' if n == 1 else 's'}" for kind, n in sorted(self.sources.items())]
        return " and ".join(parts) or "nothing"

    def made(self, kind: str) -> int:
        return sum(n for key, n in self.counts.items() if key.startswith(kind + " ") and not key.endswith("NOOP"))


class Digester:
    def __init__(self, store: MemoryStore, meta: MetaMemoryManager, batch: int = BATCH,
                 search_first: SearchFirst = SEARCH_FIRST) -> None:
        self.store, self.meta, self.batch = store, meta, batch
        self.search_first = search_first

    def backlog(self) -> int:
        return self.store.count_undigested()

    def run_once(self) -> BatchReport | None:
        """Digest one batch, oldest first; None when there is nothing to do."""
        memories = self.store.undigested(limit=self.batch)
        if not memories:
            return None
        report, to_write = self.meta.digest(memories)
        now = utcnow()
        written = {m.id for m in to_write}
        for memory in memories:
            if memory.id in written:
                memory.digested = now   # masked observations are marked in the same commit
        # Observations and known memories are only replaced, never brought back if deleted meanwhile.
        new = {d.memory.id for d in report.decisions if d.new and d.memory is not None}
        self.search_first.step_aside()  # a commit and the index upkeep after it cost the cores too
        with self.search_first.holding_on():  # the writer lock: capture's writes would wait with us
            self.store.save(to_write, replace_only=[m.id for m in to_write if m.id not in new])
            self.store.mark_digested([m.id for m in memories if m.id not in written])
        if report.masked:
            # An observation stored before its secrets were masked (a store from before every path masked):
            # its old row, and the keyword index's word list, hold their blind tokens until rebuilt and gone.
            self.store.purge(reindex_words=True)
        log.info("digested %d observations: %s", report.observations, report.counts())
        return report

    def run(self, progress: Callable[[int, int], None] | None = None,
            should_stop: Callable[[], bool] = lambda: False) -> DigestSummary:
        """Clear the backlog (or stop between batches when asked), giving way to searches."""
        summary = DigestSummary()
        total = self.backlog()
        with self.search_first.yielding():
            while not should_stop():
                self.search_first.step_aside()
                report = self.run_once()
                if report is None:
                    break
                summary.add(report)
                if progress:
                    progress(summary.observations, max(total, summary.observations))
        return summary
