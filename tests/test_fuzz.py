"""Fuzzed inputs (hypothesis): every importer on mutated real exports, and `engram add --json`.

Whatever a file holds, the outcome is one of two: a clear error (ImportFailed / exit status 1) with the store
exactly as it was (same rows, same table version), or an import whose every row reads back, searches and
prints its dates. Any other exception, a traceback or a half-written store fails the test. The example count
is bounded so that each test takes a few seconds in CI.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agents.importers import ImportFailed, import_file
from storage.memory import KINDS
from storage.store import MemoryStore

DATA = Path(__file__).parent / "data" / "imports"
FUZZ = settings(max_examples=20, deadline=None, database=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                       HealthCheck.data_too_large])

# Values that broke importers before: far-off and malformed times, odd types, deep-ish structure.
TIMES = st.sampled_from(["0001-01-01T00:00:00+05:00", "9999-12-31T23:59:59-05:00", "9999-12-31T23:59:59",
                         "2024-05-06T08:30", "2024-05-06T08:30:00+02:00", "1899-12-31T23:00:00", "2201-01-01",
                         "1:56 pm on 8 May, 2023", "1:56 pm on 8 May, 0001", "1:56 pm on 8 May, 9999",
                         "not a date", "", "1e20", "-1", "1714983600"])
NUMBERS = st.one_of(st.sampled_from([0, -1, 1e20, -1e20, 1e15, 2**63, 1714983600, 1714983600.5]),
                    st.integers(min_value=-2**70, max_value=2**70),
                    st.floats(allow_nan=True, allow_infinity=True))
# Nested a few hundred levels: parses, then overflows the stack wherever it is walked or turned into text.
DEEP = st.integers(100, 950).map(lambda depth: json.loads("[" * depth + "]" * depth))
SCALARS = st.one_of(st.none(), st.booleans(), NUMBERS, TIMES, st.text(max_size=20), DEEP)
WEIRD = st.recursive(SCALARS, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                      st.dictionaries(st.text(max_size=8), inner, max_size=3)),
                     max_leaves=6)


def _mutate(draw: Any, value: Any) -> Any:
    """`value` with some of its parts replaced by weird values or dropped."""
    if draw(st.integers(0, 14)) == 0:
        return draw(WEIRD)
    if isinstance(value, dict):
        return {k: _mutate(draw, v) for k, v in value.items() if draw(st.integers(0, 19))}
    if isinstance(value, list):
        return [_mutate(draw, v) for v in value if draw(st.integers(0, 19))]
    return value


def _whole_or_nothing(store: MemoryStore, fmt: str, path: Path) -> None:
    before = (store.count(), store.table.version)
    try:
        summary = import_file(store, fmt, path)
    except ImportFailed as exc:
        assert (store.count(), store.table.version) == before, "a failed import wrote something"
        assert str(exc).endswith("nothing was imported")
        return
    assert store.count() >= before[0] + summary.new
    stored = store.list_range(limit=store.count() + 1)
    assert len(stored) == store.count()
    for moment in [summary.first, summary.last] + [m.time for m in stored]:
        moment.astimezone().strftime("%Y-%m-%d")  # what `engram import` and the timeline print
    store.search("the")
    _digest(store)  # what `engram import` does next


def _digest(store: MemoryStore) -> None:
    from agents.meta import MetaMemoryManager
    from agents.pipeline import Digester
    from agents.router import EmbeddingRouter

    Digester(store, MetaMemoryManager(store, EmbeddingRouter(store.embedder), None, user_names=("Ana",))).run()
    assert store.count_undigested() == 0


def _json_export(name: str, tmp_path: Path, draw: Any) -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(_mutate(draw, json.loads((DATA / name).read_text(encoding="utf-8")))),
                    encoding="utf-8")
    return path


@pytest.mark.parametrize("fmt,name", [("chatgpt", "conversations.json"), ("telegram", "result.json"),
                                      ("locomo", "locomo_tiny.json")])
@FUZZ
@given(data=st.data())
def test_fuzzed_json_exports_import_whole_or_not_at_all(store: MemoryStore, tmp_path: Path, fmt: str, name: str,
                                                        data: st.DataObject) -> None:
    _whole_or_nothing(store, fmt, _json_export(name, tmp_path, data.draw))


@FUZZ
@given(data=st.data())
def test_fuzzed_json_lines_import_whole_or_not_at_all(store: MemoryStore, tmp_path: Path,
                                                      data: st.DataObject) -> None:
    turns = [json.loads(line) for line in (DATA / "chat.jsonl").read_text(encoding="utf-8").splitlines() if line]
    lines = [json.dumps(_mutate(data.draw, turn)) for turn in turns]
    lines += data.draw(st.lists(st.one_of(st.text(max_size=30), WEIRD.map(json.dumps)), max_size=2))
    path = tmp_path / "chat.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    _whole_or_nothing(store, "jsonl", path)


_FIELD = st.one_of(st.integers(0, 40).map(str), st.sampled_from(["0000", "00", "2023", "9999", "0099", "13"]))
_NAME = st.one_of(st.sampled_from(["Ana", "Me", "\u200eAna", "Ana: Bob", 'Ana "x"', ""]), st.text(max_size=10))
_ANDROID = st.builds("{}/{}/{}, {}:{:02d}{} - {}: {}".format, _FIELD, _FIELD, _FIELD, st.integers(0, 25),
                     st.integers(0, 61), st.sampled_from(["", " PM", " am", "\u202fp.m."]), _NAME, st.text(max_size=30))
_IOS = st.builds("[{}.{}.{}, {}:{:02d}:{:02d}] {}: {}".format, _FIELD, _FIELD, _FIELD, st.integers(0, 25),
                 st.integers(0, 61), st.integers(0, 61), _NAME, st.text(max_size=30))


@FUZZ
@given(lines=st.lists(st.one_of(_ANDROID, _IOS, st.text(max_size=40)), min_size=1, max_size=8))
def test_fuzzed_whatsapp_chats_import_whole_or_not_at_all(store: MemoryStore, tmp_path: Path,
                                                          lines: list[str]) -> None:
    path = tmp_path / "WhatsApp Chat with Ana.txt"
    path.write_text("\n".join(lines), encoding="utf-8")
    _whole_or_nothing(store, "whatsapp", path)


# -- engram add --json -----------------------------------------------------------------------

_FIELD_NAMES = sorted({name for kind in KINDS.values() for name in kind.fields} | {"colour"})
_MEMORY = st.fixed_dictionaries({}, optional={
    "kind": st.one_of(st.sampled_from(list(KINDS)), WEIRD),
    "text": st.one_of(st.text(max_size=30), WEIRD),
    "fields": st.one_of(st.dictionaries(st.sampled_from(_FIELD_NAMES), WEIRD, max_size=3), WEIRD),
    "time": st.one_of(TIMES, WEIRD), "ended": st.one_of(TIMES, WEIRD),
    "trust": st.one_of(st.sampled_from(["user", "observed", "SUPERUSER", 0, 1, 4, 9]), WEIRD),
    "tags": st.one_of(st.lists(st.text(max_size=8), max_size=3), WEIRD),
    "source_ids": st.one_of(st.lists(st.text(max_size=8), max_size=2), WEIRD),
    "app": WEIRD, "title": WEIRD, "secret_value": WEIRD, "source_kind": WEIRD,
})


@FUZZ
@given(document=st.one_of(_MEMORY, st.lists(_MEMORY, max_size=3), WEIRD), kind=st.sampled_from(list(KINDS)))
def test_fuzzed_add_json_stores_all_or_says_what_is_wrong(store: MemoryStore, tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch,
                                                         capsys: pytest.CaptureFixture[str],
                                                         document: Any, kind: str) -> None:
    from app.cli import memories
    from app.cli import main

    monkeypatch.setattr(memories, "_open_store", lambda: store)  # the CLI's store, on the test's fast embedder
    path = tmp_path / "memories.json"
    path.write_text(json.dumps(document), encoding="utf-8")
    before = (store.count(), store.table.version)
    code = main(["add", kind, "--json", str(path)])
    _, err = capsys.readouterr()
    if code != 0:
        assert code == 1 and err.startswith("engram: ") and "Traceback" not in err
        assert (store.count(), store.table.version) == before, "a refused add wrote something"
        return
    stored = store.list_range(limit=store.count() + 1)
    assert len(stored) == store.count()
    for memory in stored:
        memory.time.astimezone()
    _digest(store)


@pytest.mark.parametrize("depth", [12, 500, 980])
def test_add_json_with_a_deeply_nested_field_says_so(store: MemoryStore, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch,
                                                    capsys: pytest.CaptureFixture[str], depth: int) -> None:
    from app.cli import memories
    from app.cli import main

    monkeypatch.setattr(memories, "_open_store", lambda: store)
    path = tmp_path / "memory.json"
    path.write_text('{"text": "x", "fields": {"details": ' + "[" * depth + "]" * depth + "}}", encoding="utf-8")
    assert main(["add", "semantic", "--json", str(path)]) == 1
    assert "nested too deeply" in capsys.readouterr().err
    assert store.count() == 0


def test_add_json_from_a_file_that_cannot_be_read_says_so(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from app.cli import main

    (tmp_path / "latin1.json").write_bytes('{"kind": "semantic", "text": "café"}'.encode("latin-1"))
    for name, says in (("missing.json", "cannot read"), ("latin1.json", "not UTF-8"), (".", "cannot read")):
        assert main(["add", "semantic", "--json", str(tmp_path / name)]) == 1
        assert says in capsys.readouterr().err


# Found by the fuzz test above: a full export whose 'left_chats' is null (not an object) was a traceback.
def test_a_telegram_export_with_a_null_part_is_refused(store: MemoryStore, tmp_path: Path) -> None:
    path = tmp_path / "result.json"
    path.write_text(json.dumps({"chats": {"list": []}, "left_chats": None}), encoding="utf-8")
    with pytest.raises(ImportFailed, match="no chat messages"):
        import_file(store, "telegram", path)
