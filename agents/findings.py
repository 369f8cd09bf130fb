"""What the deterministic extractors hand to the memory managers.

A `Finding` is one thing recognised in a piece of text without any model: a
vault item (an e-mail address, a card number, a passport number next to its
label), a resource (a URL, a file path, a document title) or a core fact
stated in the first person. It keeps its span so redaction can mask exactly
what was found.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Finding:
    kind: str                 # the memory kind it becomes: "vault", "resource" or "core"
    entry_type: str           # vault: email/phone/iban/card/passport/...; resource: url/file/document; core: name/...
    value: str                # vault: the secret value; resource: the uri or title; core: the fact as a sentence
    start: int = 0            # where the value is in the text it came from (for masking)
    end: int = 0
    caption: str = ""         # what the user would call it: "Passport number", "Work e-mail"
    sensitive: bool = False   # masked everywhere outside the vault (passwords, card numbers, IDs, ...)
