"""Chat-history import: every format's parser, idempotence and all-or-nothing on a real store, the CLI."""
from __future__ import annotations

import io
import json
import re
from datetime import datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from agents.importers import FORMATS, ImportFailed, import_file
from storage.memory import Memory, Trust
from storage.store import MemoryStore

from conftest import PASSPHRASE, shared_dir

DATA = Path(__file__).parent / "data" / "imports"
ANDROID = DATA / "WhatsApp Chat with Hiking Club.txt"
IOS = DATA / "WhatsApp Chat - Mara Lindqvist" / "_chat.txt"
BOM_CRLF = DATA / "WhatsApp Chat with Oskar Nilsson.txt"
SAMPLES = [("chatgpt", DATA / "conversations.json", 7), ("whatsapp", ANDROID, 6), ("whatsapp", IOS, 5),
           ("whatsapp", BOM_CRLF, 3), ("telegram", DATA / "result.json", 6), ("jsonl", DATA / "chat.jsonl", 3),
           ("locomo", DATA / "locomo_tiny.json", 5)]
UTC = timezone.utc
BERLIN = ZoneInfo("Europe/Berlin")


def parse(fmt: str, path: Path, tz: object = UTC) -> list[Memory]:
    return FORMATS[fmt].parse(path, tz)  # type: ignore[arg-type]


def said(memories: list[Memory]) -> list[tuple[str, str]]:
    return [(m.fields["speaker"], m.text) for m in memories]


# -- what every format shares ----------------------------------------------------------


@pytest.mark.parametrize("fmt,path,count", SAMPLES, ids=lambda v: v.name if isinstance(v, Path) else str(v))
def test_every_sample_gives_imported_messages_oldest_first_with_stable_ids(fmt: str, path: Path, count: int) -> None:
    memories = parse(fmt, path)
    assert len(memories) == count
    assert all(m.kind == "message" and m.trust == Trust.IMPORTED and m.source_kind == "import" for m in memories)
    assert all(m.text and m.fields["speaker"] and m.fields["conversation"] for m in memories)
    assert [m.time for m in memories] == sorted(m.time for m in memories)
    assert all(re.fullmatch(r"[0-9a-f]{32}", m.id) for m in memories)
    assert len({m.id for m in memories}) == count
    # Ids do not depend on the zone times are read in: a re-import with another --tz finds the same turns.
    assert {m.id for m in parse(fmt, path, BERLIN)} == {m.id for m in memories}
    assert not any("\u200e" in m.text or "\r" in m.text or "\ufeff" in m.fields["speaker"] for m in memories)


# -- ChatGPT ---------------------------------------------------------------------------


def test_chatgpt_takes_the_active_branch_and_only_words() -> None:
    memories = parse("chatgpt", DATA / "conversations.json")
    assert [m.title for m in memories] == ["Lisbon neighbourhoods"] * 4 + ["Sourdough starter"] * 3
    assert [s for s, _ in said(memories)] == ["You", "ChatGPT", "You", "ChatGPT", "You", "ChatGPT", "ChatGPT"]
    texts = [t for _, t in said(memories)]
    assert "Which one is best for someone who hates hills?" in texts
    assert "Which one is cheapest?" not in texts and "Usually Arroios or Anjos." not in texts  # the abandoned branch
    assert texts[4] == "There is a grey layer on top of my sourdough starter. Is it mould?"  # image part dropped
    assert not any("hooch check" in t for t in texts)  # code run and tool output
    assert memories[0].time == datetime.fromtimestamp(1696150800.123, UTC)
    assert {m.app for m in memories} == {"ChatGPT"}


def test_chatgpt_without_current_node_follows_the_newest_branch(tmp_path: Path) -> None:
    data = json.loads((DATA / "conversations.json").read_text(encoding="utf-8"))
    for conversation in data:
        del conversation["current_node"]
    path = tmp_path / "conversations.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    assert said(parse("chatgpt", path)) == said(parse("chatgpt", DATA / "conversations.json"))


# -- WhatsApp --------------------------------------------------------------------------


