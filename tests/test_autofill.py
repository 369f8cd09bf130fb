"""Autofill: label variants, value shapes, unknown fields, and real-looking HTML forms."""
from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

import pytest

from agents.autofill import fill, understand
from agents.form_reader import read_form
from agents.managers.core import CoreManager
from storage.memory import Memory, Trust

FORMS = Path(__file__).parent / "data" / "forms"
OLD = datetime(2024, 1, 1, tzinfo=timezone.utc)
NEW = datetime(2026, 1, 1, tzinfo=timezone.utc)


def vault(entry_type: str, secret: str, trust: Trust = Trust.USER, when: datetime = NEW) -> Memory:
    return Memory(kind="vault", text=entry_type, secret=secret, trust=trust, time=when,
                  fields={"entry_type": entry_type, "sensitivity": "high"})


TABLE = json.loads((Path(__file__).parent / "data" / "autofill_labels.json").read_text(encoding="utf-8"))
ME = Memory(kind="core", text="", id=CoreManager.memory_id, fields={"block": "human", "facts": TABLE["core_facts"]})
VAULT = [vault(v["entry_type"], v["secret"], Trust(v["trust"])) for v in TABLE["vault"]] + \
    [vault("email", "ana@old-job.example", Trust.OBSERVED, OLD)]


@pytest.mark.parametrize("case", TABLE["cases"], ids=lambda case: case["label"])
def test_label_variants_get_the_right_value_in_the_right_shape_or_none(case: dict[str, str | None]) -> None:
    [result] = fill([str(case["label"])], ME, VAULT)
    assert result.value == case["expected"], result
    if case["expected"] is None:
        assert result.alternatives == []


def test_the_most_trusted_then_newest_value_wins_and_the_others_are_alternatives() -> None:
    [email] = fill(["E-mail"], ME, VAULT)
    assert email.value == "ana.lima@example.com" and email.alternatives == ["ana@old-job.example"]
    newer_but_observed = [*VAULT, vault("email", "spam@example.org", Trust.OBSERVED, datetime(2026, 6, 1, tzinfo=timezone.utc))]
    assert fill(["E-mail"], ME, newer_but_observed)[0].value == "ana.lima@example.com"


def test_a_known_field_without_a_value_says_so() -> None:
    [result] = fill(["Social security number"], ME, VAULT)
    assert result.field == "ssn" and result.value is None
    assert understand("Driver's license number") == "drivers_license"


def test_the_form_reader_finds_labels_the_way_browsers_do() -> None:
    fields = read_form((FORMS / "checkout.html").read_text(encoding="utf-8"))
    assert [(f.key, f.label) for f in fields] == [
        ("billing_first_name", "First name"),          # <label for>
        ("billing_last_name", "Last name"),
        ("billing_email", "Email address"),            # aria-label
        ("billing_phone", "Phone"),                    # wrapping <label>
        ("ship[address_1]", "Street address"),         # aria-labelledby
        ("ship[postcode]", "ZIP / Postal code"),       # placeholder
        ("shipCity", "ship City"),                     # the name, made readable
        ("ship[country]", "ship country"),
        ("dob", "Date of birth"),
        ("coupon", "Coupon code"),
    ]
    values = {r.label: r.value for r in fill([f.label for f in fields], ME, VAULT)}
    assert values["First name"] == "Ana" and values["ZIP / Postal code"] == "1200-195"
    assert values["ship City"] == "Lisboa" and values["Coupon code"] is None


@pytest.mark.slow
def test_cli_autofill_after_unlock(home: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    import io

    from app.cli import main
    from conftest import PASSPHRASE

    (home / "config.toml").write_text("[security]\nkdf_target_seconds = 0.01\n")
    monkeypatch.setenv("ENGRAM_PASSPHRASE", PASSPHRASE)
    monkeypatch.setattr("sys.stdin", io.StringIO(""))
    assert main(["init"]) == 0
    jsonl = home / "me.jsonl"
    jsonl.write_text(json.dumps({"time": "2026-01-02T10:00:00Z", "speaker": "Ana",
                                 "text": "My name is Ana Lima and my e-mail is ana.lima@example.com"}) + "\n")
    (home / "config.toml").write_text("[security]\nkdf_target_seconds = 0.01\n[agents]\nuser_names = [\"Ana\"]\n")
    assert main(["import", "jsonl", str(jsonl)]) == 0
    capsys.readouterr()
    assert main(["autofill", "--fields", "First name,E-mail,Shoe size", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["First name"]["value"] == "Ana" and out["E-mail"]["value"] == "ana.lima@example.com"
    assert out["Shoe size"]["value"] is None
    assert main(["autofill", "--form", str(FORMS / "checkout.html")]) == 0
    text = capsys.readouterr().out
    assert "First name" in text and "Ana" in text and "(not known)" in text
    log_text = "".join(p.read_text() for p in (home / "logs").glob("*"))
    assert "ana.lima" not in log_text and "Lima" not in log_text


def test_a_value_only_seen_on_screen_is_offered_once_the_user_confirmed_it() -> None:
    seen = vault("address", "Rua das Flores 12, 1200-195 Lisboa", Trust.OBSERVED)
    seen.tags, seen.title = ["seen-on-screen"], "trip_notes.txt - less"
    assert [r.value for r in fill(["Street address", "ZIP"], None, [seen])] == [None, None]
    seen.trust = Trust.USER  # the user's edit in the memory browser vouches for it
    assert [r.value for r in fill(["Street address", "ZIP"], None, [seen])] == ["Rua das Flores 12", "1200-195"]
