"""Vault items found in text by pattern and checksum alone.

Screen text and chat messages carry secrets and identifiers that must go to
the vault and be masked everywhere else, and that has to work with no model,
offline, on every frame. So this module uses regular expressions plus the
checks the numbers themselves carry (Luhn for cards, mod-97 for IBANs), and
labels for the identifiers that have no shape of their own ("Passport no.").

Every detector yields candidates with a rank; when two overlap the better
ranked one wins (a card number is not also a phone number, an IBAN after
"account number:" is an IBAN). `value` is the text as written, except that
card numbers and IBANs are compacted (no spaces or dashes) so the vault can
compare them; `start`/`end` always cover the value in the text, not its label.
Captions never contain a secret: a card is "Card ending 4242".
"""
from __future__ import annotations

import base64
import binascii
import math
import re
from collections import Counter
from collections.abc import Callable, Iterator

from agents.findings import Finding

__all__ = ["find_vault_items", "labelled_as_the_users"]

Candidates = Iterator[Finding]


def find_vault_items(text: str) -> list[Finding]:
    """Every vault item in `text`, in text order, without overlaps."""
    ranked = [(rank, f) for rank, detect in enumerate(_DETECTORS) for f in detect(text)]
    ranked.sort(key=lambda item: (item[0], item[1].start - item[1].end, item[1].start))
    kept: list[Finding] = []
    for _, finding in ranked:
        if all(finding.end <= k.start or finding.start >= k.end for k in kept):
            kept.append(finding)
    return sorted(kept, key=lambda f: f.start)


def _vault(entry_type: str, text: str, start: int, end: int, caption: str,
           sensitive: bool, value: str | None = None) -> Finding:
    return Finding("vault", entry_type, text[start:end] if value is None else value,
                   start, end, caption, sensitive)


# --- Private keys, API keys and tokens -------------------------------------------------

# Without an END line (a cropped screenshot) the base64 lines that follow are still the key.
_PEM = re.compile(r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----"
                  r"(?:[\s\S]*?-----END (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----"
                  r"|(?:\s+[A-Za-z0-9+/=]{8,})*)")

_API_KEYS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("AWS", re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b")),
    ("GitHub", re.compile(r"\b(?:gh[pousr]_[A-Za-z0-9]{36,255}|github_pat_[A-Za-z0-9_]{22,255})\b")),
    ("Slack", re.compile(r"\bxox[abposr]-[A-Za-z0-9-]{10,}")),
    ("Stripe", re.compile(r"\b(?:sk|pk|rk)_(?:live|test)_[A-Za-z0-9]{16,}\b")),
    ("Anthropic", re.compile(r"(?<![\w-])sk-ant-[A-Za-z0-9_-]{20,}")),
    ("OpenAI", re.compile(r"(?<![\w-])sk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_-]{20,}")),
    ("Google", re.compile(r"\bAIza[0-9A-Za-z_-]{35}(?![\w-])")),
)
_JWT = re.compile(r"\beyJ[A-Za-z0-9_-]{5,}\.eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{10,}")


def _private_keys(text: str) -> Candidates:
    for m in _PEM.finditer(text):
        yield _vault("private_key", text, m.start(), m.end(), "Private key", True)


def _api_keys(text: str) -> Candidates:
    for service, pattern in _API_KEYS:
        for m in pattern.finditer(text):
            # "sk-" also starts ordinary hyphenated words; real keys mix letters and digits.
            if service in ("OpenAI", "Anthropic") and not _mixes_letters_and_digits(m.group()):
                continue
            yield _vault("api_key", text, m.start(), m.end(), f"API key ({service})", True)
    for m in _JWT.finditer(text):
        if _is_jwt_header(m.group().split(".", 1)[0]):
            yield _vault("token", text, m.start(), m.end(), "Access token (JWT)", True)


def _is_jwt_header(segment: str) -> bool:
    try:
        decoded = base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
    except (binascii.Error, ValueError):
        return False
    return decoded.lstrip().startswith(b"{")


