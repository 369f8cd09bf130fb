"""Secrets leave observations before anything else sees them.

Run where text enters Engram (the OCR worker, chat import, the digester for
anything that slipped past): sensitive values found in a frame's or a message's
text (card numbers, passwords, ID numbers, keys) become vault candidates and
are masked in the text and in the frame's word boxes, so they are never
indexed, embedded, shown in search or put in a prompt. Identifiers that are
not secret (e-mail, phone, address) go to the vault too but stay readable.

Only the user's own lines file items as the user's: what another speaker
writes is about them (agents/ownership.py). Their secrets are masked all the
same and kept sealed in the vault, tagged with who said it, so autofill never
offers them; their e-mails, phones and addresses become resources that say who
mentioned them. What a screen shows is filed as "seen on screen", with its
window, and an address on screen only when its label says it is the user's.
"""
from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from agents.extract_vault import find_vault_items, labelled_as_the_users
from agents.findings import Finding
from agents.managers.base import Batch, Candidate, Store
from agents.managers.by_key import VaultManager, vault_key
from agents.observation import Observation
from agents.ownership import SEEN_CAPTION, SEEN_ON_SCREEN, said_by_tag
from agents.redaction import mask
from storage.memory import KINDS, Memory, Trust


def keep_secrets(store: Store, memories: Sequence[Memory]) -> list[Memory]:
    """Mask the memories' secrets and file them in the vault, before the memories are first stored.

    Returns everything to write in one commit: the (masked) memories and the vault's changes."""
    batch, vault = Batch(), VaultManager(store)
    for memory in memories:
        for candidate in take_secrets(memory)[1]:
            # Other people's mentions stay readable in the text; the digester makes them resources.
            if candidate.kind == "vault":
                batch.record(vault.decide(candidate, batch))
    return [*memories, *batch.changed.values()]


def take_secrets(memory: Memory, user_names: frozenset[str] = frozenset()) -> tuple[bool, list[Candidate]]:
    """Mask `memory`'s sensitive values in place; return whether it changed and its candidates:
    vault items, and resources for what someone other than the user mentioned.

    Without `user_names` (at import) a line the export does not mark as the user's counts as someone
    else's; the digester, which knows the names, claims its items for the user (VaultManager.claim)."""
    findings = find_vault_items(memory.text)
    in_fields = _mask_indexed_fields(memory) + _mask_title(memory)
    if not findings and not in_fields:
        return False, []
    masked = mask(memory.text, findings)
    changed = masked != memory.text or bool(in_fields)
    memory.text = masked
    findings += in_fields
    boxes = memory.fields.get("boxes")
    if changed and boxes:
        memory.fields["boxes"] = mask_boxes(boxes, [f for f in findings if f.sensitive])
    source = f"{memory.kind}:{memory.id}"
    other = _other_speaker(memory, user_names)
    if memory.kind == "vault":
        # A secret typed into an entry's caption: masked there, and an entry of its own unless it is this one's value.
        own = _compact(memory.secret or "")
        return changed, [vault_candidate(f, memory, source) for f in findings if f.sensitive and _compact(f.value) != own]
    if memory.kind == "frame":
        # Masked above all the same; an address is filed only when its label says whose it is.
        return changed, [vault_candidate(f, memory, source) for f in findings
                         if f.sensitive or "address" not in f.entry_type or labelled_as_the_users(memory.text, f)]
    if other is None:
        return changed, [vault_candidate(f, memory, source) for f in findings]
    # A secret of someone else's still must not be lost or stored readable: a resource is indexed and shown,
    # and dropping it would lose the friend's IBAN the user may need again. The vault keeps it sealed and
    # unindexed; the said-by tag keeps it out of autofill and out of the user's single-valued items.
    return changed, [vault_candidate(f, memory, source, said_by=other) if f.sensitive
                     else mention_candidate(f, memory, source, other) for f in findings]


