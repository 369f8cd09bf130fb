"""Progress of the slow part of an import: embedding the new messages.

`MemoryStore.add` embeds a whole batch in one call and then commits it, which
keeps an import all-or-nothing but gives no sign of life for a large chat.
While an import runs, the store's embedder is wrapped so that the batch is
embedded in slices and each finished slice is reported. Vectors are the same.
"""
from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    from storage.embedding import Embedder
    from storage.store import MemoryStore

Progress = Callable[[int, int], None]
_SLICE = 512  # big enough for the model's own length-sorted batching, small enough to report often


class _ReportingEmbedder:
    def __init__(self, inner: Embedder, progress: Progress, total: int) -> None:
        self._inner, self._progress, self._total = inner, progress, total
        self._done = 0
        # Only the importing thread's calls count: a search from another thread goes through unreported.
        self._thread = threading.get_ident()

    @property
    def dim(self) -> int:
        return self._inner.dim

    def embed(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        if len(texts) <= _SLICE:
            vectors = self._inner.embed(texts)
            self._report(len(texts))
            return vectors
        import numpy as np

        # The store embeds a chat turn twice (alone, and with its neighbours: storage/neighbours.py), so
        # the share of this call done is what is reported, not the count of texts.
        slices, embedded = [], 0
        for start in range(0, len(texts), _SLICE):
            slices.append(self._inner.embed(texts[start:start + _SLICE]))
            embedded += len(slices[-1])
            self._report(max(0, round(self._total * embedded / len(texts)) - self._done))
        return np.concatenate(slices)

    def _report(self, count: int) -> None:
        if threading.get_ident() == self._thread:
            self._done = min(self._total, self._done + count)
            self._progress(self._done, self._total)


@contextmanager
def reporting(store: MemoryStore, progress: Progress | None, total: int) -> Iterator[None]:
    """Report (done, total) to `progress` as the store embeds the `total` new messages."""
    if progress is None:
        yield
        return
    inner = store.embedder
    store.embedder = _ReportingEmbedder(inner, progress, total)
    try:
        yield
    finally:
        store.embedder = inner
