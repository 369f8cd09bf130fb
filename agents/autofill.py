"""Autofill: a form's field labels in, the user's own values out, from core memory and the vault.

A label is matched to a field it means ("Given name", "Vorname" -> first name;
"ZIP", "Postleitzahl" -> postcode) by normalised synonyms, never by a model: a
wrong value typed into a form is worse than none, so an unknown label gets
nothing. Values are taken apart or reformatted as the field needs (the first
name out of a full name, the postcode out of an address). Candidates are
ranked by trust, then by how recent they are; the others are offered as
alternatives. Vault items someone else gave in a chat (tagged said-by, see
agents/ownership.py) are never offered: they are not the user's; items only
seen on a screen are offered once the user confirmed them. Values are
returned only from an unlocked store and never logged.
"""
from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import field as default
from datetime import datetime
from typing import Any

from agents.ownership import offered_as_users
from storage.memory import Memory

# field -> label words that mean it (compared after normalising: lower case, no accents or punctuation).
SYNONYMS: dict[str, tuple[str, ...]] = {
    "first_name": ("first name", "given name", "forename", "firstname", "vorname", "prenom", "nombre"),
    "last_name": ("last name", "surname", "family name", "lastname", "nachname", "nom de famille", "apellido"),
    "full_name": ("name", "full name", "your name", "name on card", "cardholder name", "nom", "vollstandiger name"),
    "email": ("email", "e mail", "email address", "e mail address", "mail", "your email"),
    "phone": ("phone", "phone number", "telephone", "tel", "mobile", "mobile number", "cell", "telefon", "handy"),
    "street": ("street address", "address", "address line 1", "street", "street and number", "strasse",
               "adresse", "home address", "postal address"),
    "postcode": ("zip", "zip code", "postal code", "postcode", "post code", "plz", "postleitzahl", "code postal"),
    "city": ("city", "town", "town city", "locality", "stadt", "ort", "ville"),
    "birthday": ("date of birth", "dob", "birthday", "birth date", "birthdate", "geburtsdatum",
                 "date de naissance"),
    "passport": ("passport number", "passport no", "passport", "reisepassnummer"),
    "iban": ("iban", "bank account iban", "account iban"),
    "card": ("card number", "credit card number", "credit card", "debit card number", "kartennummer"),
    "ssn": ("ssn", "social security number"),
    "tax_id": ("tax id", "tin", "tax number", "steuer id", "steuernummer", "vat number"),
    "drivers_license": ("driver s license number", "drivers license", "driving licence number",
                        "driver license number", "fuhrerscheinnummer"),
    "employer": ("employer", "company", "organisation", "organization", "firma"),
}
# Where each field's values come from: vault entry types, and core fact types.
_VAULT_TYPES: dict[str, tuple[str, ...]] = {
    "email": ("email",), "phone": ("phone",), "street": ("address",), "postcode": ("address",),
    "city": ("address",), "passport": ("passport",), "iban": ("iban",), "card": ("card",), "ssn": ("ssn",),
    "tax_id": ("tax_id",), "drivers_license": ("drivers_license",),
}
_CORE_TYPES: dict[str, tuple[str, ...]] = {
    "first_name": ("name",), "last_name": ("name",), "full_name": ("name",), "birthday": ("birthday",),
    "city": ("home",), "employer": ("work",),
}
_CORE_PREFIX = re.compile(r"^(name|birthday|born on|lives in|works at|works for|home)\s*:?\s*", re.IGNORECASE)
# Country postcode shapes, longest first: PT 1200-195, US 12345-6789, NL 1234 AB, CA K1A 0B1, UK SW1A 1AA,
# PL 00-950, then 4-5 digits (DE, FR, AT, CH, ...).
_POSTCODE = re.compile(r"\b(\d{4}-\d{3}|\d{5}-\d{4}|\d{4} ?[A-Z]{2}|[A-Z]\d[A-Z] ?\d[A-Z]\d|"
                       r"[A-Z]{1,2}\d[A-Z\d]? ?\d[A-Z]{2}|\d{2}-\d{3}|\d{4,5})\b")
_LABEL_NOISE = re.compile(r"[^a-z0-9]+")


@dataclass
class FieldValue:
    label: str
    field: str | None                 # what the label was understood as; None when unknown
    value: str | None = None
    confidence: float = 0.0
    source_id: str | None = None
    alternatives: list[str] = default(default_factory=list)


def understand(label: str) -> str | None:
    """The field a label means, or None."""
    norm = normalise(label)
    if not norm:
        return None
    for name, words in SYNONYMS.items():
        if norm in words:
            return name
    # "Your e-mail address *", "Billing ZIP": a synonym as a whole-word part of a longer label.
    best: tuple[int, str] | None = None
    for name, words in SYNONYMS.items():
        for w in words:
            if len(w) > 3 and re.search(rf"\b{re.escape(w)}\b", norm) and (best is None or len(w) > best[0]):
                best = (len(w), name)
    return best[1] if best else None