def _mask_title(memory: Memory) -> list[Finding]:
    """Mask the secrets in the window title ("password: ... - Mozilla Firefox"): sealed and not indexed itself, but
    shown, and the episode made from the screen is named after its window."""
    sensitive = [f for f in find_vault_items(memory.title) if f.sensitive] if memory.title else []
    if sensitive:
        memory.title = mask(memory.title, sensitive)
    return sensitive


def _compact(value: str) -> str:
    return re.sub(r"[\s-]", "", value).casefold()


def _mask_indexed_fields(memory: Memory) -> list[Finding]:
    """Mask the secrets in the fields search indexes besides the text (a note's details, a link's content, a
    how-to's steps, a screen's address: `engram add --field` and JSON take them as given); returns what was
    found. Only the sensitive items: an e-mail or phone in such a field is no secret and stays as written."""
    found: list[Finding] = []

    def masked(value: Any, depth: int = 0) -> Any:
        if isinstance(value, str):
            sensitive = [f for f in find_vault_items(value) if f.sensitive]
            found.extend(sensitive)
            return mask(value, sensitive) if sensitive else value
        if depth > _MAX_FIELD_DEPTH:
            return value
        if isinstance(value, list):
            return [masked(v, depth + 1) for v in value]
        if isinstance(value, dict):
            return {k: masked(v, depth + 1) for k, v in value.items()}
        return value

    for name in KINDS[memory.kind].searchable:
        if name in memory.fields:
            memory.fields[name] = masked(memory.fields[name])
    return found


_MAX_FIELD_DEPTH = 16


def _other_speaker(memory: Memory, user_names: frozenset[str]) -> str | None:
    """Who wrote a message that is not the user's; None for the user's lines and for screens."""
    if memory.kind != "message" or Observation.of(memory).said_by_user(user_names):
        return None
    return str(memory.fields.get("speaker") or "")


def vault_candidate(finding: Finding, memory: Memory, source: str, said_by: str | None = None) -> Candidate:
    """`said_by`: the speaker, when the value came from someone other than the user. A frame's items are
    "seen on screen" and at most observed, however the frame was stored (`engram add frame` trusts it as
    the user's own entry): only the user's confirmation makes them the user's (agents/ownership.py)."""
    trust, tags = memory.trust, [] if said_by is None else [said_by_tag(said_by)]
    caption = finding.caption or finding.entry_type
    whose = "" if said_by is None else f" said by {said_by or 'someone else'}"
    if memory.kind == "frame":
        trust, tags = min(memory.trust, Trust.OBSERVED), [SEEN_ON_SCREEN]
        caption += SEEN_CAPTION  # shown wherever the item is listed; the window is its app and title
        whose = f" seen on screen in {memory.title or memory.app or 'a window'}"
    return Candidate(kind="vault", text=caption, time=memory.time, trust=trust,
                     source_kind=memory.source_kind or memory.kind, source_ids=[source], app=memory.app,
                     title=memory.title, secret=finding.value,
                     fields={"entry_type": finding.entry_type, "sensitivity": "high" if finding.sensitive else "low"},
                     key=vault_key(finding.entry_type, finding.value), why=f"found a {finding.entry_type}{whose}",
                     tags=tags)


_URI_SCHEMES = {"email": "mailto:", "phone": "tel:"}


def mention_candidate(finding: Finding, memory: Memory, source: str, speaker: str) -> Candidate:
    """Someone else's e-mail, phone or address: a resource about them, saying who mentioned it."""
    scheme = _URI_SCHEMES.get(finding.entry_type)
    value = re.sub(r"[^\d+]", "", finding.value) if scheme == "tel:" else finding.value
    uri = scheme + value if scheme else ""
    fields = {"resource_type": finding.entry_type, "title": finding.value, **({"uri": uri} if uri else {})}
    who = speaker or "someone else"
    text = f"{finding.caption or finding.entry_type}: {finding.value}, mentioned by {who}"
    return Candidate(kind="resource", text=text, time=memory.time, trust=memory.trust,
                     source_kind=memory.source_kind or memory.kind, source_ids=[source], app=memory.app, title=memory.title, fields=fields, key=uri,
                     why=f"{who} mentioned a {finding.entry_type}")


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
