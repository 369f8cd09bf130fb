"""The row ledger (storage/ledger.py): whole rows copied back, duplicated or dropped on disk without the key
are reported; nothing Engram itself does, crashes included, is."""
import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from storage.keys import KeyNotForThisStore
from storage.ledger import FILE
from storage.memory import Memory, Trust
from storage.store import MemoryStore
from storage.upkeep import run_upkeep

from conftest import PASSPHRASE
from fakes import HashEmbedder

NOW = datetime(2026, 12, 6, 9, 0, tzinfo=timezone.utc)


def row_of(store: MemoryStore, memory_id: str) -> dict:
    return store.table.search().where(f"id = '{memory_id}'").to_arrow().to_pylist()[0]


def reopen(store: MemoryStore, home: Path) -> MemoryStore:
    store.close()
    return MemoryStore.open(PASSPHRASE, home=home, embedder=HashEmbedder())


def a_few(store: MemoryStore) -> list[Memory]:
    memories = [Memory("vault", "Passport number", {"entry_type": "passport"}, secret="X1234567"),
                Memory("message", "Bob: the offsite moved to Friday", {"speaker": "Bob", "conversation": "team"},
                       trust=Trust.IMPORTED, time=NOW),
                Memory("frame", "Inbox flight confirmation", {"monitor": 0}, app="Thunderbird", time=NOW)]
    store.add(memories)
    return memories


def test_what_engram_writes_through_every_path_checks_clean(store: MemoryStore, home: Path) -> None:
    memories = a_few(store)
    vault, message, frame = memories
    vault.secret = "X7654321"
    store.update(vault)
    store.save([Memory("semantic", "Bob moved the offsite", source_ids=[f"message:{message.id}"], time=NOW)])
    store.add([Memory("message", "Ann: fine by me", {"speaker": "Ann", "conversation": "team"}, time=NOW)])
    store.mark_digested([message.id])
    store.repoint_sources({frame.id: message.id}, since=NOW - timedelta(days=1))
    store.delete([frame.id])
    store.delete_range(NOW - timedelta(minutes=1), NOW + timedelta(minutes=1), kinds=["message"])
    run_upkeep(store)
    store = reopen(store, home)
    check = store.check_rows()
    assert check.ok, check.lines()
    assert check.rows == store.count() == 2


def test_a_whole_row_copied_back_from_before_an_update_is_reported(store: MemoryStore) -> None:
    vault = a_few(store)[0]
    old = row_of(store, vault.id)
    vault.secret = "X7654321"
    store.update(vault)
    store.table.merge_insert("id").when_matched_update_all().execute([old])  # every column, sealed ones too
    assert store.get(vault.id).secret == "X1234567" and not store.get(vault.id).damaged  # reads as genuine
    check = store.check_rows()
    assert not check.ok
    assert [(f.kind, f.missing, f.changed) for f in check.findings] == [("vault", 0, True)]
    assert "vault entries" in check.lines()[0] and "older copy" in check.lines()[0]


def test_a_duplicated_row_and_a_dropped_row_are_reported_and_stay_reported(store: MemoryStore, home: Path) -> None:
    _, message, frame = a_few(store)
    store.table.add([row_of(store, message.id)])
    store.table.delete(f"id = '{frame.id}'")
    expected = {("message", -1, False), ("frame", 1, False)}
    assert {(f.kind, f.missing, f.changed) for f in store.check_rows().findings} == expected
    store.add([Memory("frame", "a later screen", {"monitor": 0})])  # later writes do not wash it away
    store = reopen(store, home)
    assert [f.kind for f in store.ledger.last_findings()] == ["frame", "message"]  # what the tray reads
    assert {(f.kind, f.missing, f.changed) for f in store.check_rows().findings} == expected
    assert store.accept_rows() == 4          # the user takes the store as it is
    assert store.check_rows().ok and not store.ledger.last_findings()


