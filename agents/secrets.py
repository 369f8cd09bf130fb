"""Secrets leave observations before anything else sees them.

Run where text enters Engram (the OCR worker, chat import, the digester for
anything that slipped past): sensitive values found in a frame's or a message's
text (card numbers, passwords, ID numbers, keys) become vault candidates and
are masked in the text and in the frame's word boxes, so they are never
indexed, embedded, shown in search or put in a prompt. Identifiers that are
not secret (e-mail, phone, address) go to the vault too but stay readable.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from agents.extract_vault import find_vault_items
from agents.findings import Finding
from agents.managers.base import Batch, Candidate, Store
from agents.managers.by_key import VaultManager, vault_key
from agents.redaction import mask
from storage.memory import Memory


def keep_secrets(store: Store, memories: Sequence[Memory]) -> list[Memory]:
    """Mask the memories' secrets and file them in the vault, before the memories are first stored.

    Returns everything to write in one commit: the (masked) memories and the vault's changes."""
    batch, vault = Batch(), VaultManager(store)
    for memory in memories:
        for candidate in take_secrets(memory)[1]:
            batch.record(vault.decide(candidate, batch))
    return [*memories, *batch.changed.values()]


def take_secrets(memory: Memory) -> tuple[bool, list[Candidate]]:
    """Mask `memory`'s sensitive values in place; return whether it changed and its vault candidates."""
    findings = find_vault_items(memory.text)
    if not findings:
        return False, []
    masked = mask(memory.text, findings)
    changed = masked != memory.text
    memory.text = masked
    boxes = memory.fields.get("boxes")
    if changed and boxes:
        memory.fields["boxes"] = mask_boxes(boxes, [f for f in findings if f.sensitive])
    source = f"{memory.kind}:{memory.id}"
    return changed, [vault_candidate(f, memory, source) for f in findings]


def vault_candidate(finding: Finding, memory: Memory, source: str) -> Candidate:
    return Candidate(kind="vault", text=finding.caption or finding.entry_type, time=memory.time, trust=memory.trust,
                     source_kind=memory.source_kind or memory.kind, source_ids=[source], app=memory.app,
                     title=memory.title, secret=finding.value,
                     fields={"entry_type": finding.entry_type, "sensitivity": "high" if finding.sensitive else "low"},
                     key=vault_key(finding.entry_type, finding.value), why=f"found a {finding.entry_type}")


def mask_boxes(boxes: Sequence[Any], sensitive: Sequence[Finding]) -> list[Any]:
    """A word box holding (part of) a secret keeps its place on the image but loses its text."""
    values = [f.value for f in sensitive]
    out = []
    for box in boxes:
        text = str(box[0])
        own = find_vault_items(text)
        hidden = mask(text, own) if any(f.sensitive for f in own) else text
        if any(v in text or (len(text) >= 4 and text in v) for v in values):
            hidden = "[hidden]"
        out.append([hidden, *box[1:]])
    return out
