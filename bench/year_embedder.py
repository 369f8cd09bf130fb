"""Bench-only `Embedder` for the year of use: real MiniLM vectors for base texts, noise for the rest.

The real all-MiniLM-L6-v2 embeds tens of texts a second here, so a million frames cannot be embedded
with it. As in bench/store_latency.py (`PooledEmbedder`), base texts get their real vectors: each
screenshot's OCR reading, every LoCoMo turn, the router's examples. Any other text (a screen variation,
a message with its neighbours, a memory the digester wrote) gets the vector of the base text it shares
most rare words with, plus small Gaussian noise seeded by the text (so the same text always gets the
same vector), renormalised. Query texts come back exact.
"""
from __future__ import annotations

import hashlib
import re
from collections import Counter, defaultdict
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt

NOISE = 0.02          # per dimension: a text keeps cosine ~0.93 with its base
RARE = 40             # a word on more base texts than this says nothing about which base a text is near
_WORD = re.compile(r"[a-z0-9]{3,}")
F32 = npt.NDArray[np.float32]


def _words(text: str) -> set[str]:
    return set(_WORD.findall(text.lower()))


def _seed(text: str) -> int:
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "big")


class RealVectors:
    """MiniLM vectors memoised in a file of their own (bench/.data/year/), so the year's runs never
    write the cache other benchmarks save; LoCoMo turns already in that shared cache are read from it."""

    def __init__(self, path: Path, shared: Path | None = None) -> None:
        self.path = path
        self.cache: dict[str, F32] = _load(shared) if shared is not None else {}
        self.own = _load(path)
        self.cache.update(self.own)

    def get(self, texts: Sequence[str]) -> F32:
        missing = list(dict.fromkeys(t for t in texts if t not in self.cache))
        if missing:
            from storage.minilm import MiniLMEmbedder

            model = MiniLMEmbedder()
            for start in range(0, len(missing), 64):
                chunk = missing[start:start + 64]
                self.own.update(zip(chunk, model.embed(chunk)))
            self.cache.update(self.own)
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_name(self.path.stem + ".tmp.npz")
            np.savez(tmp, texts=np.array(list(self.own)), vectors=np.stack(list(self.own.values())))
            tmp.replace(self.path)
        return np.stack([self.cache[t] for t in texts]).astype(np.float32)


def _load(path: Path) -> dict[str, F32]:
    if not path.exists():
        return {}
    with np.load(path, allow_pickle=False) as data:
        return dict(zip(data["texts"].tolist(), data["vectors"]))


class YearEmbedder:
    def __init__(self, bases: dict[str, F32], exact: dict[str, F32]) -> None:
        self._texts = list(bases)
        self._vectors = np.stack([bases[t] for t in self._texts]).astype(np.float32)
        self._exact = exact
        postings: dict[str, list[int]] = defaultdict(list)
        for i, text in enumerate(self._texts):
            for word in _words(text):
                postings[word].append(i)
        self._postings = {w: ids for w, ids in postings.items() if len(ids) <= RARE}

    @property
    def dim(self) -> int:
        return int(self._vectors.shape[1])

    def embed(self, texts: Sequence[str]) -> F32:
        out = np.empty((len(texts), self.dim), np.float32)
        for row, text in enumerate(texts):
            out[row] = self._exact[text] if text in self._exact else self._near(text)
        return out

    def _near(self, text: str) -> F32:
        rng = np.random.default_rng(_seed(text))
        votes = Counter(i for w in _words(text) for i in self._postings.get(w, ()))
        if votes:
            vector = self._vectors[votes.most_common(1)[0][0]] + rng.normal(0.0, NOISE, self.dim)
        else:
            vector = rng.normal(0.0, 1.0, self.dim)  # shares nothing with any base: a direction of its own
        return np.asarray(vector / np.linalg.norm(vector), dtype=np.float32)
