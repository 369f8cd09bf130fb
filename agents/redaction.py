"""Masking secrets in text before it is stored anywhere but the vault.

OCR text and chat messages are kept, embedded and shown in search results;
the secrets in them must not be. `mask` replaces the span of every sensitive
finding with a placeholder that says what was there ("[password]") but not
what it was. Cards, IBANs and account numbers keep their last four
characters ("[card •••• 4242]") so the user can still tell them apart, and
only when there are at least eight, so the tail never gives most of it away.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from agents.extract_vault import find_vault_items
from agents.findings import Finding

__all__ = ["mask", "redact", "placeholder"]

_LABELS = {
    "password": "password", "pin": "PIN", "otp": "one-time code", "card_security_code": "card security code",
    "api_key": "API key", "token": "access token", "private_key": "private key", "passport": "passport number",
    "ssn": "SSN", "national_id": "national ID", "health_id": "health insurance number",
    "drivers_license": "driver's licence number", "tax_id": "tax ID", "account_number": "account number",
    "card": "card", "iban": "IBAN",
}
_SHOWS_LAST_FOUR = frozenset({"card", "iban", "account_number"})


def redact(text: str) -> tuple[str, list[Finding]]:
    """`text` with its secrets masked, and every vault item found in it (masked or not)."""
    findings = find_vault_items(text)
    return mask(text, findings), findings


def mask(text: str, findings: Sequence[Finding]) -> str:
    """Replace the spans of the sensitive findings; overlapping spans become one placeholder."""
    spans = sorted(_spans(text, findings), key=lambda s: (s.start, -s.end))
    merged: list[_Span] = []
    for span in spans:
        if merged and span.start < merged[-1].end:
            last = merged[-1]
            # The placeholder of the longer finding describes the merged span best.
            finding = span.finding if span.end - span.start > last.end - last.start else last.finding
            merged[-1] = _Span(last.start, max(last.end, span.end), finding)
        else:
            merged.append(span)
    pieces, position = [], 0
    for span in merged:
        pieces += [text[position:span.start], placeholder(span.finding)]
        position = span.end
    pieces.append(text[position:])
    return "".join(pieces)


def placeholder(finding: Finding) -> str:
    """What stands in for a masked value: its kind, and for cards and accounts the last four."""
    label = _LABELS.get(finding.entry_type) or finding.entry_type.replace("_", " ") or "redacted"
    characters = [c for c in finding.value if c.isalnum()]
    if finding.entry_type in _SHOWS_LAST_FOUR and len(characters) >= 8:
        return f"[{label} •••• {''.join(characters[-4:])}]"
    return f"[{label}]"


@dataclass(frozen=True)
class _Span:
    start: int
    end: int
    finding: Finding


def _spans(text: str, findings: Sequence[Finding]) -> list[_Span]:
    spans = []
    for finding in findings:
        if not finding.sensitive:
            continue
        start, end = max(0, finding.start), min(len(text), finding.end)
        if start < end:
            spans.append(_Span(start, end, finding))
        elif finding.value:
            # A finding without a span still must not leak: mask every place its value appears.
            spans += _occurrences(text, finding)
    return spans


def _occurrences(text: str, finding: Finding) -> list[_Span]:
    spans, start = [], text.find(finding.value)
    while start >= 0:
        spans.append(_Span(start, start + len(finding.value), finding))
        start = text.find(finding.value, start + len(finding.value))
    return spans
