"""Table-driven tests for the deterministic extractors: vault items, resources, core facts.

Each table pairs a realistic piece of text (OCR'd screen lines, chat messages,
window titles) with exactly what must come out of it, written as the text the
span covers, so a wrong span fails as loudly as a wrong type. The negative
tables hold the look-alikes: dates, times, versions, prices, order numbers,
numbers that fail their checksum, questions and other people's words.
"""
from __future__ import annotations

from typing import NamedTuple

import pytest

from agents.extract_core import find_core_facts
from agents.extract_resources import find_resources
from agents.extract_vault import find_vault_items, labelled_as_the_users
from agents.findings import Finding


class Case(NamedTuple):
    text: str
    expected: tuple[tuple[str, str], ...]  # (entry_type, the text its span covers)


def spans(text: str, findings: list[Finding]) -> list[tuple[str, str]]:
    return [(f.entry_type, text[f.start:f.end]) for f in findings]


# --- Vault items ------------------------------------------------------------------------

JWT = ("eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkFuYSJ9"
       ".SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c")
PEM = "-----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEA0Z3VS5JJcds3xfn\n-----END RSA PRIVATE KEY-----"

VAULT_CASES = [
    # E-mail and phone numbers.
    Case("From: Ana Lima <ana.lima@example.com>", (("email", "ana.lima@example.com"),)),
    Case("Contact: j.doe+invoices@mail.co.uk or call +351 912 345 678.",
         (("email", "j.doe+invoices@mail.co.uk"), ("phone", "+351 912 345 678"))),
    Case("Tel: 030 1234567 | Mobil 0171/2345678", (("phone", "030 1234567"), ("phone", "0171/2345678"))),
    Case("Call us at (415) 555-0132 or 1-800-555-0199 (toll free)",
         (("phone", "(415) 555-0132"), ("phone", "1-800-555-0199"))),
    Case("Fax: +44 (0)20 7946 0958", (("phone", "+44 (0)20 7946 0958"),)),
    Case("Rappelez-moi au 06 12 34 56 78 demain", (("phone", "06 12 34 56 78"),)),
    Case("WhatsApp 0049 30 901820", (("phone", "0049 30 901820"),)),
    Case("Phone: 4155550132", (("phone", "4155550132"),)),
    # Cards (Luhn and a real issuer prefix) and IBANs (mod-97 and the country's length).
    Case("Visa 4242 4242 4242 4242  exp 12/27", (("card", "4242 4242 4242 4242"),)),
    Case("Card number: 5555-5555-5555-4444", (("card", "5555-5555-5555-4444"),)),
    Case("Amex 3782 822463 10005 on file", (("card", "3782 822463 10005"),)),
    Case("card=6011111111111117;", (("card", "6011111111111117"),)),
    Case("IBAN: DE89 3704 0044 0532 0130 00  BIC: COBADEFFXXX", (("iban", "DE89 3704 0044 0532 0130 00"),)),
    Case("Pay to GB82WEST12345698765432 by Friday", (("iban", "GB82WEST12345698765432"),)),
    Case("NIB/IBAN PT50 0002 0123 1234 5678 9015 4", (("iban", "PT50 0002 0123 1234 5678 9015 4"),)),
    Case("FR14 2004 1010 0505 0001 3M02 606 (compte joint)", (("iban", "FR14 2004 1010 0505 0001 3M02 606"),)),
    # Identifiers next to their labels; the span is the value, never the label.
    Case("Passport No.: X1234567  Date of expiry: 2030-01-01", (("passport", "X1234567"),)),
    Case("my passport number is C01X00T47", (("passport", "C01X00T47"),)),
    Case("SSN: 123-45-6789", (("ssn", "123-45-6789"),)),
    Case("Social Security Number 078-05-1120", (("ssn", "078-05-1120"),)),
    Case("applicant 219-09-9999 approved", (("ssn", "219-09-9999"),)),
    Case("National Insurance number: AB 12 34 56 C", (("national_id", "AB 12 34 56 C"),)),
    Case("Driver's license #: D1234-56789-01234", (("drivers_license", "D1234-56789-01234"),)),
    Case("Tax ID: 12-3456789   VAT number: DE123456789", (("tax_id", "12-3456789"), ("tax_id", "DE123456789"))),
    Case("Policy number: POL-2024-558812", (("policy_number", "POL-2024-558812"),)),
    Case("Account No. 12345678  Sort code 12-34-56", (("account_number", "12345678"),)),
    Case("Customer number: 4711-0815", (("member_number", "4711-0815"),)),
    Case("Miles & More member no. 992 0047 1133", (("member_number", "992 0047 1133"),)),
    Case("Licence plate: B-MW 1234", (("license_plate", "B-MW 1234"),)),
    Case("NHS number 943 476 5919", (("health_id", "943 476 5919"),)),
    # Postal addresses.
    Case("Deliver to 221B Baker Street, London NW1 6XE today", (("address", "221B Baker Street, London NW1 6XE"),)),
    Case("HQ: 1600 Amphitheatre Parkway, Mountain View, CA 94043",
         (("address", "1600 Amphitheatre Parkway, Mountain View, CA 94043"),)),
    Case("Ship to: Apt 5C, 221 Baker Rd, Springfield IL 62704",
         (("address", "Apt 5C, 221 Baker Rd, Springfield IL 62704"),)),
    Case('"Home address: 14 Willow Lane, Bristol BS3 4QT",', (("home_address", "14 Willow Lane, Bristol BS3 4QT"),)),
    Case("Lieferadresse Hauptstraße 5, 10115 Berlin", (("address", "Hauptstraße 5, 10115 Berlin"),)),
    Case("Wir wohnen in der Berliner Straße 12a", (("address", "Berliner Straße 12a"),)),
    Case("Home address: Rua Augusta 45, 1100-048 Lisboa; phone +351 21 123 4567",
         (("home_address", "Rua Augusta 45, 1100-048 Lisboa"), ("phone", "+351 21 123 4567"))),
    # Secrets: passwords, PINs, one-time codes, keys, tokens.
    Case("wifi password: hunter2. Guest PIN 4821", (("password", "hunter2"), ("pin", "4821"))),
    Case("db_user=admin pw=S3cr3t!x", (("password", "S3cr3t!x"),)),
    Case("the password is 'Tr0ub4dor&3'", (("password", "Tr0ub4dor&3"),)),
    Case("Passphrase: correct horse battery staple", (("password", "correct horse battery staple"),)),
    Case("Your verification code is 482913. Don't share it.", (("otp", "482913"),)),
    Case("G-551238 is your Google verification code", (("otp", "G-551238"),)),
    Case("OTP: 739 104 (valid 5 min)", (("otp", "739 104"),)),
    Case("CVV 123", (("card_security_code", "123"),)),
    Case("export AWS_ACCESS_KEY_ID=AKIAIOSFODNN7EXAMPLE", (("api_key", "AKIAIOSFODNN7EXAMPLE"),)),
    Case("GITHUB_TOKEN=ghp_16C7e42F292c6912E7710c838347Ae178B4a",
         (("api_key", "ghp_16C7e42F292c6912E7710c838347Ae178B4a"),)),
    Case("slack: xoxb-2512345678-9876543210-AbCdEfGhIjKl",
         (("api_key", "xoxb-2512345678-9876543210-AbCdEfGhIjKl"),)),
    Case("OPENAI_API_KEY=sk-proj-4fT9xQ2mL8vZ1kR7pW3nB6yH0cJ5dE",
         (("api_key", "sk-proj-4fT9xQ2mL8vZ1kR7pW3nB6yH0cJ5dE"),)),
    Case("stripe.api_key = 'sk_live_4eC39HqLyjWDarjtT1zdp7dc'", (("api_key", "sk_live_4eC39HqLyjWDarjtT1zdp7dc"),)),
    Case("key=AIzaSyA1b2C3d4E5f6G7h8I9j0KlMnOpQrStUvW", (("api_key", "AIzaSyA1b2C3d4E5f6G7h8I9j0KlMnOpQrStUvW"),)),
    Case("api_key: f3a9c2e7b1d84a6f9e0c5b2a7d3e1f4c", (("api_key", "f3a9c2e7b1d84a6f9e0c5b2a7d3e1f4c"),)),
    Case("Authorization: Bearer 8xK2pQ9vR4mT7wZ1nB5c", (("token", "8xK2pQ9vR4mT7wZ1nB5c"),)),
    Case(f"Cookie: session={JWT}", (("token", JWT),)),
    Case(f"id_rsa:\n{PEM}\n", (("private_key", PEM),)),
    # A whole OCR'd checkout screen: many kinds at once, and no item counted twice.
    Case("Billing details\nName: Ana Lima\nE-mail: ana@example.com\nPhone: +49 30 901820\n"
         "Card: 4111 1111 1111 1111  CVC 737\nIBAN DE89370400440532013000",
         (("email", "ana@example.com"), ("phone", "+49 30 901820"), ("card", "4111 1111 1111 1111"),
          ("card_security_code", "737"), ("iban", "DE89370400440532013000"))),
]