def _mixes_letters_and_digits(value: str) -> bool:
    return any(c.isdigit() for c in value) and any(c.isalpha() for c in value)


def _looks_random(value: str) -> bool:
    """High entropy and at least two character classes: keys, not words or snake_case names."""
    classes = sum(any(test(c) for c in value) for test in (str.islower, str.isupper, str.isdigit))
    counts = Counter(value)
    entropy = -sum(n / len(value) * math.log2(n / len(value)) for n in counts.values())
    return classes >= 2 and entropy >= 3.0


# --- Passwords, PINs, one-time codes ---------------------------------------------------

_H = r"[ \t]"  # a label and its value share a line; "Password:\nUsername" is two fields
_PASSWORD = re.compile(
    r"(?i:\b(?:new\s+|old\s+|wi-?fi\s+)?(?:passwords?|passwort|passcode|kennwort|senha|contraseña|pwd|pw)\b)"
    rf"(?:(?P<colon>{_H}*(?:is{_H}*)?[:=]{_H}*)|{_H}+(?i:is|was){_H}+)"
    r"(?P<v>[^\s]+)")
# A passphrase has spaces, so it runs to the end of its line; code characters mean it is code, not a phrase.
_PHRASE_WORD = r"[^\s\"'`()\[\]{}<>=;:*|]+"
_PASSPHRASE = re.compile(rf"(?i:\bpassphrase\b){_H}*[:=]{_H}*(?P<v>{_PHRASE_WORD}(?:{_H}{_PHRASE_WORD}){{0,7}}){_H}*$",
                         re.MULTILINE)
_PIN = re.compile(rf"(?:\bPIN\b|\bPin\b|(?i:\bpin-?code\b)|(?i:\bpin\b)(?={_H}*[:=]))"
                  rf"(?:{_H}*(?i:code|number|no\.?))?(?:{_H}*(?:[:=#]|is){_H}*|{_H}+)"
                  r"(?P<v>\d{4,8})(?![\w]|[ -]\d)")
_CARD_CODE = re.compile(rf"(?:\b(?:CVV2?|CVC2?|CSC)\b|(?i:\bsecurity{_H}+code\b))"
                        rf"(?:{_H}+is)?{_H}*[:=#]?{_H}*(?P<v>\d{{3,4}})(?![\w]|[ -]?\d)")
_OTP_CODE = r"(?P<v>(?:G-)?\d{4,8}|\d{3}[ -]\d{3})(?![\w]|[ -]\d)"
_OTP = re.compile(
    r"(?:(?i:\b(?:one[- ]time\s+(?:pass(?:word|code)|code|pin)|otp|2fa\s+code|two[- ]factor\s+code"
    r"|verification\s+code|security\s+code|confirmation\s+code|login\s+code|sign[- ]in\s+code"
    r"|auth(?:entication)?\s+code|access\s+code|your(?:\s+[\w-]+){0,2}\s+code)\b)|\bTAN\b)"
    rf"(?:{_H}+(?i:is|was))?{_H}*[:=]?{_H}*" + _OTP_CODE)
_OTP_FIRST = re.compile(r"(?<![\w-])(?P<v>(?:G-)?\d{4,8})(?:\s+(?i:is\s+your)(?:\s+[\w-]+){0,3}?"
                        r"\s+(?i:code|otp|pin|passcode|password))\b")
_GENERIC_TOKEN = re.compile(
    r"(?i:\b(?P<label>api[_ -]?key|apikey|api[_ -]?secret|api[_ -]?token|secret[_ -]?key|client[_ -]?secret"
    r"|access[_ -]?key|access[_ -]?token|auth[_ -]?token|refresh[_ -]?token|private[_ -]?token|token|secret)\b)"
    r"[\"']?[ \t]*(?:[:=]|=>)[ \t]*[\"']?(?P<v>[A-Za-z0-9_\-./+=~]{16,})")
