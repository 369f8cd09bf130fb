"""A chat turn is found by the words and meaning of the turns around it (storage/neighbours.py)."""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pytest

from storage.memory import Memory
from storage.search import SearchOptions
from storage.store import MemoryStore

START = datetime(2024, 3, 1, 9, 0, tzinfo=timezone.utc)
CHAT = [
    ("Ana", "I finally went to the adoption agency open day"),
    ("Ben", "How was it?"),
    ("Ana", "Researching them took weeks, but it felt right"),
    ("Ben", "Proud of you"),
    ("Ana", "Next I want to paint the kitchen"),
    ("Ben", "Yellow would look great"),
]
OTHER = [("Cy", "The agency sent the invoice"), ("Cy", "paid")]


def _chat(turns: list[tuple[str, str]], conversation: str, start: datetime = START) -> list[Memory]:
    return [Memory(kind="message", text=text, fields={"speaker": speaker, "conversation": conversation},
                   time=start + timedelta(minutes=i), app="WhatsApp", source_kind="import")
            for i, (speaker, text) in enumerate(turns)]


def _keyword(store: MemoryStore, query: str) -> list[str]:
    hits = store.search(query, SearchOptions(mode="keyword", k=10, time_words=False)).hits
    return [h.snippet for h in hits]


def test_a_turn_is_found_by_its_neighbours_words_after_the_turn_that_says_them(store: MemoryStore) -> None:
    store.add(_chat(CHAT, "ana") + _chat(OTHER, "cy", START + timedelta(days=1)))
    found = _keyword(store, "adoption")
    assert found[0].startswith("I finally went to the adoption")
    # "Researching them…" says nothing of adoption; two turns on, it is about it.
    assert any(s.startswith("Researching them") for s in found)
    # Three turns away is another topic, and another conversation is not a neighbour.
    assert not any(s.startswith("Yellow") or s == "paid" for s in found)
    assert not any(s.startswith("The agency") for s in _keyword(store, "kitchen"))


def test_saving_a_turn_again_unchanged_keeps_its_neighbours(store: MemoryStore) -> None:
    turns = _chat(CHAT, "ana")
    store.add(turns)
    researching = turns[2]
    researching.recalled = START + timedelta(days=2)  # what Ask does with the notes it used
    store.save([researching], replace_only=[researching.id])
    assert any(s.startswith("Researching them") for s in _keyword(store, "adoption"))
    # Its words changed: indexed as it now reads, on its own.
    researching.text = "Researching them took weeks"
    store.update(researching)
    assert not any(s.startswith("Researching them") for s in _keyword(store, "adoption"))
    assert any(s.startswith("Researching them") for s in _keyword(store, "weeks"))


def test_a_turn_is_near_in_meaning_to_what_its_neighbours_say(store: MemoryStore) -> None:
    store.add(_chat(CHAT, "ana"))
    query = "adoption agency open day"
    own = store.embedder.embed([query, "How was it?\nBen"])
    assert float(own[0] @ own[1]) < 0.05  # on its own words the reply shares nothing with the query
    hits = store.search(query, SearchOptions(mode="vector", k=6, time_words=False, min_similarity=0.0)).hits
    order = [h.snippet for h in hits]
    assert "How was it?" in order
    assert "Yellow would look great" not in order[:order.index("How was it?")]


def test_a_word_or_two_typed_finds_the_turns_that_say_them_not_their_neighbours(store: MemoryStore) -> None:
    store.add(_chat([("Ana", "The budget review moved to Friday"), ("Ben", "ok"), ("Ana", "see you there")], "ana"))
    snippets = [h.snippet for h in store.search("budget", SearchOptions(k=10, time_words=False)).hits]
    assert snippets == ["The budget review moved to Friday"]
    # The turn beside it is still found when its neighbours' words are only part of what is asked.
    longer = [h.snippet for h in store.search("budget review moved Friday", SearchOptions(k=10, mode="keyword",
                                                                                          time_words=False)).hits]
    assert longer[0] == "The budget review moved to Friday" and "ok" in longer


def test_a_forgotten_turn_leaves_no_trace_in_its_neighbours(store: MemoryStore) -> None:
    turns = _chat([("Ana", "I told you about the quokka"), ("Ben", "which one"), ("Ana", "my secret pet quokka Zed"),
                   ("Ben", "cute"), ("Ana", "indeed")], "ana")
    store.add(turns)
    pet = turns[2]
    assert len(_keyword(store, "Zed")) > 1  # the turn and its neighbours
    store.delete([pet.id])
    assert _keyword(store, "Zed") == []
    # Its meaning went too: the neighbours' vectors are their own words' again.
    alone = store.embedder.embed(["cute\nBen"])[0]
    row = store.table.search().where("kind = 'message'").to_arrow().to_pylist()
    cute = next(r for r in row if store.codec.decode(r).text == "cute")
    assert float(store.rotation.apply(alone[None])[0] @ np.asarray(cute["vector"], np.float32)) > 0.99
    zed = store.codec.index.token("zed")
    assert not any(zed in (t or "") for t in store.table.to_arrow().column("tokens").to_pylist())
    # The neighbours stay, found by their own words.
    assert _keyword(store, "cute") == ["cute"]
    assert "I told you about the quokka" in _keyword(store, "quokka")


def test_importing_a_chat_again_indexes_turns_an_earlier_version_stored_alone(store: MemoryStore,
                                                                              tmp_path: Path) -> None:
    from agents.importers import import_file

    path = tmp_path / "chat.jsonl"
    path.write_text("".join(json.dumps({"time": 1714983600 + 60 * i, "speaker": speaker, "text": text}) + "\n"
                            for i, (speaker, text) in enumerate(CHAT)), encoding="utf-8")
    assert import_file(store, "jsonl", path).new == len(CHAT)
    # As an earlier version stored them: each turn indexed on its own words (and digested since).
    turns = store.list_range(kinds=["message"], limit=100)
    store.mark_digested([m.id for m in turns if not m.text.startswith("Yellow")])
    turns = store.list_range(kinds=["message"], limit=100)
    vectors = store.rotation.apply(store.embedder.embed([m.index_text() for m in turns]))
    store._write_rows([store.codec.encode(m, vectors[i]) for i, m in enumerate(turns)])
    assert not any(s.startswith("Researching them") for s in _keyword(store, "adoption"))

    again = import_file(store, "jsonl", path)
    assert again.new == 0 and again.already_present == len(CHAT)
    assert any(s.startswith("Researching them") for s in _keyword(store, "adoption"))
    assert store.count("message") == len(CHAT)
    assert store.indexed_alone([m.id for m in turns]) == []  # a third import writes nothing again
    # A turn not digested yet may hold a secret an earlier version did not mask: it is nobody's neighbour.
    assert _keyword(store, "yellow") == ["Yellow would look great"]


def test_forgetting_a_turn_prints_nothing_of_lances_own(store: MemoryStore, capfd: pytest.CaptureFixture[str]) -> None:
    """The look-up of the turns that held a forgotten turn's words printed LanceDB's deprecation warning (about a
    `_score` column) on stderr under `engram delete`'s own words."""
    turns = _chat([("Ana", "my secret pet quokka Zed"), ("Ben", "cute")], "ana")
    store.add(turns)
    capfd.readouterr()
    store.delete([turns[0].id])
    assert capfd.readouterr().err == ""
