from datetime import datetime, timedelta, timezone

import pytest

from storage.memory import Memory
from storage.search import SearchOptions, make_snippet
from storage.store import MemoryStore

from conftest import FAST_KDF, PASSPHRASE

NOW = datetime(2026, 11, 25, 15, 30, tzinfo=timezone.utc)


@pytest.fixture
def seeded(store: MemoryStore) -> MemoryStore:
    store.add([
        Memory("frame", "quarterly budget spreadsheet totals", time=NOW - timedelta(days=1, hours=2), app="LibreOffice Calc"),
        Memory("frame", "budget meeting notes with Anna", time=NOW - timedelta(days=9), app="Firefox"),
        Memory("semantic", "the budget is owned by finance", {"name": "budget"}, time=NOW - timedelta(days=40)),
        Memory("message", "Anna: lunch at noon?", {"speaker": "Anna"}, time=NOW - timedelta(hours=1)),
    ])
    return store


def texts(result) -> list[str]:
    return [h.snippet for h in result.hits]


def test_keyword_search_finds_stemmed_forms(seeded: MemoryStore) -> None:
    result = seeded.search("budgets", SearchOptions(mode="keyword"), now=NOW)
    assert len(result.hits) == 3 and all("budget" in t for t in texts(result))


def test_chinese_words_are_found_inside_the_runs_a_screen_writes_without_spaces(store: MemoryStore) -> None:
    settings = Memory("frame", "文件 编辑\n打开浏览器设置页面，然后选择隐私选项", time=NOW, app="Firefox")
    store.add([settings, Memory("frame", "设计文档的目录", time=NOW - timedelta(hours=1), app="Writer")])
    for query in ("浏览器", "设置", "隐私选项"):
        hits = store.search(query, SearchOptions(mode="keyword"), now=NOW).hits
        assert [h.id for h in hits] == [settings.id] and "打开浏览器设置页面" in hits[0].snippet, query
    assert not store.search("设页", SearchOptions(mode="keyword"), now=NOW).hits  # not a pair the text holds
    snippet, matched = make_snippet("文件 编辑\n" + "无关的内容 " * 40 + "\n打开浏览器设置页面", {"设置"})
    assert "打开浏览器设置页面" in snippet and matched == ["打开浏览器设置页面"]


def test_type_app_and_time_filters(seeded: MemoryStore) -> None:
    assert texts(seeded.search("budget", SearchOptions(kinds=["semantic"]), now=NOW)) == ["the budget is owned by finance"]
    assert texts(seeded.search("budget", SearchOptions(app="firefox"), now=NOW)) == ["budget meeting notes with Anna"]
    assert texts(seeded.search("budget", SearchOptions(app="LIBREOFFICE  calc"), now=NOW)) == \
        ["quarterly budget spreadsheet totals"]
    window = SearchOptions(since=NOW - timedelta(days=10), until=NOW - timedelta(days=2))
    assert texts(seeded.search("budget", window, now=NOW)) == ["budget meeting notes with Anna"]


def test_time_words_become_a_filter_and_leave_the_query(seeded: MemoryStore) -> None:
    result = seeded.search("budget yesterday", now=NOW)
    assert result.time_phrase == "yesterday" and result.query_text == "budget"
    assert texts(result) == ["quarterly budget spreadsheet totals"]
    assert result.since is not None and result.until is not None and result.until - result.since == timedelta(days=1)
    everything_last_week = seeded.search("what did I see last week", SearchOptions(mode="keyword"), now=NOW)
    assert texts(everything_last_week) == ["budget meeting notes with Anna"]
    literal = seeded.search("budget yesterday", SearchOptions(time_words=False), now=NOW)
    assert literal.time_phrase is None and len(literal.hits) == 3


def test_a_questions_time_is_a_hint_that_puts_what_was_said_around_it_first(store: MemoryStore) -> None:
    """Ask's questions: "what did Nate do for Joanna on 25 May, 2022?" is answered by a message of a few days
    later as often as of that day, and a plain filter drops the answer when it was told later still."""
    day = datetime(2022, 5, 25, 12, tzinfo=timezone.utc)
    told_after = Memory("message", "Nate: I baked a cake for Joanna on Wednesday", time=day + timedelta(days=2))
    store.add([Memory("message", f"Nate: I baked a cake for Joanna again, number {i}",
                      time=day - timedelta(days=60 + i)) for i in range(6)] + [told_after] +
              [Memory("message", "Nate: a cake for Joanna is on my list for the summer", time=day + timedelta(days=40)),
               on_the_day := Memory("message", "Joanna: Nate is busy today", time=day)])
    question = "What cake did Nate bake for Joanna on 25 May, 2022?"
    hinted = store.search(question, SearchOptions(mode="keyword", time_hints=True), now=NOW)
    assert hinted.hits[0].id == told_after.id and hinted.time_phrase and len(hinted.hits) == 9   # nothing dropped
    filtered = store.search(question, SearchOptions(mode="keyword"), now=NOW)
    assert [h.id for h in filtered.hits] == [on_the_day.id]                     # a filter on the day alone
    # A filter the caller set still holds, and a time with no other words is still a filter.
    early = SearchOptions(mode="keyword", time_hints=True, until=day - timedelta(days=30))
    assert all(h.time < day - timedelta(days=30) for h in store.search(question, early, now=NOW).hits)
    alone = store.search("what did I do on 27 May, 2022", SearchOptions(time_hints=True), now=NOW)
    assert [h.id for h in alone.hits] == [told_after.id]


