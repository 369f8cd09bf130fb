import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from storage import store as store_module
from storage.blind_index import words
from storage.memory import KINDS, Memory, Trust
from storage.search import SearchOptions
from storage.store import MemoryStore, StoreError

from conftest import FAST_KDF, PASSPHRASE, as_of_schema
from fakes import HashEmbedder

NOW = datetime(2026, 11, 25, 15, 30, tzinfo=timezone.utc)


def one_of_each() -> list[Memory]:
    return [
        Memory("core", "I am vegetarian and live in Lisbon", {"block": "human"}),
        Memory("episodic", "Edited the quarterly report in Writer", {"actor": "user", "event_type": "editing"},
               time=NOW - timedelta(hours=2), ended=NOW - timedelta(hours=1), app="LibreOffice Writer"),
        Memory("semantic", "Anna is the product manager for Atlas", {"name": "Anna"}),
        Memory("procedural", "Deploy the staging server", {"entry_type": "workflow",
                                                          "steps": ["git pull", "make deploy"]}),
        Memory("resource", "Budget spreadsheet for 2027", {"title": "budget.ods", "uri": "file:///home/u/budget.ods",
                                                           "resource_type": "file"}),
        Memory("vault", "Passport number", {"entry_type": "identifier", "sensitivity": "high"}, secret="X1234567"),
        Memory("frame", "Inbox (3) flight confirmation ABC123", {"monitor": 0, "image_id": "img1"},
               app="Thunderbird", title="Inbox"),
        Memory("message", "Bob: the offsite moved to Friday", {"speaker": "Bob", "conversation": "team"},
               trust=Trust.IMPORTED),
    ]


def test_every_kind_round_trips_add_search_show_delete(store: MemoryStore) -> None:
    memories = one_of_each()
    assert {m.kind for m in memories} == set(KINDS)
    store.add(memories)
    assert store.count() == len(memories)
    queries = {"core": "vegetarian Lisbon", "episodic": "quarterly report", "semantic": "Anna product manager",
               "procedural": "deploy staging", "resource": "budget spreadsheet", "vault": "passport",
               "frame": "flight confirmation", "message": "offsite moved"}
    for memory in memories:
        hits = store.search(queries[memory.kind], SearchOptions(k=3), now=NOW).hits
        assert hits and hits[0].id == memory.id, memory.kind
        shown = store.get(memory.id)
        assert shown is not None and not shown.damaged
        assert (shown.kind, shown.text, shown.fields, shown.app, shown.secret, shown.trust) == \
               (memory.kind, memory.text, memory.fields, memory.app, memory.secret, memory.trust)
        assert abs((shown.time - memory.time).total_seconds()) < 1e-3
    assert store.delete([m.id for m in memories]) == len(memories)
    assert store.count() == 0 and all(store.get(m.id) is None for m in memories)


def test_vault_secret_is_never_indexed_nor_embedded(store: MemoryStore) -> None:
    embedder = store.embedder
    assert isinstance(embedder, HashEmbedder)
    store.add([Memory("vault", "Bank PIN", {"entry_type": "pin"}, secret="TOPSECRET99")])
    assert all("TOPSECRET99" not in text for call in embedder.calls for text in call)
    assert not store.search("TOPSECRET99", SearchOptions(mode="keyword")).hits
    assert store.search("bank pin").hits[0].snippet == "Bank PIN"


def test_a_screen_indexes_each_word_once_a_message_every_time(store: MemoryStore) -> None:
    screen = Memory("frame", "Save Save Save report Save", {"monitor": 0})
    message = Memory("message", "tea tea tea please", {"speaker": "Bob"})
    store.add([screen, message])
    rows = {r["id"]: r["tokens"].split() for r in store.table.to_arrow().to_pylist()}
    assert len(rows[screen.id]) == 2
    assert len(rows[message.id]) == len(words(message.index_text())) > len(set(rows[message.id]))
    assert store.search("report", SearchOptions(k=3, mode="keyword"), now=NOW).hits[0].id == screen.id


