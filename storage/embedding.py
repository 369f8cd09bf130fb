"""The seam between the store and whatever turns text into vectors.

The store only needs `dim` and `embed`; the real model lives in `storage.minilm`
and is loaded on first use, tests use a small deterministic fake.
"""
from __future__ import annotations

from pathlib import Path
from typing import Protocol, Sequence

import numpy as np
import numpy.typing as npt

from storage.search_first import SEARCH_FIRST, SearchFirst


class Embedder(Protocol):
    """Turns texts into L2-normalised float32 vectors of shape (len(texts), dim)."""

    @property
    def dim(self) -> int: ...

    def embed(self, texts: Sequence[str]) -> npt.NDArray[np.float32]: ...


class SearchFirstEmbedder:
    """An `Embedder` whose calls from a yielding thread (the agents') step aside for searches, one
    text at a time: a batch of 64 held the cores for seconds on a busy machine, and a query's
    embedding waited behind it; now a search waits at most for one text's embedding, about what its
    own query costs. Batches gain MiniLM little (BENCHMARKS.md: one question ~8 ms, a batch ~9 ms a
    text). Calls from any other thread go straight through, whole."""

    PIECE = 1

    def __init__(self, embedder: Embedder, search_first: SearchFirst = SEARCH_FIRST) -> None:
        self.inner = embedder
        self.search_first = search_first

    @property
    def dim(self) -> int:
        return self.inner.dim

    def embed(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        if not self.search_first.yields_here or len(texts) <= self.PIECE:
            self.search_first.step_aside()
            return self.inner.embed(texts)
        pieces = []
        for start in range(0, len(texts), self.PIECE):
            self.search_first.step_aside()
            pieces.append(self.inner.embed(texts[start:start + self.PIECE]))
        return np.concatenate(pieces)


_SET_BLAS_THREADS = ("scipy_openblas_set_num_threads64_", "scipy_openblas_set_num_threads", "openblas_set_num_threads64_",
                     "openblas_set_num_threads")


def one_blas_thread() -> bool:
    """Run numpy's OpenBLAS on one thread in this process (unless OPENBLAS_NUM_THREADS says otherwise);
    True if it was set.

    With its default of a thread per core, every matmul of MiniLM is handed to OpenBLAS's shared
    worker threads, which spin while they wait and are shared by every caller: with two callers (a
    query and the agents' embedding) or a busy neighbour, each waits for the other's turn and for
    cores the spinning threads keep busy. Measured in one process on two loaded cores
    (bench/popup_bench.py): popup search p50 ~500 ms with the default, 89 ms on one thread. One
    thread per caller lets the popup and the agents run side by side on the two cores instead."""
    import ctypes
    import glob
    import os

    if os.environ.get("OPENBLAS_NUM_THREADS"):
        return False
    here = Path(np.__file__).resolve().parent
    for library in sorted(glob.glob(str(here.parent / "numpy.libs" / "*openblas*"))
                          + glob.glob(str(here / ".dylibs" / "*openblas*"))):
        loaded = ctypes.CDLL(library)   # numpy loaded it already: this is the same copy
        for name in _SET_BLAS_THREADS:
            if hasattr(loaded, name):
                getattr(loaded, name)(1)
                return True
    return False
