"""The seam between the store and whatever turns text into vectors.

The store only needs `dim` and `embed`; the real model lives in `storage.minilm`
and is loaded on first use, tests use a small deterministic fake.
"""
from __future__ import annotations

from typing import Protocol, Sequence

import numpy as np
import numpy.typing as npt


class Embedder(Protocol):
    """Turns texts into L2-normalised float32 vectors of shape (len(texts), dim)."""

    @property
    def dim(self) -> int: ...

    def embed(self, texts: Sequence[str]) -> npt.NDArray[np.float32]: ...