VAULT_NEGATIVES = [
    "Released 2024-05-12 at 12:30, see v1.2.3 release notes",
    "Meeting 10:00-11:30 in room 4.12, dial-in pending",
    "Total: $1,299.00 (was $1,499.00), save 13%",
    "Order #112-4567890-1234567 has shipped",
    "Invoice 415-555-0132 is overdue",
    "ping 192.168.100.200 failed after 3 tries",
    "ISBN 978-3-16-148410-0, 2nd edition",
    "Build 2024.05.12-1, version 10.0.19045.3803",
    "timestamp 1715512345 and 06/12/2024 and 30.06.2024",
    "The years 1999-2004 and 2010-2015, page 12 of 345",
    "Card 4242 4242 4242 4241 was declined",               # fails Luhn
    "test pattern 0000 0000 0000 0000",                     # passes Luhn, no issuer has it
    "reference 1234 5678 9012 3452",                        # passes Luhn, no issuer starts with 1
    "IBAN DE89 3704 0044 0532 0130 01",                     # wrong checksum
    "IBAN DE89 3704 0044 0532 0130",                        # too short for Germany
    "my password is weak",
    "Password: ******** Forgot password?",
    # A label heading advice, or a word too short to be a password.
    "Password: Use a long one for the booking site.",
    "password: Use",
    "New password: Choose something you have not used elsewhere",
    "PIN required to continue",
    "error code 404, zip code 10115",
    "token: this_is_not_a_secret_at_all",
    "Spring 2024 collection, Platz 1 in the ranking",
    "logo@2x.png and icon@3x.png",
    "IP address: 10.0.0.12",
    "task-manager-window-1234567890abc",
    "+5 points, score 3-2",
    "passport photo booth on level 2",
    "2 Student 1 Math 79 80.4776818909336 =SUMIF(A:A,\"Student 1\",C:C)",  # Luhn-valid decimals
    "ratio 0,4242424242424242 and 3.078-05-1120",
    # Code on screen is not a secret.
    "def login(user, password: str) -> bool:",
    "def _write_wraps(self, data_key: bytes, passphrase: str, kdf: KdfParams, *,",
    'new = getpass.getpass("New passphrase: ")',
    "password = os.environ['DB_PASSWORD']; password: Optional[str] = None",
    "db.password = cfg.db.password  # password: ${DB_PASSWORD}",
]


