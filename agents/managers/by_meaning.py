"""Managers whose memories are told apart by meaning: semantic facts, procedures, chat events.

Thresholds are on MiniLM cosine similarity. Below 0.82 the candidate is about
something else (ADD). Above it, it is about the same thing: when it contains
all of the known memory's words and more, it is the more complete version
(UPDATE); at 0.93 and above without new words, or in other words, it is
already known (NOOP, the new source is recorded); otherwise it adds to the
known memory (MERGE into its details).
"""
from __future__ import annotations

import re

from agents.managers.base import ADD, MERGE, NOOP, UPDATE, Batch, Candidate, Decision, MemoryManager, trust_name
from storage.blind_index import words
from storage.memory import Memory

SAME = 0.93
RELATED = 0.82
_MAX_DETAILS = 2000
_STEP_SPLIT = re.compile(r"(?:\n+|(?:^|\s)\d+[.)]\s+|;\s+|,?\s+then\s+|\s+and then\s+)", re.IGNORECASE)


class MeaningManager(MemoryManager):
    detail_field = "details"

    def decide(self, candidate: Candidate, batch: Batch) -> Decision:
        nearest = self._nearest(candidate, batch)
        if nearest is None or nearest[1] < RELATED:
            return self.add(candidate, candidate.why or "nothing similar known")
        memory, similarity = nearest
        old_words, new_words = set(words(memory.text)), set(words(candidate.text))
        if similarity >= SAME and new_words <= old_words:
            return self.noop(f"already known (similarity {similarity:.2f})", memory, candidate)
        if self.outranked(memory, candidate):
            return self.noop(f"a {trust_name(memory.trust)} memory says this; "
                             f"a {trust_name(candidate.trust)} source may not change it")
        if old_words <= new_words:
            self._supersede(memory, candidate)
            return self.change(UPDATE, memory, candidate, f"more complete version (similarity {similarity:.2f})")
        if similarity >= SAME:
            return self.noop(f"already known in other words (similarity {similarity:.2f})", memory, candidate)
        self._merge(memory, candidate)
        return self.change(MERGE, memory, candidate, f"adds to a related memory (similarity {similarity:.2f})")

    def _nearest(self, candidate: Candidate, batch: Batch) -> tuple[Memory, float] | None:
        # The batch's own additions first: exact repeats within a batch are common (a chat says it twice).
        for memory in batch.of_kind(self.kind):
            if " ".join(words(memory.text)) == " ".join(words(candidate.text)):
                return memory, 1.0
        found = self.store.similar(candidate.text, [self.kind], k=1)
        if not found:
            return None
        memory, similarity = found[0]
        return batch.current(memory), similarity

    def _supersede(self, memory: Memory, candidate: Candidate) -> None:
        memory.text = candidate.text
        memory.time = max(memory.time, candidate.time)

    def _merge(self, memory: Memory, candidate: Candidate) -> None:
        details = str(memory.fields.get(self.detail_field) or "")
        if candidate.text not in details:
            memory.fields[self.detail_field] = (details + "\n" + candidate.text).strip()[-_MAX_DETAILS:]


class SemanticManager(MeaningManager):
    kind, who = "semantic", "semantic-manager"


class EpisodicChatManager(MeaningManager):
    """Events told in conversation ("we went hiking last Sunday"); screen episodes are EpisodicManager's."""

    kind, who = "episodic", "episodic-manager"

    def _nearest(self, candidate: Candidate, batch: Batch) -> tuple[Memory, float] | None:
        found = super()._nearest(candidate, batch)
        # The same words on another day are another event ("went to the gym").
        if found and abs((found[0].time - candidate.time).total_seconds()) > 86_400:
            return None
        return found


class ProceduralManager(MeaningManager):
    kind, who = "procedural", "procedural-manager"
    detail_field = "steps"

    def add(self, candidate: Candidate, reason: str, **overrides: object) -> Decision:
        candidate.fields.setdefault("entry_type", "guide")
        candidate.fields.setdefault("steps", split_steps(candidate.text))
        return super().add(candidate, reason, **overrides)

    def _supersede(self, memory: Memory, candidate: Candidate) -> None:
        super()._supersede(memory, candidate)
        memory.fields["steps"] = split_steps(candidate.text)

    def _merge(self, memory: Memory, candidate: Candidate) -> None:
        steps = list(memory.fields.get("steps") or [])
        memory.fields["steps"] = steps + [s for s in split_steps(candidate.text) if s not in steps]


def split_steps(text: str) -> list[str]:
    """"First X, then Y; Z" -> [X, Y, Z]: a procedure reads as steps in the memory browser."""
    parts = [p.strip(" .,-•*\t") for p in _STEP_SPLIT.split(text)]
    steps = [p for p in parts if len(p) > 2]
    return steps or [text.strip()]


__all__ = ["ADD", "MERGE", "NOOP", "UPDATE", "SemanticManager", "EpisodicChatManager", "ProceduralManager",
           "split_steps"]