def test_whatsapp_android_month_first_12_hour() -> None:
    memories = parse("whatsapp", ANDROID, ZoneInfo("America/Chicago"))
    assert said(memories)[:3] == [
        ("Priya Raman", "Morning all! Saturday hike is on 🥾"),
        ("Priya Raman", "Meeting point: the north trailhead parking lot.\nBring water and a snack.\n\n"
                        "Carpool sign-up is in the pinned note"),
        ("Tomás Ferreira", "Count me in"),
    ]
    # Skipped: the encryption notice, "created group", "added", <Media omitted>, a subject
    # change with a colon inside quotes, and a deleted message.
    assert [s for s, _ in said(memories)[3:]] == ["Lena Okafor", "Priya Raman", "Tomás Ferreira"]
    assert memories[-1].text == "Great hike today, thanks everyone!"  # the "edited" marker is not the user's words
    assert memories[3].time == datetime(2024, 1, 15, 18, 45, tzinfo=ZoneInfo("America/Chicago"))
    assert memories[1].time - memories[0].time == timedelta(milliseconds=1)  # same minute, order kept
    assert {m.title for m in memories} == {"Hiking Club"} and {m.app for m in memories} == {"WhatsApp"}


def test_whatsapp_months_and_days_of_one_or_two_digits_are_one_format(tmp_path: Path) -> None:
    """US Android phones do not pad: a chat running from September into October changes the first field from
    one digit to two, and every line after that was dropped as "another phone's format"."""
    path = tmp_path / "chat.txt"
    path.write_text("9/29/23, 9:41 PM - Ana: one\n9/30/23, 11:02 PM - Ben: two\n10/1/23, 8:15 AM - Ana: three\n"
                    "10/12/23, 10:30 AM - Ben: four\n", encoding="utf-8")
    memories = parse("whatsapp", path, ZoneInfo("America/New_York"))
    assert said(memories) == [("Ana", "one"), ("Ben", "two"), ("Ana", "three"), ("Ben", "four")]
    assert memories[-1].time == datetime(2023, 10, 12, 10, 30, tzinfo=ZoneInfo("America/New_York"))


def test_whatsapp_ios_day_first_24_hour_with_seconds() -> None:
    memories = parse("whatsapp", IOS, BERLIN)
    assert said(memories) == [
        ("Mara Lindqvist", "Did you get the keys from the landlord?"),
        ("Jonas Berg", "Yes! Picked them up yesterday.\nThey gave us two sets."),
        ("Jonas Berg", "The mailbox key is separate"),
        ("Mara Lindqvist", "Movers come at 9 on the 14th"),
        ("Jonas Berg", "They're here 🚚"),
    ]
    assert memories[0].time == datetime(2024, 2, 3, 8, 14, 55, tzinfo=BERLIN)
    assert memories[-1].time == datetime(2024, 2, 14, 9, 2, 11, tzinfo=BERLIN)
    assert memories[0].title == "Mara Lindqvist"  # iOS names every export _chat.txt: the folder names the chat


def test_whatsapp_byte_order_mark_and_windows_line_ends() -> None:
    memories = parse("whatsapp", BOM_CRLF, BERLIN)
    assert said(memories) == [("Oskar Nilsson", "Happy new year from Tromsø!"),
                              ("Wen Zhao", "Happy new year! 🎆\nCan you see the northern lights?"),
                              ("Oskar Nilsson", "Only clouds tonight")]
    assert memories[-1].time == datetime(2024, 1, 1, 0, 4, tzinfo=BERLIN)


@pytest.mark.parametrize("dates,expected_month", [
    (["05/06/24", "07/06/24"], 6),          # nothing decides: day first
    (["1/2/24", "1/3/24", "2/2/24"], 1),    # only month first runs forward: Jan 2, Jan 3, Feb 2
    (["2024-06-05", "2024-06-07"], 6),      # year first
])
def test_whatsapp_day_or_month_first_when_no_field_is_above_12(tmp_path: Path, dates: list[str],
                                                               expected_month: int) -> None:
    path = tmp_path / "chat.txt"
    path.write_text("".join(f"{d}, 10:0{i} - Ana: message {i}\n" for i, d in enumerate(dates)), encoding="utf-8")
    assert parse("whatsapp", path)[0].time.month == expected_month