def test_update_keeps_the_id_and_records_history(store: MemoryStore) -> None:
    (memory_id,) = store.add([Memory("semantic", "Anna likes coffee", {"name": "Anna"})])
    memory = store.get(memory_id)
    assert memory is not None
    memory.text = "Anna switched to green tea"
    store.update(memory, who="semantic-manager", what="UPDATE: newer statement")
    again = store.get(memory_id)
    assert again is not None and again.text == "Anna switched to green tea"
    assert again.history[-1]["who"] == "semantic-manager" and "UPDATE" in again.history[-1]["what"]
    assert store.count() == 1
    assert store.search("green tea").hits[0].id == memory_id
    assert not store.search("coffee").hits
    with pytest.raises(StoreError, match="no memory"):
        store.update(Memory("semantic", "ghost"))


def test_list_range_and_delete_range(store: MemoryStore) -> None:
    store.add([Memory("frame", f"screen {i}", time=NOW - timedelta(hours=i)) for i in range(10)]
              + [Memory("semantic", "a fact from 3h ago", time=NOW - timedelta(hours=3, minutes=30))])
    window = store.list_range(NOW - timedelta(hours=5), NOW - timedelta(hours=2))
    assert [m.text for m in window] == ["screen 5", "screen 4", "a fact from 3h ago", "screen 3"]
    assert [m.text for m in store.list_range(kinds=["semantic"])] == ["a fact from 3h ago"]
    removed = store.delete_range(NOW - timedelta(hours=5), NOW - timedelta(hours=2), kinds=["frame"])
    assert removed == 3
    assert store.count("frame") == 7 and store.count("semantic") == 1


def test_newer_schema_is_refused_untouched(store: MemoryStore, home: Path) -> None:
    meta = home / "store" / "engram-store.json"
    data = json.loads(meta.read_text())
    meta.write_text(json.dumps({**data, "schema_version": 99}))
    before = {p: p.read_bytes() for p in home.rglob("*") if p.is_file()}
    with pytest.raises(StoreError, match="newer Engram"):
        MemoryStore.open(PASSPHRASE, home=home, embedder=HashEmbedder())
    assert {p: p.read_bytes() for p in home.rglob("*") if p.is_file()} == before


def test_older_schema_is_upgraded_in_place(store: MemoryStore, home: Path, monkeypatch) -> None:
    (memory_id,) = store.add([Memory("semantic", "survives the upgrade")])
    meta = as_of_schema(home, 0)
    ran: list[int] = []

    def upgrade_0_to_1(table) -> None:  # a real step would add or rewrite columns here
        ran.append(table.count_rows())

    monkeypatch.setitem(store_module.MIGRATIONS, 0, upgrade_0_to_1)
    reopened = MemoryStore.open(PASSPHRASE, home=home, embedder=HashEmbedder())
    assert ran == [1]
    assert json.loads(meta.read_text())["schema_version"] == store_module.SCHEMA_VERSION
    assert reopened.get(memory_id).text == "survives the upgrade"


def test_a_version_1_store_gets_float16_vectors_and_still_finds_by_meaning(store: MemoryStore, home: Path) -> None:
    import pyarrow as pa

    ids = store.add([Memory("semantic", "Anna leads the Atlas project"), Memory("semantic", "the boiler is serviced in May")])
    store.table.alter_columns({"path": "vector", "data_type": pa.list_(pa.float32(), HashEmbedder().dim)})  # as version 1 wrote it
    meta = as_of_schema(home, 1)
    store.close()
    reopened = MemoryStore.open(PASSPHRASE, home=home, embedder=HashEmbedder())
    assert pa.types.is_float16(reopened.table.schema.field("vector").type.value_type)
    assert json.loads(meta.read_text())["schema_version"] == store_module.SCHEMA_VERSION
    found = reopened.similar("who leads the Atlas project", kinds=["semantic"], k=1)
    assert found[0][0].id == ids[0]
    store_module._vectors_to_float16(reopened.table)       # re-running the step changes nothing
    assert reopened.count() == 2