@pytest.mark.parametrize("case", VAULT_CASES, ids=lambda c: c.text[:40])
def test_vault_items_are_found_with_their_spans(case: Case) -> None:
    findings = find_vault_items(case.text)
    assert spans(case.text, findings) == list(case.expected)
    assert all(f.kind == "vault" for f in findings)


@pytest.mark.parametrize("text", VAULT_NEGATIVES)
def test_look_alikes_are_not_vault_items(text: str) -> None:
    assert spans(text, find_vault_items(text)) == []


@pytest.mark.parametrize(("text", "value", "caption", "sensitive"), [
    ("Visa 4242 4242 4242 4242", "4242424242424242", "Card ending 4242", True),
    ("IBAN: DE89 3704 0044 0532 0130 00", "DE89370400440532013000", "IBAN ending 3000", True),
    ("ana@example.com", "ana@example.com", "E-mail address", False),
    ("Tel: +49 30 901820", "+49 30 901820", "Phone number", False),
    ("Passport No.: X1234567", "X1234567", "Passport number", True),
    ("SSN 123-45-6789", "123-45-6789", "Social Security number", True),
    ("Account number: 12345678", "12345678", "Account number", True),
    ("Tax ID: 12-3456789", "12-3456789", "Tax ID", True),
    ("Policy number: POL-2024-558812", "POL-2024-558812", "Policy number", False),
    ("Licence plate: B-MW 1234", "B-MW 1234", "Licence plate", False),
    ("221B Baker Street, London NW1 6XE", "221B Baker Street, London NW1 6XE", "Postal address", False),
    ("password: hunter2", "hunter2", "Password", True),
    ("Wi-Fi password: sunshine", "sunshine", "Password", True),
    ("PIN 4821", "4821", "PIN", True),
    ("your code is 123456", "123456", "One-time code", True),
    ("token ghp_16C7e42F292c6912E7710c838347Ae178B4a", "ghp_16C7e42F292c6912E7710c838347Ae178B4a",
     "API key (GitHub)", True),
    ("AKIAIOSFODNN7EXAMPLE", "AKIAIOSFODNN7EXAMPLE", "API key (AWS)", True),
])
def test_values_captions_and_sensitivity(text: str, value: str, caption: str, sensitive: bool) -> None:
    [finding] = find_vault_items(text)
    assert (finding.value, finding.caption, finding.sensitive) == (value, caption, sensitive)