def test_a_crash_on_either_side_of_a_commit_is_no_false_alarm(store: MemoryStore, monkeypatch: pytest.MonkeyPatch) -> None:
    a_few(store)
    table = store.table
    real_add = table.add

    def refused(rows, *args, **kwargs):  # the commit never happens (a full disk)
        raise OSError("No space left on device")

    monkeypatch.setattr(table, "add", refused)
    with pytest.raises(OSError):
        store.add([Memory("semantic", "never stored")])
    assert store.check_rows().ok

    def lost_after(rows, *args, **kwargs):  # committed, then the process dies before the ledger's second write
        real_add(rows, *args, **kwargs)
        raise KeyboardInterrupt

    monkeypatch.setattr(table, "add", lost_after)
    with pytest.raises(KeyboardInterrupt):
        store.add([Memory("semantic", "stored, ledger not told")])
    monkeypatch.setattr(table, "add", real_add)
    store.add([Memory("semantic", "the next write settles it")])
    check = store.check_rows()
    assert check.ok and check.rows == 5


def test_a_deleted_ledger_is_started_again_and_says_so_until_accepted(store: MemoryStore, home: Path) -> None:
    a_few(store)
    (home / "store" / FILE).unlink()
    store = reopen(store, home)
    check = store.check_rows()
    assert not check.ok and "missing or damaged" in check.lines()[0]
    store.accept_rows()
    assert store.check_rows().ok


def test_a_damaged_ledger_is_said_not_a_failure_to_open(store: MemoryStore, home: Path) -> None:
    a_few(store)
    ledger = home / "store" / FILE
    data = bytearray(ledger.read_bytes())
    data[-1] ^= 1
    ledger.write_bytes(bytes(data))
    store = reopen(store, home)
    assert [f.kind for f in store.check_rows().findings] == ["ledger"]


def test_meta_edited_to_say_no_ledger_is_refused(store: MemoryStore, home: Path) -> None:
    """Otherwise deleting the ledger and this flag would start a new ledger over rows changed on disk."""
    a_few(store)
    meta_path = home / "store" / "engram-store.json"
    meta = json.loads(meta_path.read_text())
    assert meta["ledger"] is True
    meta_path.write_text(json.dumps({k: v for k, v in meta.items() if k != "ledger"}))
    (home / "store" / FILE).unlink()
    store.close()
    with pytest.raises(KeyNotForThisStore):
        MemoryStore.open(PASSPHRASE, home=home, embedder=HashEmbedder())


def test_a_store_from_before_the_ledger_starts_one_on_opening(store: MemoryStore, home: Path) -> None:
    from storage import binding

    memories = a_few(store)
    meta_path = home / "store" / "engram-store.json"
    meta = json.loads(meta_path.read_text())
    meta = {**{k: v for k, v in meta.items() if k != "ledger"}, "schema_version": 7,
            "key_check": binding.key_check(store.vault, meta["store_id"])}  # as schema 7 wrote it
    meta_path.write_text(json.dumps(meta))
    (home / "store" / FILE).unlink()
    store = reopen(store, home)
    assert json.loads(meta_path.read_text())["ledger"] is True and (home / "store" / FILE).exists()
    assert store.check_rows().ok and store.get(memories[0].id).secret == "X1234567"


def test_another_process_writing_keeps_the_ledger_right(store: MemoryStore, home: Path) -> None:
    a_few(store)
    other = MemoryStore.open(PASSPHRASE, home=home, embedder=HashEmbedder())
    other.add([Memory("semantic", "written by the command line beside the app")])
    store.add([Memory("semantic", "written by the app")])
    other.close()
    assert store.check_rows().ok


def test_the_ledger_holds_no_id_or_count_in_the_clear(store: MemoryStore, home: Path) -> None:
    memories = a_few(store)
    blob = (home / "store" / FILE).read_bytes()
    assert all(m.id.encode() not in blob for m in memories)
    assert b"vault" not in blob and b"expected" not in blob