def test_a_version_2_store_gets_shorter_tokens_and_still_finds_by_word_and_app(
        store: MemoryStore, home: Path, monkeypatch) -> None:
    from storage import blind_index

    monkeypatch.setattr(blind_index, "_TOKEN_CHARS", 12)                        # as version 2 wrote them
    store.codec.index._cache.clear()
    screen = Memory("frame", "boarding pass for flight TP1234", {"monitor": 0}, app="Firefox")
    store.add([screen, Memory("message", "the flight lands at noon")])
    assert all(len(t) == 12 for r in store.table.to_arrow().to_pylist() for t in r["tokens"].split())
    as_of_schema(home, 2)
    store.close()
    monkeypatch.undo()
    reopened = MemoryStore.open(PASSPHRASE, home=home, embedder=HashEmbedder())
    rows = reopened.table.to_arrow().to_pylist()
    assert all(len(t) == 7 for r in rows for t in r["tokens"].split()) and {len(r["app_tag"]) for r in rows} == {0, 7}
    assert reopened.search("boarding pass", SearchOptions(k=2, mode="keyword"), now=NOW).hits[0].id == screen.id
    assert [h.id for h in reopened.search("flight", SearchOptions(k=5, mode="keyword", app="firefox"), now=NOW).hits] \
        == [screen.id]
    before = reopened.table.to_arrow().to_pylist()
    store_module._tokens_to_nine_characters(reopened.table)                    # re-running the step changes nothing
    assert reopened.table.to_arrow().to_pylist() == before


def test_a_version_3_store_gets_shorter_compressed_tokens_and_reads_as_before(
        store: MemoryStore, home: Path, monkeypatch) -> None:
    from storage import blind_index
    from storage.codec import COMPRESSED_COLUMNS

    monkeypatch.setattr(blind_index, "_TOKEN_CHARS", 9)                         # as version 3 wrote them
    store.codec.index._cache.clear()
    first = store.add([Memory("message", "the ferry leaves at seven", app="Thunderbird")])[0]
    plain = {column: {"lance-encoding:compression": None} for column in COMPRESSED_COLUMNS}
    store.table.to_lance().update_field_metadata(plain)                          # as version 3 wrote them
    store.table.checkout_latest()
    assert not store.table.schema.field("tokens").metadata
    as_of_schema(home, 3)
    store.close()
    monkeypatch.undo()
    reopened = MemoryStore.open(PASSPHRASE, home=home, embedder=HashEmbedder())
    (row,) = reopened.table.to_arrow().to_pylist()
    assert {len(t) for t in row["tokens"].split()} == {7} and len(row["app_tag"]) == 7
    for column in COMPRESSED_COLUMNS:
        assert reopened.table.schema.field(column).metadata == {b"lance-encoding:compression": b"zstd"}
    later = reopened.add([Memory("message", "the ferry is late again")])[0]
    assert {h.id for h in reopened.search("ferry", SearchOptions(k=5, mode="keyword"), now=NOW).hits} == {first, later}
    assert [h.id for h in reopened.search("ferry", SearchOptions(k=5, mode="keyword", app="thunderbird"),
                                          now=NOW).hits] == [first]
    assert reopened.get(first).text == "the ferry leaves at seven"


def test_a_different_embedder_is_refused(store: MemoryStore, home: Path) -> None:
    with pytest.raises(StoreError, match="re-index"):
        MemoryStore.open(PASSPHRASE, home=home, embedder=HashEmbedder(dim=16))


def test_wrong_passphrase_leaves_the_store_unchanged(store: MemoryStore, home: Path) -> None:
    from storage.keys import WrongPassphrase

    store.add(one_of_each())
    before = {p: p.read_bytes() for p in home.rglob("*") if p.is_file()}
    with pytest.raises(WrongPassphrase):
        MemoryStore.open("not the passphrase", home=home, embedder=HashEmbedder())
    assert {p: p.read_bytes() for p in home.rglob("*") if p.is_file()} == before


def test_swapped_cells_are_reported_per_record_and_the_rest_reads(store: MemoryStore) -> None:
    a, b, c = store.add([Memory("semantic", "first"), Memory("semantic", "second"), Memory("semantic", "third")])
    rows = {r["id"]: r for r in store.table.search().limit(None).to_arrow().to_pylist()}
    # Someone with the files swaps two rows' text ciphertexts.
    swapped = [{**rows[a], "text": rows[b]["text"]}, {**rows[b], "text": rows[a]["text"]}]
    store.table.merge_insert("id").when_matched_update_all().execute(swapped)
    damaged_a, damaged_b, fine = store.get(a), store.get(b), store.get(c)
    assert damaged_a.damaged == ("text",) and damaged_a.text == ""
    assert damaged_b.damaged == ("text",)
    assert fine.text == "third" and not fine.damaged
    hits = store.search("first second third").hits
    assert {h.id for h in hits if h.damaged} == {a, b}