_BEARER = re.compile(r"\bBearer[ \t]+(?P<v>[A-Za-z0-9_\-.~+/]{16,}=*)")
# Form and UI words that follow "Password:" on a screen without being one, and the types
# that follow it in code ("def login(password: str)").
_NOT_PASSWORDS = frozenset({
    "required", "forgot", "forgotten", "reset", "show", "hide", "change", "changed", "confirm",
    "incorrect", "wrong", "invalid", "none", "n/a", "expired", "strength", "weak", "strong", "updated",
    "str", "string", "bytes", "int", "bool", "null", "undefined", "any", "object", "char", "text", "secretstr",
    "password", "passphrase",
})
# Code on screen: a variable, template or environment reference, a call, an index, an attribute.
_CODE_VALUE = re.compile(r"[$%{<]|[A-Za-z_][\w.]*[\[(]|[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)+$")
_QUOTES = "\"'“”‘’`"
# What masking leaves behind ("[password]", "[card •••• 4242]"): redacting twice must find nothing new.
_PLACEHOLDER = re.compile(r"\[[A-Za-z' -]+(?: •+ \w{1,4})?\]")


_CODES = ((_PIN, "pin", "PIN"), (_CARD_CODE, "card_security_code", "Card security code"),
          (_OTP, "otp", "One-time code"), (_OTP_FIRST, "otp", "One-time code"))


def _secrets(text: str) -> Candidates:
    yield from _passwords(text)
    for pattern, entry, caption in _CODES:
        for m in pattern.finditer(text):
            yield _vault(entry, text, m.start("v"), m.end("v"), caption, True)
    yield from _labelled_tokens(text)


def _labelled_tokens(text: str) -> Candidates:
    for m in _GENERIC_TOKEN.finditer(text):
        start, end = _trim(text, m.start("v"), m.end("v"), ".,;")
        if end - start >= 16 and _looks_random(text[start:end]):
            is_key = "key" in m.group("label").lower()
            yield _vault("api_key" if is_key else "token", text, start, end,
                         "API key" if is_key else "Access token", True)
    for m in _BEARER.finditer(text):
        if _looks_random(m.group("v")):
            yield _vault("token", text, m.start("v"), m.end("v"), "Access token", True)


def _passwords(text: str) -> Candidates:
    for m in _PASSWORD.finditer(text):
        start, end = _trim(text, m.start("v"), m.end("v"), ".,;:)" + _QUOTES)
        value = text[start:end]
        if len(value) < 3 or value.lower() in _NOT_PASSWORDS or not value.strip("•*·●") \
                or _PLACEHOLDER.match(text, start) or _CODE_VALUE.match(value):
            continue
        # "my password is weak": after "is" only something that looks made up counts.
        if m.group("colon") is None and (value.isalpha() and value.islower() or value.isdigit() and len(value) < 4):
            continue
        if value.isalpha() and not _word_is_a_password(value, text, end):
            continue
        yield _vault("password", text, start, end, "Password", True)
    for m in _PASSPHRASE.finditer(text):
        start, end = _trim(text, m.start("v"), m.end("v"), ".,")
        first_word = text[start:end].split()[0].strip(",").lower()
        if first_word not in _NOT_PASSWORDS and not _PLACEHOLDER.match(text, start):
            yield _vault("password", text, start, end, "Passphrase", True)


# After a bare word, more words on its line: the label heads advice, not a value ("Password: Use a long one").
_PROSE_AFTER = re.compile(r"[ \t]+[A-Za-z]")


def _word_is_a_password(word: str, text: str, end: int) -> bool:
    """A password of letters only is long enough to be one and ends its line ("Password: Use" is not one)."""
    return len(word) >= 6 and not _PROSE_AFTER.match(text, end)


def _trim(text: str, start: int, end: int, chars: str) -> tuple[int, int]:
    while end > start and text[end - 1] in chars:
        end -= 1
    while start < end and text[start] in _QUOTES:
        start += 1
    return start, end


# --- Card numbers and IBANs -------------------------------------------------------------