def test_meta_stripped_of_its_binding_restarts_the_ledger_with_a_finding(store: MemoryStore, home: Path) -> None:
    """The key file is bound only after the store's meta: a bound key file beside an unbound meta means the
    meta was edited, so the ledger started over it is not taken on trust."""
    a_few(store)
    meta_path = home / "store" / "engram-store.json"
    meta = json.loads(meta_path.read_text())
    meta_path.write_text(json.dumps({k: v for k, v in meta.items() if k not in ("ledger", "store_id", "key_check")}))
    (home / "store" / FILE).unlink()
    store = reopen(store, home)
    assert [f.kind for f in store.check_rows().findings] == ["ledger"]


def test_the_hourly_upkeep_checks_the_rows_and_the_doctor_says_what_it_found(store: MemoryStore) -> None:
    from app.doctor import AppFacts, check_store

    frame = a_few(store)[2]
    assert run_upkeep(store).rows_changed == ()
    store.table.delete(f"id = '{frame.id}'")
    report = run_upkeep(store)
    assert report.rows_changed == ("screens: 1 row(s) Engram wrote are gone (removed outside Engram)",)
    assert "ROWS CHANGED OUTSIDE ENGRAM" in report.summary()
    facts = AppFacts(rows_changed=tuple(f.line() for f in store.ledger.last_findings()))
    said = [f for f in check_store(facts) if f.area == "Store integrity"]
    assert [(f.status, f.what) for f in said] == [("fail", report.rows_changed[0])] and "engram repair" in said[0].todo


def test_a_ledger_deleted_while_the_store_is_open_fails_no_write_and_is_said(store: MemoryStore) -> None:
    a_few(store)
    (store.root / FILE).unlink()
    assert [f.kind for f in store.ledger.last_findings()] == ["ledger"]   # what the tray reads meanwhile
    store.add([Memory("frame", "the next screen", {"monitor": 0})])      # capture goes on
    (store.root / FILE).write_bytes(b"not a ledger")
    store.delete_range(NOW - timedelta(minutes=1), NOW + timedelta(minutes=1), kinds=["message"])
    assert [f.kind for f in store.check_rows().findings] == ["ledger"]
    store.accept_rows()
    assert store.check_rows().ok


def test_a_last_write_lost_with_its_version_file_is_said_when_the_store_opens(store: MemoryStore, home: Path) -> None:
    """Deleting the table's newest version file takes the last write with it and Lance opens the one before
    without a word: the row count no longer matches the ledger's, so the store checks its rows on opening
    (the tray and the doctor read what it found) instead of at the next hourly upkeep."""
    a_few(store)
    store.add([Memory("frame", "Budget spreadsheet, second tab", {"monitor": 0}, time=NOW)])
    store.close()
    versions = sorted((home / "store" / "memories.lance" / "_versions").glob("*.manifest"))
    versions[0].unlink()  # names count down: the first is the newest
    reopened = MemoryStore.open(PASSPHRASE, home=home, embedder=HashEmbedder())
    assert [f.line() for f in reopened.ledger.last_findings()] == [
        "screens: 1 row(s) Engram wrote are gone (removed outside Engram)"]
    reopened.close()


def test_opening_a_store_another_process_is_writing_does_not_wait_for_the_check(store: MemoryStore, home: Path) -> None:
    from storage.locking import WriterLock

    a_few(store)
    store.close()
    (home / "store" / FILE).unlink()  # the counts cannot agree: the check at opening is wanted
    other = WriterLock(home / "store" / ".writer.lock", 0)
    with other.held():
        reopened = MemoryStore.open(PASSPHRASE, home=home, embedder=HashEmbedder())
    assert reopened.count() == 3
    assert not reopened.check_rows().ok   # the hourly check finds what opening left to it
    reopened.close()