def normalise(label: str) -> str:
    flat = unicodedata.normalize("NFKD", label).encode("ascii", "ignore").decode().lower()
    return " ".join(_LABEL_NOISE.sub(" ", flat).split())


def fill(labels: Sequence[str], core: Memory | None, vault: Sequence[Memory]) -> list[FieldValue]:
    """Best value per label, from the core memory block and the vault items."""
    out = []
    for label in labels:
        name = understand(label)
        result = FieldValue(label, name)
        if name is not None:
            ranked = [(as_the_label_asks(label, name, v), c, src) for v, c, src in _candidates(name, core, vault)]
            if ranked:
                (value, confidence, source), *rest = ranked
                result.value, result.confidence, result.source_id = value, confidence, source
                result.alternatives = list(dict.fromkeys(v for v, _, _ in rest if v != value))[:3]
        out.append(result)
    return out


def _candidates(name: str, core: Memory | None, vault: Sequence[Memory]) -> list[tuple[str, float, str]]:
    found: list[tuple[int, datetime, str, float, str]] = []  # trust, time, value, confidence, source
    for memory in vault:
        if memory.fields.get("entry_type") in _VAULT_TYPES.get(name, ()) and memory.secret \
                and offered_as_users(memory.tags, memory.trust):
            value = _shape(name, memory.secret)
            if value:
                found.append((int(memory.trust), memory.time, value, 0.9, memory.id))
    if core is not None:
        for fact in core.fields.get("facts") or []:
            if fact.get("type") in _CORE_TYPES.get(name, ()):
                value = _shape(name, _CORE_PREFIX.sub("", str(fact.get("value", ""))).strip())
                if value:
                    when = _parse_time(fact.get("at"))
                    found.append((int(fact.get("trust", 0)), when or core.time, value, 0.8, core.id))
    found.sort(key=lambda c: (c[0], c[1]), reverse=True)
    return [(value, confidence, source) for _, _, value, confidence, source in found]


def _shape(name: str, value: str) -> str | None:
    """The part of a stored value the field asks for, in the form forms expect."""
    value = value.strip()
    if name in ("first_name", "last_name"):
        parts = value.split()
        if len(parts) < 2:
            return value if name == "first_name" and parts else None
        return parts[0] if name == "first_name" else " ".join(parts[1:])
    if name == "postcode":
        match = _POSTCODE.search(value)
        return match.group(1) if match else None
    if name == "street":
        return value.split(",")[0].strip() or None
    if name == "city":
        return _city(value)
    if name in ("iban", "card"):
        digits = re.sub(r"\s+", "", value)
        return " ".join(digits[i:i + 4] for i in range(0, len(digits), 4))
    if name == "phone":
        return re.sub(r"(?<=\d)[\s./-]+(?=\d)", " ", value)
    if name == "birthday":
        return _iso_date(value) or value
    return value


_DATE_HINT = re.compile(r"\b(dd|mm|yyyy|jjjj|tt)([./-])(dd|mm|tt)\2(yyyy|jjjj|dd|tt)\b", re.IGNORECASE)
_LOCAL_PHONE = re.compile(r"without (the )?(country|international) (code|prefix)|national format", re.IGNORECASE)


def as_the_label_asks(label: str, field: str, value: str) -> str:
    """A format the label spells out wins: "Date of birth (DD/MM/YYYY)", "Phone (without country code)"."""
    if field == "birthday":
        hint = _DATE_HINT.search(label)
        if hint and re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
            year, month, day = value.split("-")
            parts = {"dd": day, "tt": day, "mm": month, "yyyy": year, "jjjj": year}
            order = [hint.group(1), hint.group(3), hint.group(4)]
            return hint.group(2).join(parts[p.lower()] for p in order)
    if field == "phone" and _LOCAL_PHONE.search(label) and value.startswith("+"):
        # Drop the country code, and give back the trunk 0 most national formats use.
        rest = value.split(" ", 1)[1] if " " in value else value[3:]
        return rest if value.startswith(("+1 ", "+351 ", "+39 ")) else "0" + rest
    return value


def _city(value: str) -> str | None:
    """"14 Elm Street, 62704 Springfield" -> "Springfield"; a bare city name stays as it is."""
    parts = [p.strip() for p in value.split(",")]
    if len(parts) == 1:
        return None if re.search(r"\d", value) else value
    tail = _POSTCODE.sub("", parts[1]).strip()
    return tail or None


def _iso_date(text: str) -> str | None:
    flat = " ".join(text.replace(",", " ").split())
    for fmt in ("%d %B %Y", "%B %d %Y", "%d %b %Y", "%b %d %Y", "%d.%m.%Y", "%Y-%m-%d", "%d/%m/%Y"):
        try:
            return datetime.strptime(flat, fmt).date().isoformat()
        except ValueError:
            continue
    return None


def _parse_time(value: Any) -> datetime | None:
    try:
        return datetime.fromisoformat(str(value))
    except ValueError:
        return None
