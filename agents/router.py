"""Which memory types a text belongs to, by meaning: k nearest labelled examples.

The packaged 270M model routes memories at chance (shared STACK.md), so the
default path is a similarity-weighted kNN over the store's own sentence
embeddings and the labelled examples in agents/routing_examples.py. Its
accuracy on the held-out set in tests/data/ is measured by the tests and by
bench/routing_bench.py. When the two best types are close, both are returned:
a manager that finds nothing to do costs less than a memory never made (MIRIX
routes to more managers rather than fewer when unsure).
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from agents.routing_examples import EXAMPLES
from storage.embedding import Embedder

NONE = "none"


@dataclass(frozen=True)
class Route:
    kinds: tuple[str, ...]          # memory types to hand the text to; () when it is worth no memory
    best: str                       # the single most likely label (may be "none")
    confidence: float               # the best label's share of the vote, 0..1
    scores: dict[str, float]


class EmbeddingRouter:
    def __init__(self, embedder: Embedder, k: int = 7, tie_margin: float = 0.15,
                 examples: dict[str, tuple[str, ...]] | None = None) -> None:
        self._embedder = embedder
        self._k = k
        self._tie_margin = tie_margin
        chosen = examples or EXAMPLES
        self._labels = [label for label, texts in chosen.items() for _ in texts]
        self._texts = [text for texts in chosen.values() for text in texts]
        self._vectors: npt.NDArray[np.float32] | None = None
        self.label_names = tuple(chosen)

    def classify(self, texts: Sequence[str]) -> list[Route]:
        if not texts:
            return []
        if self._vectors is None:
            self._vectors = self._embedder.embed(self._texts)
        similarity = self._embedder.embed(list(texts)) @ self._vectors.T
        return [self._vote(row) for row in similarity]

    def _vote(self, similarity: npt.NDArray[np.float32]) -> Route:
        nearest = np.argsort(-similarity)[: self._k]
        scores = dict.fromkeys(self.label_names, 0.0)
        for index in nearest:
            scores[self._labels[index]] += max(0.0, float(similarity[index]))
        total = sum(scores.values()) or 1.0
        shares = {label: score / total for label, score in scores.items()}
        ranked = sorted(shares, key=lambda label: shares[label], reverse=True)
        best, runner_up = ranked[0], ranked[1]
        kinds = [best]
        if shares[best] - shares[runner_up] < self._tie_margin:
            kinds.append(runner_up)
        return Route(tuple(k for k in kinds if k != NONE), best, shares[best], shares)
