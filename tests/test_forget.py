"""Forgetting a time range forgets what was made from it: a real store, the real memory agents."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from agents.forget import forget_range
from agents.meta import MetaMemoryManager
from agents.pipeline import Digester
from agents.router import EmbeddingRouter
from storage.memory import Memory, Trust
from storage.search import SearchOptions
from storage.store import MemoryStore

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)


def screen(text: str, title: str, minutes: float, app: str = "Firefox") -> Memory:
    return Memory("frame", text, {"monitor": 0}, time=T0 + timedelta(minutes=minutes), app=app, title=title,
                  trust=Trust.OBSERVED, source_kind="screen")


def digest(store: MemoryStore) -> None:
    Digester(store, MetaMemoryManager(store, EmbeddingRouter(store.embedder), user_names=("Ana",)), batch=4).run()


def kinds(store: MemoryStore, kind: str) -> list[Memory]:
    return store.list_range(kinds=[kind], limit=1000)


def test_forgetting_a_range_forgets_what_was_made_only_from_it(store: MemoryStore) -> None:
    inside = [screen(f"see https://quokka-secrets.example.org/plan and https://shared.example.net/wiki line {i}",
                     "Quokka plan - Mozilla Firefox", minutes=i) for i in range(6)]
    inside.append(screen("IBAN DE89 3704 0044 0532 0130 00 for the rent", "Bank - Mozilla Firefox", minutes=8))
    outside = [screen(f"back to https://shared.example.net/wiki page {i}", "Wiki - Mozilla Firefox", minutes=90 + i)
               for i in range(3)]
    store.add(inside + outside)
    digest(store)
    assert any(r.fields.get("uri") == "https://quokka-secrets.example.org/plan" for r in kinds(store, "resource"))
    assert kinds(store, "vault") and len(kinds(store, "episodic")) == 3

    forget_range(store, T0, T0 + timedelta(minutes=30), kinds=["frame", "episodic"])

    uris = {r.fields.get("uri"): r for r in kinds(store, "resource")}
    assert "https://quokka-secrets.example.org/plan" not in uris           # made only from the range: gone
    shared = uris["https://shared.example.net/wiki"]                       # seen outside too: kept, ...
    assert shared.source_ids and set(shared.source_ids) <= {f"frame:{f.id}" for f in outside}   # ... minus the range
    assert kinds(store, "vault") == []                                     # the IBAN was seen only in the range
    assert [e.title for e in kinds(store, "episodic")] == ["Wiki - Mozilla Firefox"]
    assert not [h for h in store.search("quokka", SearchOptions()).hits]   # nothing derived is found any more
    assert store.count("frame") == len(outside)


def test_an_episode_across_the_range_keeps_only_its_time_and_words_outside(store: MemoryStore) -> None:
    frames = [screen(f"{'platypus' if i < 5 else 'wombat'} notes draft line {i}", "Notes - Mozilla Firefox",
                     minutes=25 + i) for i in range(10)]
    store.add(frames)
    digest(store)
    [episode] = kinds(store, "episodic")
    assert episode.time == frames[0].time and "platypus" in episode.fields["key_phrases"]

    forget_range(store, T0, T0 + timedelta(minutes=30), kinds=["frame", "episodic"])

    [episode] = kinds(store, "episodic")
    assert (episode.time, episode.ended) == (frames[5].time, frames[-1].time)
    assert "platypus" not in episode.fields["key_phrases"] and "wombat" in episode.fields["key_phrases"]


def test_an_answer_quoting_only_forgotten_screens_goes_with_them(store: MemoryStore) -> None:
    from agents.ask import Asker

    store.add([screen("the cabin is by lake Fjordvik", "Cabin - Mozilla Firefox", minutes=5)])
    answer = Asker(store, None).ask("where is the cabin?")
    assert "Fjordvik" in answer.text
    quoting = lambda: [h.kind for h in store.search("Fjordvik", SearchOptions(ask_history=True)).hits  # noqa: E731
                       if "Fjordvik" in h.snippet]
    assert quoting() == ["frame", "message"]

    forget_range(store, T0, T0 + timedelta(minutes=30), kinds=["frame"])

    assert quoting() == []                                                 # the answer quoting it goes too
    assert [m.text for m in store.list_range(kinds=["message"])] == ["where is the cabin?"]   # the question stays


def test_forgetting_leaves_memories_the_user_wrote_and_the_core_facts_of_other_lines(store: MemoryStore) -> None:
    lines = [Memory("message", "My name is Ana Lima", {"speaker": "Ana", "conversation": "c1"},
                    time=T0 + timedelta(minutes=5), trust=Trust.IMPORTED, source_kind="import"),
             Memory("message", "I live in Lisbon", {"speaker": "Ana", "conversation": "c1"},
                    time=T0 + timedelta(hours=3), trust=Trust.IMPORTED, source_kind="import")]
    store.add(lines)
    digest(store)
    [core] = kinds(store, "core")
    assert "Ana Lima" in core.text and "Lisbon" in core.text
    edited = Memory("semantic", "Ana's plan, in her words", source_ids=[f"message:{lines[0].id}"], trust=Trust.USER)
    store.add([edited])

    forget_range(store, T0, T0 + timedelta(hours=1))                       # every kind, the first line among them

    [core] = kinds(store, "core")
    assert "Ana Lima" not in core.text and "Lisbon" in core.text           # only the forgotten line's fact goes
    kept = store.get(edited.id)
    assert kept is not None and kept.source_ids == []                      # the user's own word stays, sourceless
    assert store.count("message") == 1


def test_a_forgotten_range_leaves_search_at_once_and_the_disk_at_the_next_upkeep(store: MemoryStore, home) -> None:
    from storage.upkeep import pending_erase, run_upkeep
    from test_canary import leaks
    from test_upkeep import sealed_probes

    inside = [screen(f"the quokka plan draft line {i}", "Quokka plan - Mozilla Firefox", minutes=i) for i in range(4)]
    outside = [screen("the wiki front page", "Wiki - Mozilla Firefox", minutes=90)]
    store.add(inside + outside)
    digest(store)
    probes = [p for frame in inside for p in sealed_probes(store, frame.id)]

    forget_range(store, T0, T0 + timedelta(minutes=30), kinds=["frame", "episodic"])

    assert not store.search("quokka", SearchOptions()).hits and store.count("frame") == 1
    assert leaks(home, probes)                                             # the ciphertext waits for the upkeep
    run_upkeep(store)
    assert not leaks(home, probes) and not pending_erase(store)
    assert [f.text for f in kinds(store, "frame")] == ["the wiki front page"]


def test_forgetting_a_screen_opens_only_what_was_made_from_it(store: MemoryStore, monkeypatch) -> None:
    """A year of use is hundreds of thousands of chat messages and tens of thousands of memories written
    after any screen: a forget finds what names the screen by blind source tags and decrypts nothing else."""
    from agents.ask import Asker
    from agents.forget import forget

    frame = screen("the cabin is by lake Fjordvik", "Cabin - Mozilla Firefox", minutes=5)
    store.add([frame])
    store.add([Memory("message", f"chat line {i}", {"speaker": "Bob", "conversation": "team"},
                      time=T0 + timedelta(minutes=10 + i), trust=Trust.IMPORTED) for i in range(20)])
    other = screen("the boiler is serviced in May", "Notes - Mozilla Firefox", minutes=7)
    store.add([other, *(Memory("semantic", f"a note {i} about the boiler", source_ids=[f"frame:{other.id}"],
                               time=T0 + timedelta(minutes=30 + i)) for i in range(20))])
    Asker(store, None).ask("where is the cabin?")
    opened: list[str] = []
    decode = store.codec.decode
    monkeypatch.setattr(store.codec, "decode", lambda row: (opened.append(row["kind"]), decode(row))[1])
    report = forget(store, [frame.id])
    # The question and the answer Ask wrote, and the question again (indexed anew without the answer beside
    # it): no chat line (23 before), no note made from another screen (20 before).
    assert opened.count("message") <= 3 and "semantic" not in opened
    assert report.derived == 1 and len(store.list_range(kinds=["message"], limit=100)) == 21  # the chat stays
    assert store.count("semantic") == 20