# Not right after another digit group, nor the decimals of a number ("80.4776818909336" in a spreadsheet).
_CARD = re.compile(r"(?<![\w-])(?<!\d[ .,-])\d(?:[ -]?\d){12,18}(?![\w]|[ -]\d)")
_CARD_SEPARATOR = re.compile(r"[ -]")
# Country code -> IBAN length, from the SWIFT IBAN registry.
_IBAN_LENGTHS = {
    "AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22, "BH": 22, "BR": 29,
    "BY": 28, "CH": 21, "CR": 22, "CY": 28, "CZ": 24, "DE": 22, "DK": 18, "DO": 28, "EE": 20, "EG": 29,
    "ES": 24, "FI": 18, "FO": 18, "FR": 27, "GB": 22, "GE": 22, "GI": 23, "GL": 18, "GR": 27, "GT": 28,
    "HR": 21, "HU": 28, "IE": 22, "IL": 23, "IQ": 23, "IS": 26, "IT": 27, "JO": 30, "KW": 30, "KZ": 20,
    "LB": 28, "LC": 32, "LI": 21, "LT": 20, "LU": 20, "LV": 21, "MC": 27, "MD": 24, "ME": 22, "MK": 19,
    "MR": 27, "MT": 31, "MU": 30, "NL": 18, "NO": 15, "PK": 24, "PL": 28, "PS": 29, "PT": 25, "QA": 29,
    "RO": 24, "RS": 22, "SA": 24, "SC": 31, "SE": 24, "SI": 19, "SK": 24, "SM": 27, "ST": 25, "SV": 28,
    "TL": 23, "TN": 24, "TR": 26, "UA": 29, "VA": 22, "VG": 24, "XK": 20,
}
_IBAN_START = re.compile(r"(?<![A-Za-z0-9])[A-Z]{2}\d{2}")


def _cards(text: str) -> Candidates:
    for m in _CARD.finditer(text):
        raw = m.group()
        digits = _CARD_SEPARATOR.sub("", raw)
        # Written cards use one kind of separator and start with a group of four.
        separators = set(_CARD_SEPARATOR.findall(raw))
        if len(separators) > 1 or separators and len(_CARD_SEPARATOR.split(raw)[0]) != 4:
            continue
        if _card_brand(digits) and _luhn_ok(digits):
            yield _vault("card", text, m.start(), m.end(), f"Card ending {digits[-4:]}", True, digits)


def _luhn_ok(digits: str) -> bool:
    total = 0
    for i, char in enumerate(reversed(digits)):
        n = int(char) * (2 if i % 2 else 1)
        total += n - 9 if n > 9 else n
    return total % 10 == 0


def _card_brand(d: str) -> str | None:
    """The network from the issuer prefix and length; None for numbers no card has."""
    n, p2, p3, p4, p6 = len(d), int(d[:2]), int(d[:3]), int(d[:4]), int(d[:6])
    brands = (
        ("Visa", d[0] == "4" and n in (13, 16, 19)),
        ("Mastercard", (51 <= p2 <= 55 or 2221 <= p4 <= 2720) and n == 16),
        ("American Express", p2 in (34, 37) and n == 15),
        ("Discover", (p4 == 6011 or p2 == 65 or 644 <= p3 <= 649 or 622126 <= p6 <= 622925) and n >= 16),
        ("Diners Club", (300 <= p3 <= 305 or p2 in (36, 38, 39) or p4 == 3095) and n >= 14),
        ("JCB", 3528 <= p4 <= 3589 and n >= 16),
        ("UnionPay", p2 == 62 and n >= 16),
        ("Maestro", (p2 == 50 or 56 <= p2 <= 69) and n >= 12),
    )
    return next((name for name, matches in brands if matches), None)


def _ibans(text: str) -> Candidates:
    for m in _IBAN_START.finditer(text):
        length = _IBAN_LENGTHS.get(m.group()[:2])
        if length is None:
            continue
        end, compact = _collect_alnum(text, m.start(), length)
        if len(compact) == length and _iban_checksum_ok(compact):
            yield _vault("iban", text, m.start(), end, f"IBAN ending {compact[-4:]}", True, compact)