def test_a_flipped_byte_in_a_data_file_copy_is_detected(store: MemoryStore, home: Path, tmp_path: Path) -> None:
    import shutil

    ids = store.add([Memory("semantic", f"record number {i}") for i in range(5)])
    store.purge()  # one data file, one version
    target = store.table.search().where(f"id = '{ids[2]}'").to_arrow().to_pylist()[0]["text"]
    copy = tmp_path / "copy"
    shutil.copytree(home, copy)
    data_files = [p for p in (copy / "store").rglob("*.lance") if p.is_file() and target in p.read_bytes()]
    assert len(data_files) == 1
    raw = bytearray(data_files[0].read_bytes())
    raw[raw.index(target) + 20] ^= 0x01
    data_files[0].write_bytes(bytes(raw))
    reopened = MemoryStore.open(PASSPHRASE, home=copy, embedder=HashEmbedder())
    results = {m.id: m for m in reopened.list_range()}
    assert results[ids[2]].damaged == ("text",)
    assert all(results[i].text == f"record number {n}" for n, i in enumerate(ids) if n != 2)


def test_kind_edited_on_disk_fails_to_decrypt(store: MemoryStore) -> None:
    (memory_id,) = store.add([Memory("vault", "Card", secret="4111111111111111")])
    row = store.table.search().where(f"id = '{memory_id}'").to_arrow().to_pylist()[0]
    store.table.merge_insert("id").when_matched_update_all().execute([{**row, "kind": "semantic"}])
    assert set(store.get(memory_id).damaged) >= {"text", "secret"}


def test_rejects_bad_input_clearly() -> None:
    with pytest.raises(ValueError, match="unknown memory type"):
        Memory("diary", "x")
    with pytest.raises(ValueError, match="has no field"):
        Memory("semantic", "x", {"colour": "red"})
    with pytest.raises(ValueError, match="only vault"):
        Memory("semantic", "x", secret="s")


def test_indexes_appear_as_the_table_grows_and_search_still_works(store: MemoryStore) -> None:
    store.vector_index_min_rows = 256
    store.add([Memory("message", f"message {i} about topic {i % 7}") for i in range(200)])
    assert [i.columns for i in store.table.list_indices()] == [["tokens"]]  # small: exact search
    store.add([Memory("message", f"message {i} about topic {i % 7}") for i in range(200, 300)])
    assert {"tokens", "time_us", "id", "kind", "vector"} <= {i.columns[0] for i in store.table.list_indices()}
    hits = store.search("topic 3", SearchOptions(k=5, kinds=["message"])).hits
    assert len(hits) == 5 and all("topic 3" in h.snippet for h in hits)
    assert store.build_indexes() == []


def test_rows_written_one_at_a_time_are_folded_into_every_index(store: MemoryStore, monkeypatch) -> None:
    """One-row writes ask every _MERGE_EVERY-th time whether the indexes have fallen behind (only the
    keyword index is asked): no index is ever more than the fold threshold and that many rows behind."""
    monkeypatch.setattr(store_module, "_REFRESH_ROWS", 20)
    monkeypatch.setattr(store_module, "_SCALAR_INDEX_ROWS", 30)
    store.add([Memory("message", f"message {i} about topic {i % 7}") for i in range(30)])
    store.build_indexes()
    indexes = [i.name for i in store.table.list_indices()]
    assert len(indexes) >= 4   # the keyword index and the scalar ones
    behind = []
    for i in range(30, 75):
        store.add([Memory("message", f"message {i} about topic {i % 7}")])
        behind.append(max(store_module._unindexed(store.table, name) for name in indexes))
    assert max(behind) < 20 + store_module._MERGE_EVERY, behind
    assert any(after < before for before, after in zip(behind, behind[1:])), behind   # folded on the way
    assert store.search("topic 3", SearchOptions(k=3, mode="keyword")).hits


