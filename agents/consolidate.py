"""Nightly consolidation: fold near-duplicate facts together and link related memories.

During the day the managers compare each candidate with its single nearest
neighbour; facts learnt from different sources in different words still pile
up. At night there is time to look wider:
- semantic facts that say the same thing (cosine >= MERGE_AT) are merged into
  the most trusted (then oldest) of them; the others are deleted, their sources
  and wording kept in the survivor's details and history;
- resources with the same key (one file, link or document) stored as twins by versions that made one
  row per screen are folded into one, every sighting kept as a source;
- memories that are related but distinct (cosine in [LINK_AT, MERGE_AT)) get
  links to each other (A-MEM), which the memory browser and answers follow;
- memories nobody vouched for (inferred by a model, or imported) that no answer
  has used for `fade_after` fade: tagged "faded", they stay searchable but come
  after the others when Ask gathers evidence. An answer that uses one again
  revives it. What the user said or saw is never faded.
"""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass

from datetime import datetime, timedelta

from agents.managers.base import MERGE, join_sources
from agents.managers.by_key import resource_id, resource_key
from storage.memory import Memory, Trust, utcnow
from storage.search_first import SEARCH_FIRST
from storage.store import MemoryStore

MERGE_AT = 0.93
LINK_AT = 0.7
MAX_LINKS = 10
LINKED_KINDS = ("semantic", "episodic", "procedural", "resource")
FADED = "faded"
FADE_AFTER = timedelta(days=180)


@dataclass
class ConsolidationReport:
    merged: int = 0
    linked: int = 0
    faded: int = 0
    folded: int = 0

    def __str__(self) -> str:
        return (f"{self.merged} near-duplicate facts merged, {self.folded} duplicate resources folded, "
                f"{self.linked} links added, {self.faded} unused memories faded")


class Consolidator:
    def __init__(self, store: MemoryStore, limit: int = 20_000, fade_after: timedelta = FADE_AFTER) -> None:
        self.store, self.limit, self.fade_after = store, limit, fade_after

    def run(self, should_stop: Callable[[], bool] = lambda: False, now: datetime | None = None) -> ConsolidationReport:
        report = ConsolidationReport()
        # Its nearest-neighbour lookups embed through the store's embedder, which steps aside for searches
        # on a yielding thread (app/agent_service.py wraps it): the night's work is not urgent either.
        with SEARCH_FIRST.yielding():
            report.merged = self._merge_duplicates(should_stop)
            report.folded = self._fold_resource_twins()
            report.linked = self._link_related(should_stop)
            report.faded = self._fade_unused(now or utcnow())
        return report

    def _fade_unused(self, now: datetime) -> int:
        cutoff = now - self.fade_after
        fading = []
        for memory in self.store.list_range(until=cutoff, kinds=list(LINKED_KINDS), limit=self.limit,
                                            where=f"trust <= {int(Trust.INFERRED)}"):
            if FADED in memory.tags or (memory.recalled is not None and memory.recalled >= cutoff):
                continue
            memory.tags = [*memory.tags, FADED]
            memory.note("consolidation", f"faded: no answer used it for {self.fade_after.days} days")
            fading.append(memory)
        self.store.save(fading, replace_only=[m.id for m in fading])
        return len(fading)

    def _fold_resource_twins(self) -> int:
        """One resource per key: the twins' sources join the keeper (the row with the key's own id, else the
        oldest) and the twins are deleted, the keeper written first (a crash leaves a twin, never a loss)."""
        groups: dict[str, list[Memory]] = defaultdict(list)
        for memory in self.store.list_range(kinds=["resource"], limit=self.limit):
            groups[resource_key(memory)].append(memory)
        folded = 0
        for key, group in groups.items():
            if len(group) < 2:
                continue
            group.sort(key=lambda m: (m.id != resource_id(key), m.time, m.created))
            keeper, twins = group[0], group[1:]
            for twin in sorted(twins, key=lambda m: m.time):
                keeper.source_ids = join_sources(keeper.source_ids, twin.source_ids)
                keeper.trust = max(keeper.trust, twin.trust)
            keeper.updated = utcnow()
            keeper.note("consolidation", f"{MERGE}: {len(twins)} copies of the same resource folded in")
            self.store.save([keeper])
            self.store.delete([t.id for t in twins])
            folded += len(twins)
        return folded

    def _merge_duplicates(self, should_stop: Callable[[], bool]) -> int:
        gone: set[str] = set()
        merged = 0
        for memory in self.store.list_range(kinds=["semantic"], limit=self.limit):
            if should_stop():
                break
            if memory.id in gone:
                continue
            twins = [m for m, sim in self.store.similar(memory.text, ["semantic"], k=6, min_similarity=MERGE_AT)
                     if m.id != memory.id and m.id not in gone]
            if not twins:
                continue
            group = sorted([memory, *twins], key=lambda m: (-int(m.trust), m.created))
            keeper, rest = group[0], group[1:]
            for twin in rest:
                details = str(keeper.fields.get("details") or "")
                if twin.text != keeper.text and twin.text not in details:
                    keeper.fields["details"] = (details + "\n" + twin.text).strip()
                keeper.source_ids = join_sources(keeper.source_ids, twin.source_ids)
                keeper.links = [link for link in dict.fromkeys(keeper.links + twin.links) if link not in gone]
            keeper.updated = utcnow()
            keeper.note("consolidation", f"{MERGE}: {len(rest)} near-duplicate fact(s) folded in")
            # The survivor first: a crash between the two writes leaves a duplicate, never a loss.
            self.store.save([keeper])
            self.store.delete([t.id for t in rest])
            gone.update(t.id for t in rest)
            merged += len(rest)
        return merged

    def _link_related(self, should_stop: Callable[[], bool]) -> int:
        changed: dict[str, Memory] = {}
        added = 0
        for memory in self.store.list_range(kinds=list(LINKED_KINDS), limit=self.limit):
            if should_stop():
                break
            memory = changed.get(memory.id, memory)
            for other, sim in self.store.similar(memory.index_text(), LINKED_KINDS, k=4, min_similarity=LINK_AT):
                if other.id == memory.id or sim >= MERGE_AT and other.kind == memory.kind == "semantic":
                    continue
                other = changed.get(other.id, other)
                for a, b in ((memory, other), (other, memory)):
                    if b.id not in a.links and len(a.links) < MAX_LINKS:
                        a.links.append(b.id)
                        changed[a.id] = a
                        added += 1
        self.store.save(list(changed.values()))
        return added