def _collect_alnum(text: str, start: int, length: int) -> tuple[int, str]:
    """Up to `length` capitals and digits from `start`, stepping over single spaces between groups."""
    chars: list[str] = []
    i = start
    while i < len(text) and len(chars) < length:
        if text[i].isascii() and (text[i].isdigit() or text[i].isupper()):
            chars.append(text[i])
        elif not (text[i] == " " and i + 1 < len(text) and text[i + 1].isascii() and text[i + 1].isalnum()):
            break
        i += 1
    if i < len(text) and text[i].isalnum():
        return i, ""  # longer than this country's IBAN: something else
    return i, "".join(chars)


def _iban_checksum_ok(iban: str) -> bool:
    rearranged = iban[4:] + iban[:4]
    return int("".join(str(int(c, 36)) for c in rearranged)) % 97 == 1


# --- Identifiers next to their labels ---------------------------------------------------

_NO = r"(?:[ \t]*(?:number|num\.?|no\.?|nr\.?|#|id)(?![a-z]))?"
_LABELLED_IDS: tuple[tuple[str, str, bool, str], ...] = (
    ("passport", "Passport number", True, rf"passport{_NO}|reisepass(?:nummer)?"),
    ("ssn", "Social Security number", True, rf"(?-i:SSN)|social[ \t]+security{_NO}"),
    ("national_id", "National ID number", True,
     rf"national[ \t]+(?:id(?:entity)?|insurance)(?:[ \t]+card)?{_NO}|(?:id|identity)[ \t]+card{_NO}"
     r"|personalausweis(?:nummer)?|(?-i:NINO)"),
    ("health_id", "Health insurance number", True,
     rf"(?-i:NHS){_NO}|health[ \t]+(?:insurance|card){_NO}|medicare{_NO}|krankenversicherungsnummer"),
    ("drivers_license", "Driver's licence number", True,
     rf"driver'?s'?[ \t]+licen[cs]e{_NO}|driving[ \t]+licen[cs]e{_NO}|(?-i:DL)[ \t]*(?:#|no\.?)"
     r"|führerschein(?:nummer)?"),
    ("tax_id", "Tax ID", True,
     rf"tax[ \t]+(?:id(?:entification)?|reference|number|no\.?){_NO}|(?-i:TIN|EIN|NIF)"
     r"|VAT[ \t]+(?:reg(?:istration)?[ \t]+)?(?:number|no\.?|id)|steuer-?id|steuernummer|ust-?idnr\.?"),
    ("account_number", "Account number", True,
     r"(?:bank[ \t]+)?account[ \t]*(?:number|no\.?|nr\.?|#)|acct\.?[ \t]*(?:number|no\.?|#)?"
     r"|kontonummer|konto-?nr\.?"),
    ("policy_number", "Policy number", False,
     r"(?:insurance[ \t]+)?policy[ \t]*(?:number|no\.?|nr\.?|#)|versicherungsnummer|policennummer"),
    ("member_number", "Member number", False,
     r"(?:member(?:ship)?|loyalty|frequent[ \t]+flyer)[ \t]*(?:number|no\.?|nr\.?|#|id)|mitgliedsnummer"),
    ("member_number", "Customer number", False,
     r"(?:customer|client)[ \t]*(?:number|no\.?|nr\.?|#|id)|kundennummer|kunden-?nr\.?"),
    ("license_plate", "Licence plate", False,
     rf"licen[cs]e[ \t]+plate{_NO}|(?:number|registration|reg\.?)[ \t]+plate|vehicle[ \t]+registration{_NO}"
     r"|kennzeichen"),
)
# Capitals and digits in groups; a space-separated group needs a digit unless it is a short
# tail such as the letter of a UK NI number ("AB 12 34 56 C") or a plate ("AB12 CDE").
_ID_VALUE = r"(?P<v>[A-Z0-9]+(?:[-./][A-Z0-9]+|[ ](?=[A-Z0-9]*\d)[A-Z0-9]+|[ ](?!I\b)[A-Z]{1,3}(?!\w))*)"
_LABELLED_ID_PATTERNS = tuple(
    (entry, caption, sensitive,
     re.compile(rf"(?<![\w-])(?i:{label})(?![A-Za-z])[ \t]*(?:[:=]|is\b)?[ \t]*" + _ID_VALUE))
    for entry, caption, sensitive, label in _LABELLED_IDS)
