"""Managers whose memories are told apart by a key, not by meaning: vault items and resources.

A card number, a passport number or a URL either is the one already known or
is not; similarity of wording says nothing about it (and a vault value is never
embedded, so it could not be compared by meaning anyway).
"""
from __future__ import annotations

import re

from agents.managers.base import UPDATE, Batch, Candidate, Decision, MemoryManager, Store, trust_name
from storage.memory import Memory

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
        entry_type = str(candidate.fields.get("entry_type", ""))
        key = vault_key(entry_type, candidate.secret or "")
        known = [batch.current(m) for m in self._vault()] + batch.of_kind("vault")
        for memory in known:
            if vault_key(str(memory.fields.get("entry_type", "")), memory.secret or "") == key:
                return self.noop("already in the vault", memory, candidate)
        if entry_type in SINGLE_VALUED:
            for memory in known:
                if memory.fields.get("entry_type") == entry_type:
                    if self.outranked(memory, candidate):
                        return self.noop(f"a {trust_name(memory.trust)} {entry_type} is already known; "
                                         f"a {trust_name(candidate.trust)} source may not replace it")
                    memory.secret, memory.text, memory.time = candidate.secret, candidate.text, candidate.time
                    memory.trust = candidate.trust
                    # The history says that the value changed, never what it was.
                    return self.change(UPDATE, memory, candidate, f"new {entry_type} replaces the old value")
        return self.add(candidate, candidate.why or f"new {entry_type or 'item'}")

    def _vault(self) -> list[Memory]:
        # The vault is small (hundreds of items): read it once per batch and compare exactly.
        if self._known is None:
            self._known = self.store.list_range(kinds=["vault"], limit=100_000)
        return self._known


class ResourceManager(MemoryManager):
    kind, who = "resource", "resource-manager"

    def decide(self, candidate: Candidate, batch: Batch) -> Decision:
        key = candidate.key or candidate.text
        for memory in batch.of_kind("resource"):
            if _resource_key(memory) == key:
                return self.noop("already known", memory, candidate)
        for memory, _ in self.store.similar(key, ["resource"], k=5):
            if _resource_key(memory) == key:
                memory = batch.current(memory)
                return self.noop("seen again", memory, candidate)
        return self.add(candidate, candidate.why or "new resource")


def _resource_key(memory: Memory) -> str:
    uri = memory.fields.get("uri")
    return str(uri) if uri else memory.text