@pytest.mark.parametrize("text, whose", [
    ("Postal address: Rua das Flores 12, 1200-195 Lisboa", False),        # a hotel's, in trip notes
    ("Casa do Alecrim\nRua das Flores 12, 1200-195 Lisboa", False),
    ("Address: 14 Elm Street, Springfield, IL 62704", False),
    ("My address:\n14 Elm Street, Springfield, IL 62704", False),        # a label on its own line is not read
    ("My address: 14 Elm Street, Springfield, IL 62704", True),
    ("Shipping address: 14 Elm Street, Springfield, IL 62704", True),
    ("Your billing address: 14 Elm Street, Springfield, IL 62704", True),
    ("Home address: 14 Elm Street", True),
    ("Lieferadresse: Hauptstraße 5, 10115 Berlin", True),
])
def test_an_address_on_screen_needs_a_label_saying_it_is_the_readers(text: str, whose: bool) -> None:
    [finding] = [f for f in find_vault_items(text) if "address" in f.entry_type]
    assert labelled_as_the_users(text, finding) == whose


def test_captions_never_hold_a_secret() -> None:
    text = ("pw: hunter22 card 4242 4242 4242 4242 IBAN DE89370400440532013000 PIN 4821 "
            "key AKIAIOSFODNN7EXAMPLE passport no. X1234567 your code is 482913")
    findings = find_vault_items(text)
    assert len(findings) == 7
    for finding in findings:
        assert finding.value not in finding.caption
        assert not any(ch.isdigit() for ch in finding.caption.replace(finding.value[-4:], ""))


# --- Resources --------------------------------------------------------------------------

class ResourceCase(NamedTuple):
    text: str
    title: str
    app: str
    expected: tuple[tuple[str, str, str], ...]  # (entry_type, value, caption)