def test_recency_prior_breaks_ties_towards_newer(store: MemoryStore) -> None:
    store.add([Memory("message", "standup notes", time=NOW - timedelta(days=d)) for d in (300, 1, 60)])
    hits = store.search("standup notes", SearchOptions(mode="keyword", recency_weight=1.0), now=NOW).hits
    assert [round((NOW - h.time).days) for h in hits] == [1, 60, 300]


def test_results_carry_what_the_ui_needs(seeded: MemoryStore) -> None:
    hit = seeded.search("spreadsheet", now=NOW).hits[0]
    assert hit.kind == "frame" and hit.app == "LibreOffice Calc" and hit.frame_id == hit.id
    assert hit.matched == ["spreadsheet"] and hit.score > 0
    assert hit.time == NOW - timedelta(days=1, hours=2)


def test_snippet_centres_on_the_first_match() -> None:
    text = "lorem ipsum " * 40 + "the FLIGHT confirmation is ABC123 " + "dolor sit " * 40
    snippet, matched = make_snippet(text, {"flight", "abc123"})
    assert "FLIGHT confirmation is ABC123" in snippet and snippet.startswith("…") and snippet.endswith("…")
    assert matched == ["ABC123", "FLIGHT"] and len(snippet) < 200


def test_nothing_relevant_gives_no_hits(seeded: MemoryStore) -> None:
    assert seeded.search("xylophone", now=NOW).hits == []


def test_locked_store_refuses_to_search(seeded: MemoryStore) -> None:
    from storage.keys import VaultLocked

    seeded.close()
    with pytest.raises(VaultLocked):
        seeded.search("budget")


@pytest.mark.slow
def test_search_by_meaning_with_the_real_model(home, real_embedder) -> None:
    store, _ = MemoryStore.create(PASSPHRASE, home=home, embedder=real_embedder, embedder_name="all-MiniLM-L6-v2",
                                  kdf_seconds=FAST_KDF)
    store.add([
        Memory("semantic", "Anna prefers green tea over coffee", {"name": "Anna"}),
        Memory("procedural", "How to make pancakes: mix flour, eggs and milk, then fry", {"entry_type": "guide"}),
        Memory("episodic", "Renewed the car insurance policy online"),
        Memory("resource", "Kubernetes deployment manual", {"uri": "https://example.org/k8s"}),
    ])
    cases = {"what does Anna like to drink": "green tea", "breakfast recipe": "pancakes",
             "vehicle coverage": "insurance", "container orchestration docs": "Kubernetes"}
    for query, expected in cases.items():
        vector_hits = store.search(query, SearchOptions(mode="vector", k=1)).hits
        assert vector_hits and expected in vector_hits[0].snippet, query
        assert expected in store.search(query, SearchOptions(k=1)).hits[0].snippet, query


def test_records_without_words_never_match_by_meaning(store: MemoryStore) -> None:
    store.add([Memory("frame", "", {"monitor": 0}), Memory("frame", "", {"monitor": 0}, text_pending=True)])
    assert store.search("porto offsite", SearchOptions(min_similarity=-1.0)).hits == []


def test_a_hit_names_the_screen_to_show_by_its_id(store) -> None:
    [frame] = store.add([Memory("frame", "invoice total on screen")])
    store.add([Memory("semantic", "the invoice total was paid", source_ids=["message:" + "a" * 32, f"frame:{frame}"])])
    hits = {h.kind: h for h in store.search("invoice total", SearchOptions(mode="keyword")).hits}
    assert hits["frame"].frame_id == frame and hits["semantic"].frame_id == frame


