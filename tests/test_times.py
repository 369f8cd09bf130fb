"""Times outside the supported years (1900–2200): refused on the way in, and a store already holding one
(written before the check existed) stays usable: read, searched, digested and deleted."""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest

from agents.meta import MetaMemoryManager
from agents.pipeline import Digester
from agents.router import EmbeddingRouter
from app.cli.input import CliError, memory_from_json, parse_when
from storage.codec import to_us
from storage.memory import Memory
from storage.store import SCHEMA_VERSION, MemoryStore

from conftest import PASSPHRASE, as_of_schema
from fakes import HashEmbedder

UTC = timezone.utc
PLUS_5, MINUS_5 = timezone(timedelta(hours=5)), timezone(timedelta(hours=-5))
YEAR_0 = datetime(1, 1, 1, tzinfo=PLUS_5)            # year 0 once in UTC: what an older import stored
YEAR_10000 = datetime(9999, 12, 31, 23, 59, tzinfo=MINUS_5)


def message(text: str, time: datetime) -> Memory:
    return Memory(kind="message", text=text, fields={"speaker": "Ana", "conversation": "c"}, time=time)


def _with_stored_time(store: MemoryStore, memory_id: str, moment: datetime) -> None:
    """What an older Engram wrote: the row as it was stored, before times were checked."""
    store.table.update(where=f"id = '{memory_id}'", values={"time_us": to_us(moment)})


@pytest.mark.parametrize("moment", [YEAR_0, YEAR_10000, datetime(1899, 12, 31, 23, tzinfo=UTC),
                                    datetime(2201, 1, 1, tzinfo=UTC)])
def test_a_memory_outside_the_supported_years_is_refused(store: MemoryStore, moment: datetime) -> None:
    with pytest.raises(ValueError, match="outside the supported years 1900–2200"):
        message("hello", moment)
    kept = message("hello", datetime(2024, 1, 1, tzinfo=UTC))
    kept.time = moment  # changed after it was made: the store checks again before writing
    with pytest.raises(ValueError, match="outside the supported years 1900–2200"):
        store.add([kept])
    assert store.count() == 0


def test_a_stored_row_outside_the_years_is_read_searched_digested_and_deleted(store: MemoryStore) -> None:
    early, late, fine = store.add([message("lunch with Ana in Porto", datetime(2024, 5, 1, tzinfo=UTC)),
                                   message("lunch plans for Lisbon", datetime(2024, 5, 2, tzinfo=UTC)),
                                   message("lunch at noon", datetime(2024, 5, 3, tzinfo=UTC))])
    _with_stored_time(store, early, YEAR_0)
    _with_stored_time(store, late, YEAR_10000)
    assert {h.id for h in store.search("lunch").hits} == {early, late, fine}
    assert store.get(early).time.year == 1900 and store.get(late).time.year == 2200  # the nearest end
    assert len(store.list_range(kinds=["message"])) == 3
    Digester(store, MetaMemoryManager(store, EmbeddingRouter(store.embedder), None)).run()
    assert store.count_undigested() == 0
    assert store.delete_range(datetime(2024, 5, 3, tzinfo=UTC), datetime(2024, 5, 4, tzinfo=UTC)) == 1


def test_opening_an_older_store_moves_its_out_of_range_times_into_the_years(store: MemoryStore) -> None:
    early, late = store.add([message("lunch with Ana", datetime(2024, 5, 1, tzinfo=UTC)),
                             message("dinner with Ana", datetime(2024, 5, 2, tzinfo=UTC))])
    _with_stored_time(store, early, YEAR_0)
    _with_stored_time(store, late, YEAR_10000)
    home = store.root.parent
    store.close()
    meta = as_of_schema(store.root.parent, 4)  # before times were moved
    reopened = MemoryStore.open(PASSPHRASE, home=home, embedder=HashEmbedder())
    try:
        # A time range that holds the rows as they read also finds them in the table, so `delete --range` works.
        assert reopened.delete_range(datetime(1900, 1, 1, tzinfo=UTC), datetime(1900, 1, 2, tzinfo=UTC)) == 1
        assert reopened.delete_range(datetime(2200, 12, 31, tzinfo=UTC), datetime(2201, 1, 1, tzinfo=UTC)) == 1
        assert json.loads(meta.read_text())["schema_version"] == SCHEMA_VERSION
    finally:
        reopened.close()


@pytest.mark.parametrize("typed", ["9999-12-31T23:59:59-05:00", "0001-01-01T00:00:00+05:00", "1899-06-01",
                                   "2201-01-01T00:00"])
def test_a_typed_time_outside_the_years_says_the_range(typed: str) -> None:
    with pytest.raises(CliError, match="outside the supported years 1900–2200"):
        parse_when(typed)
    with pytest.raises(CliError, match="outside the supported years 1900–2200"):
        memory_from_json({"kind": "episodic", "text": "x", "time": typed})
    with pytest.raises(CliError, match="outside the supported years 1900–2200"):
        memory_from_json({"kind": "episodic", "text": "x", "ended": typed})


def test_typed_times_at_the_edges_of_the_years_are_fine() -> None:
    assert parse_when("1900-01-01T00:00+00:00") == datetime(1900, 1, 1, tzinfo=UTC)
    assert parse_when("2200-12-31", end=True) is not None