RESOURCE_CASES = [
    ResourceCase("Docs at https://example.com/docs/page?id=3#top, more soon.", "", "",
                 (("url", "https://example.com/docs/page?id=3#top", "example.com"),)),
    ResourceCase("(see https://en.wikipedia.org/wiki/Foo_(bar)). Also www.python.org.", "", "",
                 (("url", "https://en.wikipedia.org/wiki/Foo_(bar)", "en.wikipedia.org"),
                  ("url", "www.python.org", "www.python.org"))),
    ResourceCase("mirror: ftp://ftp.debian.org/debian/ and [docs](https://docs.rs/regex)", "", "",
                 (("url", "ftp://ftp.debian.org/debian/", "ftp.debian.org"),
                  ("url", "https://docs.rs/regex", "docs.rs"))),
    ResourceCase("Saved to ~/Documents/notes.txt and /home/ana/projects/engram/README.md.", "", "",
                 (("file", "~/Documents/notes.txt", "notes.txt"),
                  ("file", "/home/ana/projects/engram/README.md", "README.md"))),
    ResourceCase(r"Opened C:\Users\Ana\My Documents\Q3 report.docx now", "", "",
                 (("file", r"C:\Users\Ana\My Documents\Q3 report.docx", "Q3 report.docx"),)),
    ResourceCase(r"copied C:\temp and D:\backup\x.txt", "", "",
                 (("file", r"C:\temp", "temp"), ("file", r"D:\backup\x.txt", "x.txt"))),
    ResourceCase("", "Q3 report.docx - LibreOffice Writer", "soffice",
                 (("document", "Q3 report.docx", "LibreOffice Writer"),)),
    ResourceCase("", "budget.xlsx — Excel", "", (("document", "budget.xlsx", "Excel"),)),
    ResourceCase("", "● README.md - engram - Visual Studio Code", "code",
                 (("document", "README.md", "Visual Studio Code"),)),
    ResourceCase("", "Design doc - Google Docs - Google Chrome", "chrome",
                 (("document", "Design doc", "Google Docs"),)),
    ResourceCase("", "Q3 - final draft.docx [Compatibility Mode] - Word", "",
                 (("document", "Q3 - final draft.docx", "Word"),)),
    ResourceCase("", "paper.pdf", "evince", (("document", "paper.pdf", "evince"),)),
    ResourceCase("", "notes.txt (~/Documents) - gedit", "",
                 (("file", "~/Documents", "Documents"), ("document", "notes.txt", "gedit"))),
    # URLs in the title count; the same URL in text and title is one resource.
    ResourceCase("reading https://news.ycombinator.com/ now", "https://news.ycombinator.com/ - Mozilla Firefox", "",
                 (("url", "https://news.ycombinator.com/", "news.ycombinator.com"),)),
    ResourceCase("", "Pull request #12 · https://github.com/org/repo/pull/12 - Chromium", "",
                 (("url", "https://github.com/org/repo/pull/12", "github.com"),)),
]

RESOURCE_NEGATIVES = [
    ResourceCase("dates 12/05/2024 and/or 1/2 km/h /s", "", "", ()),
    ResourceCase("e-mail ana@example.com, version v1.2.3", "", "", ()),
    ResourceCase("", "GitHub - Mozilla Firefox", "", ()),
    ResourceCase("", "Untitled 1 - LibreOffice Writer", "", ()),
    ResourceCase("", "Document1 - Word", "", ()),
    ResourceCase("", "New Tab - Google Chrome", "", ()),
    ResourceCase("", "Terminal", "gnome-terminal", ()),
    ResourceCase("", "Inbox (3) - ana@example.com - Gmail", "", ()),
]


@pytest.mark.parametrize("case", RESOURCE_CASES + RESOURCE_NEGATIVES, ids=lambda c: (c.text or c.title)[:40])
def test_resources(case: ResourceCase) -> None:
    findings = find_resources(case.text, case.title, case.app)
    assert [(f.entry_type, f.value, f.caption) for f in findings] == list(case.expected)
    assert all(f.kind == "resource" and not f.sensitive for f in findings)


def test_resource_spans_point_into_text_or_title() -> None:
    text, title = "see https://example.com/a.", "notes.md - Obsidian"
    url, document = find_resources(text, title)
    assert text[url.start:url.end] == "https://example.com/a"
    assert title[document.start:document.end] == "notes.md"


# --- Core facts -------------------------------------------------------------------------