def test_whatsapp_failures_name_the_line_not_its_words(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("Dear diary, my PIN is 4321\n", encoding="utf-8")
    with pytest.raises(ImportFailed, match="line 1: no date at the start") as caught:
        parse("whatsapp", path)
    assert "4321" not in str(caught.value) and "nothing was imported" in str(caught.value)
    path.write_text("12/01/2024, 10:00 - Ana: fine\n31/02/2024, 10:01 - Ana: my PIN is 4321\n", encoding="utf-8")
    with pytest.raises(ImportFailed, match="line 2: not a valid date") as caught:
        parse("whatsapp", path)
    assert "4321" not in str(caught.value)
    path.write_text("12/01/2024, 10:00 - Messages and calls are end-to-end encrypted.\n", encoding="utf-8")
    with pytest.raises(ImportFailed, match="no chat messages"):
        parse("whatsapp", path)


# -- Telegram --------------------------------------------------------------------------


def test_telegram_full_export_joins_entities_and_skips_service_and_media() -> None:
    memories = parse("telegram", DATA / "result.json")
    assert said(memories) == [
        ("Kalani Akana", "March pick: The Left Hand of Darkness. We meet on the 28th."),
        ("Deleted Account", "Sorry, can't make it tonight"),
        ("Ines Duarte", "Are we still on for the climbing gym tomorrow?"),
        ("Rui Santos", "Yes! 6pm?"),
        ("Ines Duarte", "Route list is here: https://example.org/routes — the blue ones are new"),
        ("Rui Santos", "Forearms are gone 😅"),
    ]
    assert [m.title for m in memories] == ["Book Club"] * 2 + ["Ines Duarte"] * 4
    lisbon = ZoneInfo("Europe/Lisbon")  # where the made-up export was written; date_unixtime wins over date
    assert memories[2].time == datetime(2024, 4, 2, 19, 15, 3, tzinfo=lisbon)
    assert memories[3].time == memories[2].time + timedelta(milliseconds=1)


def test_telegram_single_chat_and_old_exports_without_unix_times(tmp_path: Path) -> None:
    chat = json.loads((DATA / "result.json").read_text(encoding="utf-8"))["chats"]["list"][0]
    for message in chat["messages"]:
        del message["date_unixtime"]
    path = tmp_path / "result.json"
    path.write_text(json.dumps(chat), encoding="utf-8")
    memories = parse("telegram", path, BERLIN)
    assert len(memories) == 4 and {m.title for m in memories} == {"Ines Duarte"}
    assert memories[0].time == datetime(2024, 4, 2, 19, 15, 3, tzinfo=BERLIN)


def test_the_export_structure_not_a_display_name_says_which_lines_are_the_users(tmp_path: Path) -> None:
    chatgpt = parse("chatgpt", DATA / "conversations.json")
    assert [m.tags for m in chatgpt][:2] == [["from:user"], ["from:other"]]
    full = parse("telegram", DATA / "result.json")  # personal_information names the account: Rui Santos
    assert [(s, m.tags) for m, (s, _) in zip(full, said(full)) if s != "Deleted Account"][1:] == [
        ("Ines Duarte", ["from:other"]), ("Rui Santos", ["from:user"]),
        ("Ines Duarte", ["from:other"]), ("Rui Santos", ["from:user"])]
    # One chat exported alone: a personal chat's id is the other person's.
    chat = json.loads((DATA / "result.json").read_text(encoding="utf-8"))["chats"]["list"][0]
    (tmp_path / "result.json").write_text(json.dumps(chat), encoding="utf-8")
    assert [m.tags for m in parse("telegram", tmp_path / "result.json")] == [["from:other"], ["from:user"]] * 2
    # WhatsApp says who wrote a line only by name: the user's configured names decide later.
    assert all(m.tags == [] for m in parse("whatsapp", ANDROID))


# -- JSON Lines ------------------------------------------------------------------------


def test_jsonl_iso_offsets_unix_seconds_and_blank_lines() -> None:
    memories = parse("jsonl", DATA / "chat.jsonl", BERLIN)
    assert said(memories) == [("Noor", "Standup moved to 9:15 today"), ("Felix", "Thanks, noted"),
                              ("Noor", "Reminder: dentist on Thursday")]
    assert memories[0].time == datetime(2024, 5, 6, 8, 30, tzinfo=BERLIN)
    assert memories[1].time == datetime(2024, 5, 6, 6, 31, 20, tzinfo=UTC)
    assert memories[2].time == datetime.fromtimestamp(1714983600, UTC)
    assert memories[2].fields["conversation"] == "chat"  # no conversation given: the file's name


@pytest.mark.parametrize("line,problem", [
    ('{"time": "2024-05-06T08:30", "speaker": "Noor", "text": "PIN 4321"', "line 2: column .*not valid JSON"),
    ('{"time": "next tuesday", "speaker": "Noor", "text": "PIN 4321"}', "line 2: 'time' is neither"),
    ('{"time": 1714983600, "text": "PIN 4321"}', "line 2: no 'speaker'"),
    ('["PIN 4321"]', "line 2: expected a JSON object"),
])
def test_jsonl_bad_lines(tmp_path: Path, line: str, problem: str) -> None:
    path = tmp_path / "chat.jsonl"
    path.write_text('{"time": 1714983600, "speaker": "Noor", "text": "ok"}\n' + line + "\n", encoding="utf-8")
    with pytest.raises(ImportFailed, match=problem) as caught:
        parse("jsonl", path)
    assert "4321" not in str(caught.value)


# -- LoCoMo ----------------------------------------------------------------------------


def test_locomo_keeps_dia_ids_and_spreads_turns_after_the_session_time() -> None:
    memories = parse("locomo", DATA / "locomo_tiny.json", BERLIN)
    assert [m.tags for m in memories] == [["dia:D1:1"], ["dia:D1:2"], ["dia:D1:3"], ["dia:D2:1"], ["dia:D2:2"]]
    assert {m.fields["conversation"] for m in memories} == {"tiny-1"}
    assert memories[0].time == datetime(2023, 3, 4, 19, 5, tzinfo=BERLIN)
    assert memories[2].time == datetime(2023, 3, 4, 19, 5, 10, tzinfo=BERLIN)
    assert memories[3].time == datetime(2023, 3, 19, 10, 12, tzinfo=BERLIN)
    assert memories[2].text.endswith("[image: a photo of a lopsided clay bowl on a wheel]")


def test_the_real_locomo_file_parses_every_turn() -> None:
    path = shared_dir() / "data" / "locomo" / "locomo10.json"
    samples = json.loads(path.read_text(encoding="utf-8"))
    memories = parse("locomo", path)
    expected = {s["sample_id"]: [t["dia_id"] for key, turns in s["conversation"].items()
                                 if re.fullmatch(r"session_\d+", key) for t in turns] for s in samples}
    assert len(expected) == 10 and len(memories) == sum(map(len, expected.values())) == 5882
    for sample_id, dia_ids in expected.items():
        turns = [m for m in memories if m.fields["conversation"] == sample_id]
        assert [m.tags for m in turns] == [[f"dia:{d}"] for d in dia_ids]


# -- through a real store --------------------------------------------------------------


@pytest.mark.parametrize("fmt,path,count", SAMPLES, ids=lambda v: v.name if isinstance(v, Path) else str(v))
def test_importing_twice_adds_nothing_the_second_time(store: MemoryStore, fmt: str, path: Path, count: int) -> None:
    embedder, reports = store.embedder, []
    first = import_file(store, fmt, path, progress=lambda done, total: reports.append((done, total)))
    assert (first.read, first.new, first.already_present) == (count, count, 0)
    assert reports[0] == (0, count) and reports[-1] == (count, count)
    assert store.embedder is embedder
    second = import_file(store, fmt, path)
    assert (second.read, second.new, second.already_present) == (count, 0, count)
    assert store.count("message") == count
    assert (second.first, second.last) == (first.first, first.last)


def test_stored_messages_read_back_whole(store: MemoryStore) -> None:
    summary = import_file(store, "whatsapp", IOS, tz=BERLIN)
    assert summary.conversations == 1
    assert summary.first == datetime(2024, 2, 3, 8, 14, 55, tzinfo=BERLIN)
    stored = store.list_range(kinds=["message"])
    assert said(stored) == said(parse("whatsapp", IOS))
    assert stored[0].app == "WhatsApp" and stored[0].title == "Mara Lindqvist" and stored[0].trust == Trust.IMPORTED
    assert store.search("landlord keys").hits[0].id == stored[0].id


def test_a_large_import_reports_progress_in_slices_and_commits_once(store: MemoryStore, tmp_path: Path) -> None:
    path = tmp_path / "big.jsonl"
    path.write_text("".join(json.dumps({"time": 1714983600 + i, "speaker": "Bot", "text": f"line number {i}"}) + "\n"
                            for i in range(1200)), encoding="utf-8")
    versions = len(store.table.list_versions())
    reports: list[tuple[int, int]] = []
    summary = import_file(store, "jsonl", path, progress=lambda done, total: reports.append((done, total)))
    assert summary.new == 1200 and summary.conversations == 1
    # Each turn is embedded alone and with its neighbours: 2,400 texts in slices of 512.
    assert reports == [(0, 1200), (256, 1200), (512, 1200), (768, 1200), (1024, 1200), (1200, 1200)]
    assert len(store.table.list_versions()) - versions <= 2  # one add (plus the first index build), not 1200
    # A later export holding the same turns and some new ones adds only the new ones.
    with path.open("a", encoding="utf-8") as more:
        more.write(json.dumps({"time": 1714990000, "speaker": "Bot", "text": "a new line"}) + "\n")
    assert import_file(store, "jsonl", path).new == 1


def _truncated(tmp_path: Path) -> Path:
    text = (DATA / "conversations.json").read_text(encoding="utf-8")
    path = tmp_path / "conversations.json"
    path.write_text(text[: len(text) // 2], encoding="utf-8")
    return path


def _latin1(tmp_path: Path) -> Path:
    path = tmp_path / "WhatsApp Chat with Tomás.txt"
    path.write_bytes(ANDROID.read_text(encoding="utf-8").replace("\u202f", " ").replace("🥾", "")
                     .encode("latin-1", errors="replace"))
    return path


def _empty(tmp_path: Path) -> Path:
    path = tmp_path / "result.json"
    path.write_bytes(b"")
    return path


def _copy(name: str) -> object:
    return lambda tmp_path: DATA / name


@pytest.mark.parametrize("fmt,make,problem", [
    ("chatgpt", _truncated, "ends too early"),
    ("whatsapp", _latin1, r"byte \d+: is not UTF-8 text"),
    ("telegram", _empty, "the file is empty"),
    ("chatgpt", _copy("result.json"), "not a ChatGPT conversations.json.*looks like a Telegram export"),
    ("telegram", _copy("conversations.json"), "not a Telegram result.json.*looks like a ChatGPT export"),
    ("locomo", _copy("result.json"), "not a LoCoMo file"),
    ("jsonl", _copy("locomo_tiny.json"), "line 1: column"),
    ("whatsapp", _copy("result.json"), "line 1: no date at the start"),
    ("telegram", lambda tmp_path: tmp_path / "missing.json", "no such file"),
    ("whatsapp", lambda tmp_path: tmp_path, "this is a folder"),
])
def test_a_bad_file_imports_nothing(store: MemoryStore, tmp_path: Path, fmt: str, make, problem: str) -> None:
    import_file(store, "jsonl", DATA / "chat.jsonl")
    before = store.count()
    path = make(tmp_path)
    with pytest.raises(ImportFailed, match=problem) as caught:
        import_file(store, fmt, path)
    assert str(caught.value).startswith(f"cannot import {path}: ")
    assert str(caught.value).endswith("; nothing was imported")
    assert store.count() == before


def test_a_damaged_conversation_deep_inside_fails_the_whole_file(store: MemoryStore, tmp_path: Path) -> None:
    data = json.loads((DATA / "conversations.json").read_text(encoding="utf-8"))
    data[1]["mapping"]["a-1"]["parent"] = "a-2b"  # a loop in the second conversation's tree
    path = tmp_path / "conversations.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(ImportFailed, match="conversation 2: its message tree is broken"):
        import_file(store, "chatgpt", path)
    assert store.count() == 0


# -- the command line ------------------------------------------------------------------


@pytest.mark.slow  # `engram` opens the store with the real embedding model
def test_cli_import(home: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
                    tmp_path: Path) -> None:
    from app.cli import main

    (home / "config.toml").write_text("[security]\nkdf_target_seconds = 0.01\n")
    monkeypatch.setenv("ENGRAM_PASSPHRASE", PASSPHRASE)
    monkeypatch.setattr("sys.stdin", io.StringIO(""))
    assert main(["init"]) == 0
    capsys.readouterr()

    assert main(["import", "whatsapp", str(ANDROID)]) == 0
    out, err = capsys.readouterr()
    first, second = out.strip().splitlines()
    assert first == ("Imported 6 new messages from 1 conversation (2024-01-14 … 2024-01-20); "
                     "0 already present."), err
    assert second.startswith("Sorted 6 new messages into memories: ") and "episodic" in second
    assert main(["import", "whatsapp", str(ANDROID), "--tz", "America/Chicago"]) == 0
    assert "Imported 0 new messages" in capsys.readouterr().out

    assert main(["import", "chatgpt", str(_truncated(tmp_path))]) == 1
    _, err = capsys.readouterr()
    assert err.startswith("engram: cannot import ") and err.strip().endswith("nothing was imported")
    assert main(["import", "whatsapp", str(ANDROID), "--tz", "Mars/Olympus"]) == 1
    assert "unknown time zone" in capsys.readouterr().err


# -- hostile files: out-of-range times, deep nesting, one enormous message (issues 15 and 20) ----------


def _chatgpt_at(create_time: object) -> str:
    return json.dumps([{"id": "c", "current_node": "a", "mapping": {
        "r": {"id": "r", "parent": None, "children": ["a"]},
        "a": {"id": "a", "parent": "r", "message": {"author": {"role": "user"}, "create_time": create_time,
                                                    "content": {"content_type": "text", "parts": ["PIN 4321"]}}}}}])


def _telegram_at(**when: str) -> str:
    return json.dumps({"name": "x", "type": "personal_chat", "id": 1,
                       "messages": [{"id": 1, "type": "message", "from": "Ines", "text": "PIN 4321", **when}]})


def _locomo_at(date_time: str) -> str:
    return json.dumps([{"sample_id": "s", "conversation": {
        "session_1": [{"speaker": "A", "dia_id": "D1:1", "text": "PIN 4321"}], "session_1_date_time": date_time}}])


def _jsonl_at(time: object) -> str:
    return json.dumps({"time": time, "speaker": "Noor", "text": "PIN 4321"}) + "\n"


@pytest.mark.parametrize("fmt,name,content", [
    ("chatgpt", "conversations.json", _chatgpt_at(1e20)),
    ("chatgpt", "conversations.json", _chatgpt_at(1e15)),
    ("chatgpt", "conversations.json", _chatgpt_at(float("inf"))),
    ("telegram", "result.json", _telegram_at(date_unixtime=str(10**20))),
    ("telegram", "result.json", _telegram_at(date="0001-01-01T00:00:00+05:00")),
    ("telegram", "result.json", _telegram_at(date="9999-12-31T23:59:59")),
    ("jsonl", "chat.jsonl", _jsonl_at(1e20)),
    ("jsonl", "chat.jsonl", _jsonl_at("0001-01-01T00:00:00+05:00")),
    ("jsonl", "chat.jsonl", _jsonl_at("9999-12-31T23:59:59-05:00")),
    ("jsonl", "chat.jsonl", _jsonl_at("9999-12-31T23:59:59+05:00")),
    ("jsonl", "chat.jsonl", _jsonl_at("1899-12-31T23:00:00")),
    ("locomo", "locomo.json", _locomo_at("1:56 pm on 8 May, 9999")),
    ("locomo", "locomo.json", _locomo_at("1:56 pm on 8 May, 0001")),
    ("whatsapp", "WhatsApp Chat with Ana.txt", "31/12/0000, 21:41 - Ana: PIN 4321\n"),
    ("whatsapp", "WhatsApp Chat with Ana.txt", "[9999-12-31, 23:59:59] Ana: PIN 4321\n"),
    ("whatsapp", "WhatsApp Chat with Ana.txt", "31/12/2201, 00:00 - Ana: PIN 4321\n"),
])
def test_a_time_outside_the_supported_years_imports_nothing(store: MemoryStore, tmp_path: Path, fmt: str,
                                                            name: str, content: str) -> None:
    import_file(store, "jsonl", DATA / "chat.jsonl")
    before = store.count()
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    with pytest.raises(ImportFailed, match="outside the supported years 1900–2200") as caught:
        import_file(store, fmt, path)
    assert "4321" not in str(caught.value) and str(caught.value).endswith("nothing was imported")
    assert store.count() == before


def test_the_edges_of_the_supported_years_import(store: MemoryStore, tmp_path: Path) -> None:
    path = tmp_path / "chat.jsonl"
    path.write_text(_jsonl_at("1900-01-01T00:00:00+00:00") + _jsonl_at("2200-12-31T23:59:59+00:00"), encoding="utf-8")
    summary = import_file(store, "jsonl", path)
    assert (summary.first.year, summary.last.year) == (1900, 2200)


@pytest.mark.parametrize("fmt,name,content", [
    ("chatgpt", "conversations.json", "[" * 100_000 + "]" * 100_000),
    ("telegram", "result.json", '{"messages": ' + "[" * 100_000 + "]" * 100_000 + "}"),
    ("locomo", "locomo.json", "[" * 100_000 + "]" * 100_000),
    ("jsonl", "chat.jsonl", '{"time": 1714983600, "speaker": "a", "text": ' + "[" * 100_000 + "]" * 100_000 + "}\n"),
    # Shallow enough to parse, deep enough that turning it into text would overflow the stack.
    ("locomo", "locomo.json", _locomo_at("1:56 pm on 8 May, 2023").replace('"PIN 4321"', "[" * 990 + "]" * 990)),
])
def test_deeply_nested_json_imports_nothing(store: MemoryStore, tmp_path: Path, fmt: str, name: str,
                                            content: str) -> None:
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    with pytest.raises(ImportFailed, match="nested too deeply"):
        import_file(store, fmt, path)
    assert store.count() == 0


def test_one_enormous_message_is_cut_and_the_import_stays_quick(store: MemoryStore, tmp_path: Path) -> None:
    from agents.importers.turns import MAX_MESSAGE_CHARACTERS

    words = "lorem ipsum dolor sit amet " * (3_000_000 // 27)  # 3 MB in one message (WhatsApp allows 65,536)
    path = tmp_path / "WhatsApp Chat with Big.txt"
    path.write_text(f"31/12/2023, 21:41 - Ana: {words}\n31/12/2023, 21:42 - Ana: and a short one\n", encoding="utf-8")
    summary = import_file(store, "whatsapp", path)
    assert (summary.new, summary.shortened) == (2, 1)
    texts = sorted((m.text for m in store.list_range(kinds=["message"])), key=len)
    assert texts[0] == "and a short one"
    assert texts[1].startswith("lorem ipsum") and len(texts[1]) < MAX_MESSAGE_CHARACTERS + 200
    assert "the rest of this message was not imported" in texts[1]
    assert import_file(store, "whatsapp", path).new == 0  # the cut message is found again, not added twice
