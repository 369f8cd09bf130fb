"""Searches go first: while someone waits for search results, the memory agents' work steps aside.

The desktop app searches, captures and digests in one process on (often) two cores. The popup's search
spends most of its time embedding the query, and so does digestion, with many small embedding calls
(a candidate's nearest memories, a batch's routing): both run numpy's BLAS on the same two cores, so a
keystroke's results waited behind the agents' work (bench/popup_bench.py, before: p50 564 ms against
344 ms idle). Digestion is
never in a hurry, so it gives way: a search marks itself `searching()`, and a thread marked `yielding()`
(the digester's) waits at each `step_aside()` until no search is in flight.

Only marked threads ever wait, so a search, capture or Ask never does. A pause is bounded
(`longest_pause`): a search that hangs slows digestion down, it cannot stop it.
"""
from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager

LONGEST_PAUSE_SECONDS = 5.0


class SearchFirst:
    def __init__(self, longest_pause: float = LONGEST_PAUSE_SECONDS) -> None:
        self.longest_pause = longest_pause
        self._changed = threading.Condition()
        self._searches = 0
        self._held_back = 0
        self._yielding = threading.local()

    @contextmanager
    def searching(self) -> Iterator[None]:
        """Around a search someone is waiting for (on any thread)."""
        with self._changed:
            self._searches += 1
        try:
            yield
        finally:
            with self._changed:
                self._searches -= 1
                self._changed.notify_all()

    def yielding(self) -> AbstractContextManager[None]:
        """Around background work on this thread: its `step_aside()` calls give way to searches."""
        return self._marked(True)

    def holding_on(self) -> AbstractContextManager[None]:
        """Around work on a yielding thread that holds what others wait for (the store's writer lock,
        which capture needs too): it steps aside before and after, never inside."""
        return self._marked(False)

    @contextmanager
    def _marked(self, yields: bool) -> Iterator[None]:
        before = self.yields_here
        self._yielding.on = yields
        try:
            yield
        finally:
            self._yielding.on = before

    @property
    def yields_here(self) -> bool:
        """Whether the calling thread is marked `yielding()`."""
        return bool(getattr(self._yielding, "on", False))

    def step_aside(self) -> bool:
        """On a yielding thread, wait while a search is in flight; True if it waited."""
        if not self.yields_here:
            return False
        with self._changed:
            if not self._searches:
                return False
            self._held_back += 1
            deadline = time.monotonic() + self.longest_pause
            try:
                while self._searches and (left := deadline - time.monotonic()) > 0:
                    self._changed.wait(left)
            finally:
                self._held_back -= 1
        return True

    @property
    def searching_now(self) -> bool:
        return self._searches > 0

    @property
    def held_back(self) -> int:
        """How many threads are stepping aside right now."""
        return self._held_back


# One per process: the searches and the digestion that compete for its cores.
SEARCH_FIRST = SearchFirst()