_SSN_SHAPE = re.compile(r"(?<![\w-])(?<!\d[.,])(?!000|666|9\d\d)\d{3}-(?!00)\d{2}-(?!0000)\d{4}(?![\w-])")


def _labelled_ids(text: str) -> Candidates:
    for entry, caption, sensitive, pattern in _LABELLED_ID_PATTERNS:
        for m in pattern.finditer(text):
            value = m.group("v")
            alnum = sum(c.isalnum() for c in value)
            if 4 <= alnum <= 34 and any(c.isdigit() for c in value):
                yield _vault(entry, text, m.start("v"), m.end("v"), caption, sensitive)


def _ssn_shapes(text: str) -> Candidates:
    for m in _SSN_SHAPE.finditer(text):
        yield _vault("ssn", text, m.start(), m.end(), "Social Security number", True)


# --- E-mail and postal addresses --------------------------------------------------------

_EMAIL = re.compile(r"(?<![\w.%+-])[A-Za-z0-9][A-Za-z0-9._%+-]*@(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?\.)+"
                    r"(?!(?:png|jpe?g|gif|svg|webp)\b)[A-Za-z]{2,24}(?![\w-])")
_CAP = r"[A-ZÀ-Þ][\wÀ-ÿ'’.-]*"
_POSTAL_TAIL = (
    r"(?:,?[ \t]+(?:\d{4,5}(?:-\d{3})?[ \t]+" + _CAP + r"(?:[ \t]+" + _CAP + r")?"   # 10115 Berlin, 1100-148 Lisboa
    r"|" + _CAP + r"(?:[ \t]+" + _CAP + r"){0,2},?[ \t]+[A-Z]{2}[ \t]+\d{5}(?:-\d{4})?"  # Springfield, IL 62704
    r"|" + _CAP + r"(?:[ \t]+" + _CAP + r")?,?[ \t]+[A-Z]{1,2}\d[A-Z\d]?[ \t]?\d[A-Z]{2}))?"  # London NW1 6XE
)
_EN_SUFFIX = (r"Street|St|Avenue|Ave|Road|Rd|Boulevard|Blvd|Lane|Ln|Drive|Dr|Court|Ct|Place|Pl|Way|Terrace"
              r"|Close|Crescent|Square|Sq|Parkway|Pkwy|Highway|Hwy|Circle")
# "ring" is left out of the German suffixes: "Spring 2024" would be a street.
# A standalone "Platz 1" is a ranking, so a separate suffix word needs a name before it.
_DE_STREET = (r"(?:[A-ZÄÖÜ][\w-]*[ \t]+(?:Straße|Strasse|Weg|Gasse|Platz|Allee)"
              r"|[A-ZÄÖÜ][\w-]*(?:straße|strasse|str\.|weg|gasse|platz|allee|damm))")