@pytest.mark.slow  # 120 one-row writes
def test_writing_a_row_at_a_time_keeps_few_data_files(store: MemoryStore) -> None:
    """Capture writes each screen, then again when its text is read: every write is a data file that
    each lookup opens, so small files are merged as they pile up (600 such writes left 601 files and
    a 160 ms lookup before)."""
    frames = []
    for i in range(60):
        frame = Memory("frame", "", {"monitor": 0}, text_pending=True)
        store.add([frame])
        frame.text, frame.text_pending = f"screen {i} of the budget report", False
        store.save([frame])
        frames.append(frame)
    files = len(store.table.to_lance().get_fragments())
    assert files <= store_module._MAX_SMALL_FRAGMENTS + store_module._MERGE_EVERY, files
    assert all(store.get(f.id).text == f.text for f in frames)
    assert store.search("screen 42", SearchOptions(k=3, mode="keyword")).hits[0].id == frames[42].id


def test_frame_images_are_encrypted_files_removed_with_their_frame(store: MemoryStore, home: Path) -> None:
    from storage.blobs import TamperedBlob

    png = b"\x89PNG\r\n\x1a\n" + b"pixels of a secret screen" * 50
    image_id, thumb_id = store.blobs.put(png), store.blobs.put(png[:100])
    (frame_id,) = store.add([Memory("frame", "secret screen", {"image_id": image_id, "thumb_id": thumb_id})])
    assert store.blobs.get(image_id) == png
    assert not any(b"pixels of a secret screen" in p.read_bytes() for p in home.rglob("*") if p.is_file())
    blob_file = next(p for p in (home / "blobs").rglob(image_id))
    other = store.blobs.put(b"another")
    next(p for p in (home / "blobs").rglob(other)).write_bytes(blob_file.read_bytes())  # moved onto another id
    with pytest.raises(TamperedBlob):
        store.blobs.get(other)
    orphan = store.blobs.put(b"left behind by a crash")
    store.delete([frame_id])
    assert not blob_file.exists() and image_id not in store.blobs.ids() and thumb_id not in store.blobs.ids()
    assert store.sweep_orphan_blobs() == 2  # `other` and `orphan`: no frame refers to them
    assert store.blobs.ids() == set() and orphan


def test_ocr_backlog_and_agent_queue_survive_a_reopen(store: MemoryStore, home: Path) -> None:
    frames = [Memory("frame", "", {"monitor": 0}, time=NOW - timedelta(minutes=m), text_pending=True) for m in (5, 9, 1)]
    store.add(frames + [Memory("message", "Bob: hi", time=NOW - timedelta(minutes=3))])
    reopened = MemoryStore.open(PASSPHRASE, home=home, embedder=HashEmbedder())
    backlog = reopened.pending_text()
    assert [m.id for m in backlog] == [frames[1].id, frames[0].id, frames[2].id]  # oldest first
    assert [m.kind for m in reopened.undigested()] == ["message"]  # frames wait for their text
    oldest = backlog[0]
    oldest.text, oldest.text_pending = "Quarterly numbers on screen", False
    reopened.update(oldest, who="ocr", what="screen text read")
    assert [m.id for m in reopened.pending_text()] == [frames[0].id, frames[2].id]
    assert reopened.search("quarterly numbers").hits[0].id == oldest.id
    queue = reopened.undigested()
    assert [m.id for m in queue] == [oldest.id, store.list_range(kinds=["message"])[0].id]
    reopened.mark_digested([m.id for m in queue])
    assert reopened.undigested() == [] and reopened.get(oldest.id).digested is not None


def ids_stored_twice(store: MemoryStore) -> list[str]:
    from collections import Counter

    ids = store.table.search().select(["id"]).limit(None).to_arrow().column("id").to_pylist()
    return [i for i, n in Counter(ids).items() if n > 1]


def test_one_id_is_one_row_whatever_writes_it(store: MemoryStore) -> None:
    fact = Memory("semantic", "Anna prefers green tea", {"name": "Anna"})
    store.add([fact])
    fact.text = "Anna prefers black tea"
    store.add([fact])                                     # added again: a replayed batch, an import of a change
    store.add([Memory("semantic", "Anna prefers oolong", id=fact.id), Memory("semantic", "Anna prefers mint", id=fact.id)])
    assert ids_stored_twice(store) == [] and store.get(fact.id).text == "Anna prefers mint"
    fact.text = "Anna prefers rooibos"
    store.save([fact])
    store.save([fact], replace_only=[fact.id])
    store.update(fact)
    frame = Memory("frame", "the slides", {"monitor": 0})
    store.add([frame, Memory("semantic", "from the slides", source_ids=[f"frame:{frame.id}"], time=NOW)])
    store.repoint_sources({frame.id: fact.id}, since=NOW - timedelta(days=1))
    assert ids_stored_twice(store) == []
    assert store.count() == 3 and store.get(fact.id).text == "Anna prefers rooibos"