def test_hybrid_keeps_the_best_keyword_match_first_when_its_meaning_score_is_weak(store: MemoryStore) -> None:
    """A dense screen holding both query words is the keyword half's first hit, but a short query is
    far from a whole page by cosine. Rank fusion put every page that both halves found above it;
    hybrid must not lose what keyword alone gets right."""
    page = "invoice ledger " + " ".join(f"filler{i}" for i in range(60))
    store.add([Memory("frame", page, time=NOW - timedelta(days=3))]
              + [Memory("frame", f"invoice note {w}", time=NOW - timedelta(days=3)) for w in ("red", "blue", "green")])
    keyword = store.search("invoice ledger", SearchOptions(mode="keyword"), now=NOW)
    hybrid = store.search("invoice ledger", now=NOW)
    assert keyword.hits[0].snippet.startswith("invoice ledger")
    assert hybrid.hits[0].id == keyword.hits[0].id


def test_time_words_that_match_nothing_are_searched_as_words(store: MemoryStore) -> None:
    """"Today's deals" on a shop's page, "Modified yesterday" in a file manager: words on a screen."""
    store.add([Memory("frame", "Today's deals on garden tools", time=NOW - timedelta(days=20)),
               Memory("frame", "Name Size Modified yesterday report.odt", time=NOW - timedelta(days=40)),
               # Screens of today that meaning alone would offer for any query: not a reason to filter.
               Memory("frame", "weather forecast sunny", time=NOW - timedelta(hours=1)),
               Memory("frame", "terminal make test passed", time=NOW - timedelta(hours=2))])
    # min_similarity -1: meaning offers every screen of today, as the real model does for a short query.
    deals = store.search("today's deals", SearchOptions(min_similarity=-1.0), now=NOW)
    assert deals.hits[0].snippet == "Today's deals on garden tools"
    assert deals.time_ignored and deals.time_phrase is None and deals.since is None
    modified = store.search("modified yesterday", SearchOptions(mode="keyword"), now=NOW)
    assert modified.time_ignored and "report.odt" in modified.hits[0].snippet
    # A time phrase that does match keeps its filter and says so.
    store.add([Memory("frame", "garden tools invoice", time=NOW - timedelta(hours=3))])
    today = store.search("garden tools today", now=NOW)
    assert not today.time_ignored and today.time_phrase == "today"
    assert today.hits[0].snippet == "garden tools invoice"
    assert all(h.time >= NOW.replace(hour=0, minute=0) for h in today.hits)


def test_a_screens_snippet_is_the_line_that_matched_not_the_top_of_the_page() -> None:
    """Issue 15.9: a screen's window title at the top holds a query word too ("trip_notes.txt"); the line
    holding most of the query's words is where the screen matched."""
    page = "\n".join(["trip_notes.txt - less", "TRIP PLANNING", "Day 1: arrive at the airport, tram to the centre",
                      "Day 2: Sintra by train, back for dinner", "Day 3: Belem, the tower and the monastery",
                      "Hotel: Casa do Alecrim, check-in after 15:00", "Day 4: fly home at 18:40"])
    snippet, matched = make_snippet(page, {"trip", "hotel", "alecrim"})
    assert snippet.startswith("…Hotel: Casa do Alecrim, check-in after 15:00"), snippet
    assert set(matched) == {"trip", "TRIP", "Hotel", "Alecrim"}
    # A page matched by meaning only, and a short one, still start at the top.
    assert make_snippet(page, set())[0].startswith("trip_notes.txt - less TRIP PLANNING")
    assert make_snippet("Hotel: Casa do Alecrim", {"alecrim"})[0] == "Hotel: Casa do Alecrim"


def test_a_question_puts_the_turn_of_the_person_it_names_that_holds_its_words_first(store: MemoryStore) -> None:
    """Fusion weighs each word by its rarity: a short turn repeating the rarest word comes first. Reordered,
    the turn said by the person the question names and holding more of its words does."""
    said = NOW - timedelta(days=3)
    store.add([
        Memory("message", "Melanie: we drove out early, and I watched the sunrise come up over the lake with the "
               "kids before breakfast", {"speaker": "Melanie"}, time=said),
        Memory("message", "Caroline: sunrise, sunrise, sunrise, Melanie!", {"speaker": "Caroline"},
               time=said + timedelta(seconds=1)),
    ] + [Memory("message", f"Caroline: the lake by the {i}th mile is cold", {"speaker": "Caroline"},
                time=said + timedelta(minutes=i)) for i in range(2, 17)])   # "lake": a common word here
    question = "What did Melanie say about the sunrise at the lake?"
    fused = store.search(question, SearchOptions(rerank_depth=0, recency_weight=0), now=NOW).hits
    reranked = store.search(question, SearchOptions(recency_weight=0), now=NOW).hits
    assert fused[0].speaker == "Caroline"                      # the order this changes
    assert reranked[0].speaker == "Melanie" and {h.id for h in reranked} == {h.id for h in fused}
    # Two words typed are words looked for, in keyword order: left as they are.
    assert [h.id for h in store.search("sunrise lake", now=NOW).hits] == [
        h.id for h in store.search("sunrise lake", SearchOptions(rerank_depth=0), now=NOW).hits]
