"""Searches go first: the agents' digestion steps aside while a search is in flight, and goes on after."""
from __future__ import annotations

import ctypes
import glob
import os
import sys
import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta, timezone

import numpy as np
import pytest
from fakes import HashEmbedder

from app.agent_service import BACKGROUND_NICENESS, build_digester, in_the_background
from app.desktop.recall import RecallPopup
from storage.embedding import SearchFirstEmbedder, one_blas_thread
from storage.memory import Memory, Trust
from storage.search_first import SEARCH_FIRST, SearchFirst
from storage.store import MemoryStore

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)


def eventually(condition: Callable[[], bool], what: str) -> None:
    """Wait for something another thread does; fails only if it never happens."""
    deadline = time.monotonic() + 30
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.005)


def in_thread(work: Callable[[], None]) -> threading.Thread:
    thread = threading.Thread(target=work, daemon=True)
    thread.start()
    return thread


def test_a_yielding_thread_waits_while_someone_searches_and_goes_on_after() -> None:
    gate, order = SearchFirst(longest_pause=60), []

    def agent() -> None:
        with gate.yielding():
            order.append(("stepped aside", gate.step_aside()))

    with gate.searching():
        thread = in_thread(agent)
        eventually(lambda: gate.held_back == 1, "the agent never stepped aside")
        order.append(("search done", True))
    thread.join(30)
    assert order == [("search done", True), ("stepped aside", True)]


def test_only_threads_marked_yielding_ever_wait() -> None:
    gate = SearchFirst(longest_pause=60)
    with gate.searching():
        assert gate.step_aside() is False     # a search, capture or Ask thread goes straight on
    with gate.yielding():
        assert gate.step_aside() is False     # nobody is searching
    assert not gate.yields_here               # the mark ends with the block


def test_work_holding_the_writer_lock_never_steps_aside() -> None:
    gate = SearchFirst(longest_pause=60)
    with gate.searching(), gate.yielding():
        with gate.holding_on():               # capture's writes wait for this lock: no pause inside
            assert gate.step_aside() is False
        assert gate.yields_here               # and it gives way again once the lock is let go


def test_a_pause_is_bounded_so_a_hung_search_cannot_stop_digestion() -> None:
    gate = SearchFirst(longest_pause=0.01)
    with gate.searching(), gate.yielding():
        assert gate.step_aside() is True      # waited, gave up, went on
        assert gate.searching_now


def test_the_agents_embedding_gives_way_in_pieces_and_a_search_embeds_meanwhile() -> None:
    inner, gate = HashEmbedder(), SearchFirst(longest_pause=60)
    embedder = SearchFirstEmbedder(inner, gate)
    texts = [f"message number {i} about the garden" for i in range(40)]
    got: list[np.ndarray] = []

    def digesting() -> None:
        with gate.yielding():
            got.append(embedder.embed(texts))

    with gate.searching():
        thread = in_thread(digesting)
        eventually(lambda: gate.held_back == 1, "the agents' embedding never stepped aside")
        embedder.embed(["the query"])         # the search's own embedding is not held back
        assert inner.calls == [["the query"]]
    thread.join(30)
    assert inner.calls[1:] == [[text] for text in texts]
    assert np.array_equal(got[0], HashEmbedder().embed(texts))


def messages(count: int) -> list[Memory]:
    return [Memory(kind="message", text=f"Ana said the tomatoes in bed {i} need water", time=T0 + timedelta(minutes=i),
                   fields={"speaker": "Ana", "conversation": "garden"}, trust=Trust.IMPORTED, source_kind="import",
                   app="WhatsApp") for i in range(count)]


def test_a_search_during_a_long_digestion_completes_before_its_next_batch(store: MemoryStore) -> None:
    store.add(messages(12))
    digester = build_digester(store)          # the app's: the store's embedder steps aside too
    digester.batch = 4
    searched = threading.Event()
    seen: dict[str, int] = {}

    def search() -> None:
        with SEARCH_FIRST.searching():
            searched.set()
            eventually(lambda: SEARCH_FIRST.held_back == 1, "digestion never stepped aside for the search")
            assert store.search("tomatoes water").hits
            seen["undigested"] = store.count_undigested()

    def after_a_batch(done: int, total: int) -> None:
        if done == 4:                         # a search arrives while the first batch is written
            in_thread(search)
            searched.wait(30)

    summary = digester.run(progress=after_a_batch)
    assert seen == {"undigested": 8}          # the second batch waited for the search
    assert summary.batches == 3 and store.count_undigested() == 0


def test_the_app_wraps_the_store_embedder_once(store: MemoryStore) -> None:
    build_digester(store)
    build_digester(store)
    assert isinstance(store.embedder, SearchFirstEmbedder)
    assert isinstance(store.embedder.inner, HashEmbedder)


def test_the_popup_searches_as_someone_waiting(qtbot, store: MemoryStore) -> None:
    store.add(messages(2))
    flagged: list[bool] = []

    def search(query, options):  # type: ignore[no-untyped-def]
        flagged.append(SEARCH_FIRST.searching_now)
        return store.search(query, options)

    popup = RecallPopup(search, lambda hit: None)
    qtbot.addWidget(popup)
    popup.query.setText("tomatoes")
    qtbot.waitUntil(lambda: popup.status.text().endswith("result(s)"), timeout=10_000)
    assert flagged == [True] and not SEARCH_FIRST.searching_now


def test_ask_and_agents_over_mcp_search_as_someone_waiting(store: MemoryStore, monkeypatch: pytest.MonkeyPatch) -> None:
    from agents.ask import Asker
    from app.mcp.tools import ToolContext, search

    store.add(messages(2))
    flagged: list[bool] = []
    real = store.search
    monkeypatch.setattr(store, "search", lambda *a, **k: flagged.append(SEARCH_FIRST.searching_now) or real(*a, **k))
    Asker(store, remember=False).ask("who grows tomatoes?")
    search(ToolContext(store, "cursor", lambda q: None, lambda c, w: False), {"query": "tomatoes"})
    assert flagged == [True, True] and not SEARCH_FIRST.searching_now


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="niceness per thread is Linux's")
def test_the_agents_thread_runs_at_a_lower_priority_and_the_others_do_not() -> None:
    seen: dict[str, int] = {}

    def agents() -> None:
        in_the_background()
        seen["agents"] = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())

    in_thread(agents).join(30)
    assert seen["agents"] >= BACKGROUND_NICENESS
    assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) < BACKGROUND_NICENESS


@pytest.mark.skipif(bool(os.environ.get("OPENBLAS_NUM_THREADS")), reason="the environment chose BLAS threads")
def test_numpy_blas_runs_on_one_thread_once_the_agents_are_set_up() -> None:
    libraries = glob.glob(os.path.join(os.path.dirname(np.__file__) + ".libs", "*openblas*"))
    if not libraries:
        pytest.skip("numpy here is not built on its bundled OpenBLAS")
    assert one_blas_thread()
    assert ctypes.CDLL(libraries[0]).scipy_openblas_get_num_threads64_() == 1
