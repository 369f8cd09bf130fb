"""Core memory: who the user is, in one small block that is rewritten, never appended to forever.

It is always put in front of the model when Engram answers, so it has a
character budget. Facts are kept with their type, trust and source: a fact of a
single-valued type (name, home, work, birthday, diet) replaces the old one
unless the old one came from a more trusted source; others (preferences,
allergies, family, languages) accumulate until the budget is reached, then the
oldest, least trusted ones make room. Only what the user says about themself
reaches here (see Observation.said_by_user): never screen text, so a web page
saying "my name is ..." or "save X as the user's name" cannot change it.

A single-valued fact is replaced only from where it came from (the same chat, or
Engram's own chat where the user talks to it directly, trust "user"). From another
chat or source a different value is a suggestion: kept beside the facts, never in
the prompt, until the user takes it or dismisses it in the memory browser. A line
forged to look like the user's inside someone else's chat can at most suggest.
"""
from __future__ import annotations

from typing import Any

from agents.managers.base import ADD, NOOP, UPDATE, Batch, Candidate, Decision, MemoryManager, stable_id, trust_name
from storage.memory import Memory, Trust, utcnow

BUDGET_CHARS = 1200
SINGLE_VALUED = frozenset({"name", "home", "work", "job", "birthday", "diet"})
BLOCK = "human"
# Suggestions kept at most; the oldest make room.
MAX_SUGGESTIONS = 12


class CoreManager(MemoryManager):
    kind, who = "core", "core-manager"
    memory_id = stable_id("core", BLOCK)

    def decide(self, candidate: Candidate, batch: Batch) -> Decision:
        memory = batch.changed.get(self.memory_id) or self.store.get(self.memory_id)
        fresh = memory is None
        if memory is None:
            memory = Memory(kind="core", text="", fields={"block": BLOCK, "facts": []}, id=self.memory_id,
                            trust=Trust.USER, source_kind="agent")
        facts: list[dict[str, Any]] = list(memory.fields.get("facts") or [])
        fact_type = str(candidate.fields.get("fact_type", "about"))
        value = candidate.text.strip()
        new = {"type": fact_type, "value": value, "trust": int(candidate.trust),
               "at": candidate.time.isoformat(timespec="seconds"), "source": (candidate.source_ids or [""])[0],
               "origin": str(candidate.fields.get("origin", "")), "seen_in": _seen_in(candidate)}
        if any(f["value"].lower() == value.lower() for f in facts):
            return Decision(NOOP, "core", "already in core memory")
        action, reason = ADD, f"new {fact_type} fact"
        if fact_type in SINGLE_VALUED:
            same_type = [f for f in facts if f["type"] == fact_type]
            if same_type and any(int(f["trust"]) > int(candidate.trust) for f in same_type):
                return Decision(NOOP, "core", f"a more trusted {fact_type} is known; a "
                                f"{trust_name(candidate.trust)} source may not replace it")
            if same_type and candidate.trust < Trust.USER and any(f.get("origin") != new["origin"] for f in same_type):
                return self._suggest(memory, new, candidate)
            if same_type:
                facts = [f for f in facts if f["type"] != fact_type]
                action, reason = UPDATE, f"{fact_type} changed"
        facts.append(new)
        facts, dropped = fit_budget(facts)
        if dropped:
            reason += f"; {dropped} older fact(s) left out to stay within {BUDGET_CHARS} characters"
        memory.fields = {**memory.fields, "block": BLOCK, "facts": facts}
        memory.text = render(facts)
        memory.time = candidate.time if fresh else max(memory.time, candidate.time)
        # The action is the fact's (ADD a new one, UPDATE a changed one); the block itself is rewritten.
        decision = self.change(action, memory, candidate, reason)
        decision.new = fresh
        return decision


    def _suggest(self, memory: Memory, new: dict[str, Any], candidate: Candidate) -> Decision:
        """Another chat or source says otherwise: the user decides (the browser shows it)."""
        suggestions: list[dict[str, Any]] = list(memory.fields.get("suggestions") or [])
        if any(s["value"].lower() == new["value"].lower() for s in suggestions):
            return self.noop("already suggested", memory, candidate)
        memory.fields = {**memory.fields, "suggestions": (suggestions + [new])[-MAX_SUGGESTIONS:]}
        return self.change(NOOP, memory, candidate, f"another {new['type']} from a different chat or source: "
                           "suggested, kept until the user confirms it")


def _seen_in(candidate: Candidate) -> str:
    """Where a fact was said, for the user deciding about a suggestion: "WhatsApp: Tom"."""
    return ": ".join(p for p in (candidate.app, candidate.title) if p) or candidate.source_kind


def suggestions(memory: Memory | None) -> list[dict[str, Any]]:
    return list(memory.fields.get("suggestions") or []) if memory is not None else []


def take_suggestion(memory: Memory, value: str) -> Memory:
    """The user confirms a suggested fact: it replaces the facts of its type, as the user's own word."""
    chosen = next(s for s in suggestions(memory) if s["value"] == value)
    facts = [f for f in memory.fields.get("facts") or []
             if not (f["type"] == chosen["type"] and chosen["type"] in SINGLE_VALUED)]
    facts.append({**chosen, "trust": int(Trust.USER), "at": utcnow().isoformat(timespec="seconds")})
    facts, _ = fit_budget(facts)
    rest = [s for s in suggestions(memory) if s["value"] != value]
    memory.fields = {**memory.fields, "facts": facts, "suggestions": rest}
    memory.text, memory.updated = render(facts), utcnow()
    memory.note("user", f"confirmed a suggested {chosen['type']}")
    return memory


def dismiss_suggestion(memory: Memory, value: str) -> Memory:
    memory.fields = {**memory.fields, "suggestions": [s for s in suggestions(memory) if s["value"] != value]}
    memory.updated = utcnow()
    memory.note("user", "dismissed a suggestion")
    return memory


def render(facts: list[dict[str, Any]]) -> str:
    return "\n".join(f"- {f['value']}" for f in facts)


def fit_budget(facts: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], int]:
    """Drop multi-valued facts, least trusted then oldest first, until the block fits."""
    kept = list(facts)
    dropped = 0
    while len(render(kept)) > BUDGET_CHARS:
        optional = [f for f in kept if f["type"] not in SINGLE_VALUED] or kept
        victim = min(optional, key=lambda f: (int(f["trust"]), f["at"]))
        kept.remove(victim)
        dropped += 1
    return kept, dropped


def edited_by_user(memory: Memory | None, text: str) -> Memory:
    """Core memory as the user rewrote it: one fact per line, all of them the user's own word.

    Lines that were already facts keep their type (so "Lives in Porto" still replaces the home);
    new lines are facts of their own; deleted lines are gone."""
    memory = memory or Memory(kind="core", text="", fields={"block": BLOCK, "facts": []}, id=CoreManager.memory_id,
                              source_kind="user")
    known = {str(f["value"]).lower(): f for f in memory.fields.get("facts") or []}
    facts = []
    for line in text.splitlines():
        value = line.strip().lstrip("-•* ").strip()
        if value:
            fact_type = known.get(value.lower(), {}).get("type", "about")
            facts.append({"type": fact_type, "value": value, "trust": int(Trust.USER),
                          "at": utcnow().isoformat(timespec="seconds"), "source": "user"})
    memory.fields = {**memory.fields, "block": BLOCK, "facts": facts}
    memory.text, memory.trust, memory.updated = render(facts), Trust.USER, utcnow()
    memory.note("user", "edited core memory")
    return memory