@pytest.mark.parametrize("edit", [{"trust": int(Trust.USER)}, {"time_us": 0}, {"end_us": 1}, {"created_us": 0},
                                  {"updated_us": 0}])
def test_a_meaningful_clear_column_edited_on_disk_is_reported(store: MemoryStore, edit: dict[str, int]) -> None:
    (memory_id,) = store.add([Memory("semantic", "Anna said the budget is final", trust=Trust.IMPORTED,
                                     time=NOW, ended=NOW + timedelta(minutes=5))])
    row = store.table.search().where(f"id = '{memory_id}'").to_arrow().to_pylist()[0]
    store.table.merge_insert("id").when_matched_update_all().execute([{**row, **edit}])
    edited = store.get(memory_id)
    assert set(edited.damaged) == {"text", "app", "title", "body"} and edited.text == ""
    assert store.search("budget final").hits[0].damaged


def test_older_sealed_fields_copied_back_are_reported(store: MemoryStore) -> None:
    memory = Memory("vault", "Passport number", {"entry_type": "passport"}, secret="X1234567")
    store.add([memory])
    old = store.table.search().where(f"id = '{memory.id}'").to_arrow().to_pylist()[0]
    memory.secret = "X7654321"
    store.update(memory)
    new = store.table.search().where(f"id = '{memory.id}'").to_arrow().to_pylist()[0]
    sealed = {c: old[c] for c in ("text", "app", "title", "body", "secret")}
    store.table.merge_insert("id").when_matched_update_all().execute([{**new, **sealed}])  # a rollback
    assert set(store.get(memory.id).damaged) >= {"secret", "body"}


def unbound(store: MemoryStore) -> None:
    """Seal every row as schema 5 did: bound to kind | id | column only."""
    cipher = store.codec.cipher
    rows = store.table.search().limit(None).to_arrow().to_pylist()
    for row in rows:
        for column in ("text", "app", "title", "body", "secret"):
            if row[column] is not None:
                value = store.codec.open_field(row, column, [])
                row[column] = cipher.seal(row["kind"], row["id"], column, value)
    store.table.merge_insert("id").when_matched_update_all().execute(rows)


def test_a_schema_5_store_gets_its_clear_columns_bound_and_reads_as_before(store: MemoryStore, home: Path) -> None:
    memories = one_of_each()
    store.add(memories)
    unbound(store)
    meta = as_of_schema(home, 5)

    reopened = MemoryStore.open(PASSPHRASE, home=home, embedder=HashEmbedder())
    assert json.loads(meta.read_text())["schema_version"] == store_module.SCHEMA_VERSION
    for memory in memories:
        shown = reopened.get(memory.id)
        assert not shown.damaged and (shown.text, shown.secret, shown.fields) == (memory.text, memory.secret, memory.fields)
    assert reopened.stats().versions == 1  # the unbound ciphertexts are gone from disk
    row = reopened.table.search().where(f"id = '{memories[2].id}'").to_arrow().to_pylist()[0]
    reopened.table.merge_insert("id").when_matched_update_all().execute([{**row, "trust": 1}])
    assert reopened.get(memories[2].id).damaged
    # A value sealed the old way, copied in after the upgrade, is not accepted either.
    cipher = reopened.codec.cipher
    legacy = cipher.seal("semantic", memories[2].id, "text", "forged from an old copy")
    reopened.table.merge_insert("id").when_matched_update_all().execute([{**row, "text": legacy}])
    assert "text" in reopened.get(memories[2].id).damaged


