"""Managers whose memories are told apart by a key, not by meaning: vault items and resources.

A card number, a passport number or a URL either is the one already known or
is not; similarity of wording says nothing about it (and a vault value is never
embedded, so it could not be compared by meaning anyway).
"""
from __future__ import annotations

import re

from agents.managers.base import UPDATE, Batch, Candidate, Decision, MemoryManager, Store, stable_id, trust_name
from agents.ownership import SEEN_ON_SCREEN, said_by, seen_on_screen, without_said_by
from storage.memory import Memory, utcnow

# Identifiers a person holds one of at a time: a new value replaces the old one.
SINGLE_VALUED = frozenset({"passport", "ssn", "national_id", "drivers_license", "tax_id", "home_address"})
_NOT_KEY = re.compile(r"[\s\-./()]+")


def vault_key(entry_type: str, value: str) -> str:
    """Formatting does not make a different number: "DE89 3704..." and "de8937..." are one IBAN."""
    return f"{entry_type}:{_NOT_KEY.sub('', value).lower()}"


class VaultManager(MemoryManager):
    kind, who = "vault", "vault-manager"

    def __init__(self, store: Store) -> None:
        super().__init__(store)
        self._known: list[Memory] | None = None

    def decide(self, candidate: Candidate, batch: Batch) -> Decision:
        """The same value is one item; a value of a single-valued type replaces its owner's old one.

        Items are the user's, someone else's, or seen on screen (agents/ownership.py): another speaker's
        line never changes the user's items, and never replaces the user's passport with theirs; a screen
        never replaces anything. A weaker source may add a candidate, never replace a stronger value."""
        entry_type = str(candidate.fields.get("entry_type", ""))
        key = vault_key(entry_type, candidate.secret or "")
        owner, from_screen = said_by(candidate.tags), seen_on_screen(candidate.tags)
        known = [batch.current(m) for m in self._vault()] + batch.of_kind("vault")
        same = [m for m in known if vault_key(str(m.fields.get("entry_type", "")), m.secret or "") == key]
        vouched = [m for m in same if not seen_on_screen(m.tags)]
        if vouched:
            return self._seen_again(vouched[0], candidate, owner, from_screen)
        if entry_type in SINGLE_VALUED and not from_screen:
            for memory in known:
                if memory.fields.get("entry_type") == entry_type and said_by(memory.tags) == owner \
                        and not seen_on_screen(memory.tags):
                    if self.outranked(memory, candidate):
                        return self.noop(f"a {trust_name(memory.trust)} {entry_type} is already known; "
                                         f"a {trust_name(candidate.trust)} source may not replace it")
                    memory.secret, memory.text, memory.time = candidate.secret, candidate.text, candidate.time
                    memory.trust = candidate.trust
                    # The history says that the value changed, never what it was.
                    return self.change(UPDATE, memory, candidate, f"new {entry_type} replaces the old value")
        if same:
            return self._seen_on_screen_before(same[0], candidate, owner, from_screen)
        return self.add(candidate, candidate.why or f"new {entry_type or 'item'}")

    def claim(self, source_ref: str, batch: Batch) -> list[Decision]:
        """Items filed from `source_ref` before it was known to be the user's line become the user's.

        Chat import masks and files secrets before the digester, which alone knows the user's names,
        has seen the line (WhatsApp says who wrote a line only by name)."""
        decisions = []
        for memory in {m.id: batch.current(m) for m in [*self._vault(), *batch.of_kind("vault")]}.values():
            if said_by(memory.tags) is not None and source_ref in memory.source_ids:
                decisions.append(self._make_users(memory, "said in the user's own line"))
        return decisions

    def _seen_again(self, memory: Memory, candidate: Candidate, owner: str | None, from_screen: bool) -> Decision:
        holder = said_by(memory.tags)
        if from_screen:
            # Sources are not joined: a screen showing a known value says nothing about it.
            return self.noop("already in the vault; a screen showing it changes nothing")
        if holder == owner:
            return self.noop("already in the vault", memory, candidate)
        if owner is None:  # the user gives a value someone else had given: it is the user's too
            memory.tags, memory.trust = without_said_by(memory.tags), max(memory.trust, candidate.trust)
            return self.change(UPDATE, memory, candidate, "the user gave the same value")
        if holder is None:
            # Sources are not joined: the user's item keeps pointing only at where the user gave it.
            return self.noop("the user's own value; someone else mentioning it changes nothing")
        return self.noop("already in the vault", memory, candidate)  # a later claim may find this line

    def _seen_on_screen_before(self, memory: Memory, candidate: Candidate, owner: str | None,
                               from_screen: bool) -> Decision:
        """A value only seen on screen so far: the user's own line confirms it, another speaker's makes it theirs."""
        if from_screen:
            return self.noop("seen on screen again", memory, candidate)
        memory.tags = [t for t in memory.tags if t != SEEN_ON_SCREEN] + list(candidate.tags)
        memory.trust, memory.text = max(memory.trust, candidate.trust), candidate.text
        whose = "the user's own line" if owner is None else f"{owner or 'someone else'}'s line"
        return self.change(UPDATE, memory, candidate, f"the value seen on screen is given in {whose}")

    def _make_users(self, memory: Memory, reason: str) -> Decision:
        memory.tags, memory.updated = without_said_by(memory.tags), utcnow()
        memory.note(self.who, f"{UPDATE}: {reason}")
        return Decision(UPDATE, self.kind, reason, memory)

    def _vault(self) -> list[Memory]:
        # The vault is small (hundreds of items): read it once per batch and compare exactly.
        if self._known is None:
            self._known = self.store.list_range(kinds=["vault"], limit=100_000)
        return self._known


class ResourceManager(MemoryManager):
    """One resource per file, link or document, however many screens showed it: its id is made from its key
    alone, so a sighting finds it by id (not by meaning, which loses it among look-alikes) and adds itself
    as a source."""

    kind, who = "resource", "resource-manager"

    def decide(self, candidate: Candidate, batch: Batch) -> Decision:
        key = _candidate_key(candidate)
        known_id = resource_id(key)
        memory = batch.changed.get(known_id) or self.store.get(known_id)
        if memory is not None:
            return self.noop("seen again", batch.current(memory), candidate)
        # Stored before ids were made from keys (one row per screen): the nearest with the same key.
        for memory, _ in self.store.similar(key, ["resource"], k=5):
            if resource_key(memory) == key:
                return self.noop("seen again", batch.current(memory), candidate)
        return self.add(candidate, candidate.why or "new resource", id=known_id)


def resource_id(key: str) -> str:
    return stable_id("resource", key)


def _candidate_key(candidate: Candidate) -> str:
    return _key(candidate.fields, candidate.app, candidate.key or candidate.text)


def resource_key(memory: Memory) -> str:
    """What makes two resources one: see `_key`."""
    return _key(memory.fields, memory.app, memory.text)


def _key(fields: dict[str, object], app: str, fallback: str) -> str:
    """A link or file is its URI; a document named by a window title is its name in that app."""
    uri = fields.get("uri")
    if uri:
        return str(uri)
    if fields.get("resource_type") == "document":
        return f"{app}\x1f{fields.get('title', '')}"
    return fallback