_ADDRESSES = (
    re.compile(r"(?<![\w-])(?:(?:Apt|Apartment|Suite|Unit|Flat)\.?[ \t]*[\w-]+,?[ \t]+)?"
               r"\d{1,5}[A-Za-z]?(?:-\d{1,5})?[ \t]+(?:(?:[A-Z][\w'.-]*|\d+(?:st|nd|rd|th))[ \t]+){1,4}"
               rf"(?:{_EN_SUFFIX})\b\.?(?:,?[ \t]+(?:Apt|Apartment|Suite|Ste|Unit|Flat|#)\.?[ \t]*[\w-]+)?"
               + _POSTAL_TAIL),
    re.compile(rf"(?<![\w-]){_DE_STREET}[ \t]+\d{{1,4}}[ \t]?[a-z]?(?![\w])" + _POSTAL_TAIL),
    re.compile(r"(?<![\w-])(?:Rua|Avenida|Calle|Carrer|Via|Viale|Piazza|Praça|Largo|Travessa|Plaza|Paseo)"
               r"(?:[ \t]+(?:de|da|do|dos|das|del|la|los|di|della|" + _CAP + r")){1,5},?[ \t]+\d{1,4}[A-Za-z]?(?!\w)"
               + _POSTAL_TAIL),
    re.compile(r"(?<![\w-])\d{1,4}(?:[ \t]?(?:bis|ter))?,?[ \t]+(?:rue|avenue|boulevard|place|allée|chemin|quai)"
               r"(?:[ \t]+(?:de|du|des|la|le|l'))*[ \t]+" + _CAP + r"(?:[ \t]+" + _CAP + r")*" + _POSTAL_TAIL),
)
_ADDRESS_LINE = re.compile(r"(?<![\w-])(?i:(?:(?P<which>home|shipping|billing|postal|delivery|mailing|street)[ \t]+)?"
                           r"(?:address|adresse|anschrift|morada|dirección))[ \t]*:[ \t]*(?P<v>[^\n]+)")
_ADDRESS_LINE_END = re.compile(r"[;|]|\s+(?i:phone|tel|e-?mail|mobile)\b")
_NOT_POSTAL = re.compile(r"(?i:e-?mail|ip|ipv[46]|mac|web|wallet|server|host|return)[ \t]*$")


def _emails(text: str) -> Candidates:
    for m in _EMAIL.finditer(text):
        yield _vault("email", text, m.start(), m.end(), "E-mail address", False)


def _addresses(text: str) -> Candidates:
    # Labelled lines first: on an equal span their label ("Home address:") says more.
    yield from _address_lines(text)
    for pattern in _ADDRESSES:
        for m in pattern.finditer(text):
            start, end = _trim(text, m.start(), m.end(), ",.")
            yield _vault("address", text, start, end, "Postal address", False)


def _address_lines(text: str) -> Candidates:
    for m in _ADDRESS_LINE.finditer(text):
        if _NOT_POSTAL.search(text, max(0, m.start() - 12), m.start()):
            continue
        cut = _ADDRESS_LINE_END.search(m.group("v"))
        start = m.start("v")
        start, end = _trim(text, start, start + (cut.start() if cut else len(m.group("v"))), " \t.," + _QUOTES)
        value = text[start:end]
        if any(c.isdigit() for c in value) and sum(c.isalpha() for c in value) >= 3 \
                and "@" not in value and "://" not in value:
            # The vault keeps one home address; other labelled addresses are just addresses.
            home = (m.group("which") or "").lower() == "home"
            yield _vault("home_address" if home else "address", text, start, end,
                         "Home address" if home else "Postal address", False)


# A label that says an address is the reader's own: "My address:", "Your shipping address:", "Home address:",
# a checkout's "Shipping/Billing/Delivery address:" (and the same in German, Portuguese, Spanish).
_USERS_ADDRESS_LABEL = re.compile(
    r"(?i:\b(?:(?:my|your|mein[e]?|ihre?|minha|sua|mi|tu)(?:[ \t]+(?:home|shipping|billing|delivery|postal|mailing"
    r"|street))?|home|shipping|billing|delivery)[ \t]+(?:address|adresse|anschrift|morada|direcci[oó]n)"
    r"|\b(?:liefer|rechnungs|wohn)adresse|\bmorada[ \t]+de[ \t]+(?:entrega|fatura[cç][aã]o))[ \t]*:[ \t]*$")


def labelled_as_the_users(text: str, finding: Finding) -> bool:
    """Whether the label right before an address, on its line, says it is the reader's own. Screen text
    needs one: an address on screen without it (a hotel's, a shop's, a contact's) is nobody's in particular."""
    line_start = text.rfind("\n", 0, max(0, finding.start)) + 1
    return bool(_USERS_ADDRESS_LABEL.search(text, line_start, max(line_start, finding.start)))