CORE_CASES = [
    Case("Hi! My name is Ana Lima and I live in Lisbon.",
         (("name", "Name: Ana Lima"), ("home", "Lives in Lisbon"))),
    Case("Call me Ana. I'm based in the Netherlands", (("name", "Name: Ana"), ("home", "Lives in the Netherlands"))),
    Case("I’m called Zoë Müller", (("name", "Name: Zoë Müller"),)),
    Case("We finally did it: I moved to Berlin in 2019.", (("home", "Lives in Berlin"),)),
    Case("I work at Spotify as well", (("work", "Works at Spotify"),)),
    Case("I work as a nurse at St. Mary's Hospital", (("work", "Works as a nurse at St. Mary's Hospital"),)),
    Case("I'm a product designer at Spotify", (("work", "Works as a product designer at Spotify"),)),
    Case("For flights I prefer window seats.", (("preference", "Prefers window seats"),)),
    Case("These days I live in Porto", (("home", "Lives in Porto"),)),
    Case("I like also cheese pizza and prosciutto.", (("preference", "Likes cheese pizza and prosciutto"),)),
    Case("Yes, I really love cats, and they need a home", (("preference", "Loves cats"),)),
    Case("I love hiking. I hate Mondays", (("preference", "Loves hiking"), ("preference", "Hates Mondays"))),
    Case("I'm allergic to peanuts, so no satay please", (("allergy", "Allergic to peanuts"),)),
    Case("I have a severe shellfish allergy", (("allergy", "Allergic to shellfish"),)),
    Case("I'm vegetarian and my partner is vegan", (("diet", "Vegetarian"),)),
    Case("My birthday is on 12 May.", (("birthday", "Birthday: 12 May"),)),
    Case("I was born on 3rd of March 1990", (("birthday", "Birthday: 3rd of March 1990"),)),
    Case("My wife is called Maria and my dog's name is Rex",
         (("family", "Wife: Maria"), ("pet", "Dog: Rex"))),
    Case("my daughter's name is Inês", (("family", "Daughter: Inês"),)),
    Case("I speak English, Portuguese and some French.",
         (("language", "Speaks English, Portuguese and some French"),)),
    Case("Tom: I live in Paris\nMe: I live in Lisbon", (("home", "Lives in Lisbon"),)),
]

CORE_NEGATIVES = [
    "what is my name?",
    "Do I live in Berlin",
    "where do I work again",
    "if I lived in Paris I would learn French",
    "I'd like a coffee, please",
    "I would prefer the aisle this time",
    "I don't live in Paris anymore",
    "I no longer work at Google",
    "I'm not allergic to anything",
    'She said "I live in Paris"',
    "Tom told me he is allergic to cats",
    "Tom: I work at Google",
    "I think I'm allergic to cats",
    "I love you. I like the idea. I hate this song",
    "Being my own boss and doing something I love is awesome!",   # a relative clause, not a taste
    "Thanks, John! I love making him happy. I really love having them around",
    "I love taking walks on this nearby trail",
    "call me tomorrow, or call me Monday",
    "my dad is French",
    "I'm a big fan of Arsenal",
    "I'm a vegetarian restaurant owner's son",
    "I live in a small flat",
    "My birthday is next week",
    "you live in Lisbon",
    # A chat's own lines pasted or glued into a message: from the header on, someone else's words.
    "look what came up\n02/01/2026, 10:01 - Tom: My name is Tom Berg\nI live in Oslo",
    "see:\n[2/1/26, 10:01:07] Tom: I live in Oslo",
]


@pytest.mark.parametrize("case", CORE_CASES, ids=lambda c: c.text[:40])
def test_core_facts(case: Case) -> None:
    findings = find_core_facts(case.text)
    assert [(f.entry_type, f.value) for f in findings] == list(case.expected)
    assert all(f.kind == "core" and not f.sensitive and f.caption for f in findings)


@pytest.mark.parametrize("text", CORE_NEGATIVES)
def test_no_core_fact_from_questions_hypotheticals_negations_or_others(text: str) -> None:
    assert find_core_facts(text) == []


def test_core_fact_span_covers_the_statement() -> None:
    text = "Anyway. My name is Ana Lima, nice to meet you"
    [fact] = find_core_facts(text)
    assert text[fact.start:fact.end] == "My name is Ana Lima"


@pytest.mark.parametrize("speaker", ["assistant", "system", "ChatGPT"])
def test_an_assistant_states_no_facts_about_the_user(speaker: str) -> None:
    assert find_core_facts("I live in Lisbon and I speak Portuguese", speaker=speaker) == []


@pytest.mark.parametrize("speaker", ["", "user", "Ana"])
def test_the_user_as_speaker_states_facts(speaker: str) -> None:
    assert [f.value for f in find_core_facts("I live in Lisbon", speaker=speaker)] == ["Lives in Lisbon"]
