"""Masking: no sensitive value survives, everything around it does, and only a last four is ever shown."""
from __future__ import annotations

from typing import NamedTuple

import pytest

from agents.findings import Finding
from agents.redaction import mask, placeholder, redact


class Case(NamedTuple):
    text: str
    masked: str
    secrets: tuple[str, ...]  # none of these may appear in the masked text


CASES = [
    Case("wifi password: hunter2. Guest PIN 4821",
         "wifi password: [password]. Guest PIN [PIN]", ("hunter2", "4821")),
    Case("Visa 4242 4242 4242 4242 exp 12/27 CVV 123",
         "Visa [card •••• 4242] exp 12/27 CVV [card security code]", ("4242 4242 4242", "123")),
    Case("IBAN: DE89 3704 0044 0532 0130 00, thanks!",
         "IBAN: [IBAN •••• 3000], thanks!", ("DE89", "3704 0044 0532")),
    Case("Account No. 12345678 at Sparkasse", "Account No. [account number •••• 5678] at Sparkasse", ("1234",)),
    Case("Account #58213 closed", "Account #[account number] closed", ("58213",)),
    Case("Passport No.: X1234567, SSN 123-45-6789",
         "Passport No.: [passport number], SSN [SSN]", ("X1234567", "123-45-6789", "4567", "6789")),
    Case("Your verification code is 482913. Do not share it.",
         "Your verification code is [one-time code]. Do not share it.", ("482913",)),
    Case("export GITHUB_TOKEN=ghp_16C7e42F292c6912E7710c838347Ae178B4a && make",
         "export GITHUB_TOKEN=[API key] && make", ("ghp_", "B4a")),
    Case("-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----\nok",
         "[private key]\nok", ("b3BlbnNzaC1rZXktdjEAAAAA", "BEGIN")),
    # Non-sensitive items stay readable; they go to the vault without being hidden.
    Case("Mail ana@example.com or call +49 30 901820, card 5555 5555 5555 4444",
         "Mail ana@example.com or call +49 30 901820, card [card •••• 4444]", ("5555",)),
    Case("Nothing to hide here, see you at 12:30.", "Nothing to hide here, see you at 12:30.", ()),
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.text[:30])
def test_redact_masks_secrets_and_keeps_the_rest(case: Case) -> None:
    masked, findings = redact(case.text)
    assert masked == case.masked
    for secret in case.secrets:
        assert secret not in masked
    for finding in findings:
        if finding.sensitive:
            assert finding.value not in masked


def test_redact_returns_every_vault_item_including_readable_ones() -> None:
    _, findings = redact("ana@example.com, password: hunter2")
    assert [(f.entry_type, f.sensitive) for f in findings] == [("email", False), ("password", True)]


def test_masking_twice_changes_nothing_and_finds_no_more_secrets() -> None:
    masked, _ = redact("card 4242 4242 4242 4242, pw=S3cr3t!x, IBAN GB82WEST12345698765432")
    again, findings = redact(masked)
    assert again == masked
    assert not any(f.sensitive for f in findings)


def secret(start: int, end: int, entry_type: str = "password", value: str = "x") -> Finding:
    return Finding("vault", entry_type, value, start, end, "", True)


TEXT = "user ana pass abcdef and pin 9876 end"  # abcdef at 14-20, 9876 at 29-33


@pytest.mark.parametrize(("findings", "expected"), [
    # Any order.
    ([secret(29, 33, "pin"), secret(14, 20)], "user ana pass [password] and pin [PIN] end"),
    # Overlapping and nested spans become one placeholder, named after the longer finding.
    ([secret(14, 18), secret(16, 20, "token"), secret(15, 17, "pin")], "user ana pass [password] and pin 9876 end"),
    ([secret(14, 17, "pin"), secret(14, 33, "api_key")], "user ana pass [API key] end"),
    # Touching spans stay separate.
    ([secret(14, 17), secret(17, 20, "pin")], "user ana pass [password][PIN] and pin 9876 end"),
    # Spans past the end are clamped; non-sensitive findings are left alone.
    ([secret(29, 99, "pin"), Finding("vault", "email", "ana", 5, 8, "", False)], "user ana pass abcdef and pin [PIN]"),
    # A sensitive finding without a span is masked wherever its value appears.
    ([secret(0, 0, value="abcdef")], "user ana pass [password] and pin 9876 end"),
    ([], TEXT),
])
def test_mask_handles_order_overlaps_and_bad_spans(findings: list[Finding], expected: str) -> None:
    assert mask(TEXT, findings) == expected


@pytest.mark.parametrize(("entry_type", "value", "expected"), [
    ("card", "4242424242424242", "[card •••• 4242]"),
    ("iban", "DE89370400440532013000", "[IBAN •••• 3000]"),
    ("account_number", "12-345-678", "[account number •••• 5678]"),
    ("account_number", "58213", "[account number]"),  # four of five would give it away
    ("password", "hunter2", "[password]"),
    ("otp", "482913", "[one-time code]"),
    ("api_key", "AKIAIOSFODNN7EXAMPLE", "[API key]"),
    ("passport", "X1234567", "[passport number]"),
    ("something_new", "42424242", "[something new]"),
])
def test_placeholders_show_at_most_the_last_four(entry_type: str, value: str, expected: str) -> None:
    assert placeholder(Finding("vault", entry_type, value, 0, len(value), "", True)) == expected