# --- Phone numbers ----------------------------------------------------------------------

# A phone never starts right after another digit group: "DE89 3704 0044 0532" is no "+44" number.
_PHONE_SHAPES = (
    # International: +CC or 00CC, then groups; "(0)" is the trunk prefix some countries show.
    re.compile(r"(?<![\w+])(?<!\d[ .,-])(?:\+|00)[1-9]\d{0,2}(?:[ .-]?\(0\))?(?:[ .-]?\(?\d++\)?){1,6}"),
    # North American: (415) 555-0132, 415-555-0132, 1-800-555-0199.
    re.compile(r"(?<![\w])(?<!\d[ .,-])(?:1[ .-])?(?:\([2-9]\d{2}\)[ ]?|[2-9]\d{2}[ .-])\d{3}[ .-]\d{4}"),
    # National with a trunk 0 and a separated area code: 030 1234567, 0171/2345678, (030) 123 4567.
    re.compile(r"(?<![\w])(?<!\d[ .,-])(?:\(0\d{1,4}\)[ ]?|0[1-9]\d{1,4}[ /-])\d{2,8}(?:[ -]\d{2,5}){0,3}"),
    # French pairs: 06 12 34 56 78.
    re.compile(r"(?<![\w])(?<!\d[ .,-])0[1-9]([ .-])\d{2}(?:\1\d{2}){3}"),
)
_PHONE_LABELLED = re.compile(
    r"(?i:\b(?:tel(?:ephone|efon|efone)?|phone|mobile|mob|cell(?:phone)?|handy|fax|whats[ ]?app"
    r"|call[ \t]+(?:me[ \t]+)?(?:at|on)|text[ \t]+me[ \t]+(?:at|on))\b)\.?"
    r"(?:[ \t]*(?:(?i:no|nr|number)\.?|#))?[ \t]*:?[ \t]*"
    r"(?P<v>\+?[\d(][\d()]*(?:[ ./-][\d(][\d()]*)*)")
# Numbers after these words are orders, tickets, IDs: anything but a phone.
_NOT_PHONE_BEFORE = re.compile(
    r"(?:\b(?i:order|invoice|inv|ref|reference|tracking|ticket|case|transaction|txn|serial|sku|item|receipt"
    r"|booking|confirmation|id|iban|account|acct|routing|sort|policy|member|customer|passport|no|nr|version)\.?"
    r"|[#$€£¥])[ \t]*[:#]?[ \t]*$")
_DATE_LIKE = re.compile(r"\d{1,4}[./-]\d{1,2}[./-]\d{1,4}")


def _phones(text: str) -> Candidates:
    for pattern in _PHONE_SHAPES:
        for m in pattern.finditer(text):
            if not _NOT_PHONE_BEFORE.search(text, max(0, m.start() - 24), m.start()):
                yield from _phone(text, m.start(), m.end(), min_digits=8 if pattern is _PHONE_SHAPES[0] else 7)
    for m in _PHONE_LABELLED.finditer(text):
        if not _DATE_LIKE.fullmatch(m.group("v")):
            yield from _phone(text, m.start("v"), m.end("v"), min_digits=7)


def _phone(text: str, start: int, end: int, min_digits: int) -> Candidates:
    start, end = _trim(text, start, end, " .-/(")
    after = text[end:end + 2]
    if after[:1].isalnum() or len(after) == 2 and after[0] in ".,/-:" and after[1].isdigit():
        return  # part of something longer: a decimal, a range, a time
    digits = sum(c.isdigit() for c in text[start:end])
    if min_digits <= digits <= 15:
        yield _vault("phone", text, start, end, "Phone number", False)


_DETECTORS: tuple[Callable[[str], Candidates], ...] = (
    _private_keys, _api_keys, _secrets, _cards, _ibans, _labelled_ids, _ssn_shapes, _emails, _addresses, _phones,
)