def test_a_schema_6_store_indexes_its_chinese_and_japanese_as_pairs_of_characters(
        store: MemoryStore, home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import re

    import storage.blind_index

    screen = Memory("frame", "打开浏览器设置页面", app="微信读书")
    english = Memory("frame", "quarterly budget spreadsheet", app="Firefox")
    turns = [Memory("message", text, {"speaker": "Ana", "conversation": "c1"},
                    time=datetime(2026, 3, 1, 9, n, tzinfo=timezone.utc))
             for n, text in enumerate(["明天去东京", "好的，几点出发", "the train leaves at nine"])]
    with monkeypatch.context() as schema_6:  # as schema 6 indexed: a run of Chinese was one word
        schema_6.setattr(storage.blind_index, "_PAIRED", re.compile("(?!)"))
        store.add([screen, english, *turns])
    assert not store.search("设置", SearchOptions(mode="keyword")).hits
    before = {r["id"]: r for r in store.table.search().limit(None).to_arrow().to_pylist()}
    meta = as_of_schema(home, 6)

    reopened = MemoryStore.open(PASSPHRASE, home=home, embedder=HashEmbedder())
    assert json.loads(meta.read_text())["schema_version"] == store_module.SCHEMA_VERSION
    assert [h.id for h in reopened.search("设置", SearchOptions(mode="keyword")).hits] == [screen.id]
    assert [h.id for h in reopened.search("浏览器", SearchOptions(app="微信读书")).hits] == [screen.id]
    after = {r["id"]: r for r in reopened.table.search().limit(None).to_arrow().to_pylist()}
    assert after[english.id]["tokens"] == before[english.id]["tokens"]          # nothing else changes
    codec = reopened.codec
    for turn in turns[:2]:  # a turn's neighbours stay indexed with it
        assert codec.around_tokens(after[turn.id]["tokens"]) == codec.around_tokens(before[turn.id]["tokens"]) != ""
        assert codec.own_tokens(after[turn.id]["tokens"]) != codec.own_tokens(before[turn.id]["tokens"])
    assert reopened.get(screen.id).text == screen.text and reopened.stats().versions == 1


@pytest.mark.slow  # 150 one-row writes, a search after each
def test_lancedbs_metadata_cache_stays_bounded_over_many_one_row_writes(home: Path, monkeypatch) -> None:
    """Every write is a table version, and LanceDB kept the metadata of each it had read: ~37 KB a write,
    unbounded, which capture's one-frame writes turned into tens of MB an hour of use."""
    monkeypatch.setattr(store_module, "_METADATA_CACHE_BYTES", 1 << 20)
    store, _ = MemoryStore.create(PASSPHRASE, home=home, embedder=HashEmbedder(), kdf_seconds=FAST_KDF)
    for i in range(150):
        store.add([Memory("frame", f"screen {i} budget meeting", {"monitor": 0})])
        store.search("budget")
    assert store.session.size_bytes < 3 << 20   # ~5.5 MB unbounded
    store.close()


def test_a_damaged_meta_file_is_put_back_from_its_copy(store: MemoryStore, home: Path) -> None:
    """Found re-running issue 20's attacks: a truncated engram-store.json kept every command out, repair too."""
    (memory_id,) = store.add([Memory("semantic", "Anna prefers green tea")])
    store.close()
    meta = home / "store" / "engram-store.json"
    whole = meta.read_text()
    meta.write_text(whole[:20])
    reopened = MemoryStore.open(PASSPHRASE, home=home, embedder=HashEmbedder())
    assert reopened.get(memory_id).text == "Anna prefers green tea" and meta.read_text() == whole
    assert reopened.check_rows().ok
    reopened.close()
    meta.write_text("{")
    (home / "store" / "engram-store.json.bak").write_text("")
    with pytest.raises(StoreError, match="copy .* missing or damaged too.*engram export"):
        MemoryStore.open(PASSPHRASE, home=home, embedder=HashEmbedder())


def test_a_schema_9_store_tags_the_sources_of_its_memories_and_forgetting_finds_them(store: MemoryStore, home: Path) -> None:
    from agents.forget import forget

    frames = [Memory("frame", f"screen {i}", {"monitor": 0}) for i in range(2)]
    note = Memory("semantic", "Anna leads the Atlas project", source_ids=[f"frame:{frames[0].id}"], trust=Trust.INFERRED)
    kept = Memory("semantic", "the boiler is serviced in May", source_ids=[f"frame:{frames[1].id}"], trust=Trust.INFERRED)
    core = Memory("core", "- lives in Lisbon", {"facts": [{"type": "home", "value": "lives in Lisbon", "trust": 1,
                                                           "at": "2026-03-01T09:00:00", "source": f"frame:{frames[0].id}"}]})
    store.add([*frames, note, kept, core])
    store.table.drop_columns(["source_tags"])                       # as schema 9 stored them
    twin = store.table.search().where(f"id = '{kept.id}'").to_arrow()
    store.table.add(twin)                       # two rows of one id, as stores from before issue 20.3 may hold
    store.accept_rows()
    before = {r["id"]: r for r in store.table.search().limit(None).to_arrow().to_pylist()}
    meta = as_of_schema(home, 9)
    store.close()

    reopened = MemoryStore.open(PASSPHRASE, home=home, embedder=HashEmbedder())
    assert json.loads(meta.read_text())["schema_version"] == store_module.SCHEMA_VERSION
    after = {r["id"]: r for r in reopened.table.search().limit(None).to_arrow().to_pylist()}
    assert after[frames[0].id]["source_tags"] is None                # a screen names no source
    assert after[note.id]["source_tags"] == after[core.id]["source_tags"] == [reopened.codec.source_tag(f"frame:{frames[0].id}")]
    for row_id, row in before.items():                               # nothing else changes
        assert {k: after[row_id][k] for k in row} == row
    assert reopened.table.count_rows(f"id = '{kept.id}'") == 2       # the twins are rewritten alike
    assert reopened.check_rows().ok and reopened.stats().versions == 1

    forget(reopened, [frames[0].id])

    assert reopened.get(note.id) is None and reopened.get(kept.id) is not None
    assert "Lisbon" not in reopened.get(core.id).text               # the fact it gave goes with it


def test_a_new_memory_is_written_without_a_lookup_and_written_again_replaces_its_row(store: MemoryStore, monkeypatch) -> None:
    """Capture writes every screen as a new memory: its id was made a moment ago, so no stored row can
    have it. Once given to the store, every later write of it, or of a copy, looks the id up again."""
    from dataclasses import replace

    looked_up: list[str] = []
    stamps_of = store._stamps_of
    monkeypatch.setattr(store, "_stamps_of", lambda ids: (looked_up.extend(ids), stamps_of(ids))[1])
    memory = Memory("semantic", "the boiler is serviced in May")
    store.add([memory])
    assert looked_up == []
    memory.text = "the boiler is serviced in June"
    store.add([memory])
    store.save([replace(memory, text="the boiler is serviced in July")])
    # The second write looks up (the first built the keyword index: a commit came between); the third takes
    # the stamp the second left (nothing came between).
    assert looked_up == [memory.id]
    assert store.count() == 1 and store.get(memory.id).text == "the boiler is serviced in July"

    fresh = Memory("semantic", "the car is serviced in May")
    store.add([replace(fresh, text="the car is serviced in June")])   # a copy written first ...
    store.add([fresh])                                                # ... then the memory it was made from
    twin = Memory("semantic", "the bike is serviced in May")
    store.add([twin, replace(twin)])
    store.add([twin])
    assert store.count() == 3 and store.check_rows().ok               # one row per id, and the ledger agrees


def test_a_screen_forgotten_between_its_two_writes_stays_forgotten(store: MemoryStore, home: Path, monkeypatch) -> None:
    """Capture writes a screen, then again once its text is read, taking the stamp the first write left in
    memory instead of a lookup, but only when nothing was committed between the two: not another process's
    forget, not this one's."""
    def screen(i: int) -> Memory:
        return Memory("frame", "", time=NOW + timedelta(seconds=i), app="Firefox", title=f"page {i}")

    looked_up: list[str] = []
    stamps_of = store._stamps_of
    monkeypatch.setattr(store, "_stamps_of", lambda ids: (looked_up.extend(ids), stamps_of(ids))[1])
    store.add([screen(0)])                                      # past the first index build
    read = screen(1)
    store.add([read])
    read.text = "quarterly budget review"
    assert store.save([read], replace_only=[read.id]) == [read.id] and looked_up == []
    assert store.get(read.id).text == "quarterly budget review"

    elsewhere = MemoryStore.open(PASSPHRASE, home=home, embedder=HashEmbedder())   # the command line, say
    for forget in (elsewhere.delete, store.delete):
        gone = screen(2)
        store.add([gone])
        forget([gone.id])
        gone.text = "read after it was forgotten"
        assert store.save([gone], replace_only=[gone.id]) == [] and gone.id in looked_up
        assert store.get(gone.id) is None and elsewhere.get(gone.id) is None
    assert store.count() == 2 and store.check_rows().ok
