"""Hybrid search: meaning (vectors) and keywords (BM25 over blind tokens), fused.

Both halves run inside LanceDB with the filters pushed down (type, time, app);
their ranked lists are merged by weighted reciprocal rank fusion plus a small
recency prior. Only the top results are decrypted, for their snippets.

Fusion is not free: on LoCoMo plain BM25 beats MiniLM and an unweighted RRF of
the two (shared STACK.md), so the weights are settings and every change is
measured by bench/locomo_retrieval.py against keyword-only in the same run.
"""
from __future__ import annotations

import math
import re
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from storage.blind_index import words
from storage.codec import from_us, to_us
from storage.memory import KINDS
from storage.timewords import parse_time_words

_WORD = re.compile(r"[^\W_]+")
_RRF_K = 60
_POOL = ThreadPoolExecutor(max_workers=1, thread_name_prefix="engram-vector-search")
# Words that carry no topic: a query of only these plus a time phrase lists that time range.
_FILLER = frozenset(words("what did i do see was were is are am the a an my me show happen happened "
                          "work worked working on at in during with everything anything all"))
_SNIPPET_CHARS = 160
# Everything but the vector, the tokens and the secret: search never decrypts a vault value.
_SUMMARY_COLUMNS = ["id", "kind", "time_us", "end_us", "created_us", "updated_us", "text_ready_us", "digested_us",
                    "trust", "text", "app", "title", "body"]


@dataclass(frozen=True)
class SearchOptions:
    kinds: Sequence[str] | None = None
    since: datetime | None = None
    until: datetime | None = None
    app: str | None = None
    k: int = 10
    mode: str = "hybrid"          # hybrid / keyword / vector
    time_words: bool = True       # turn "yesterday" etc. into a time filter
    keyword_weight: float = 1.0
    vector_weight: float = 0.5
    recency_weight: float = 0.1
    recency_half_life_days: float = 30.0
    # Nearest neighbours always exist; below this cosine they are noise, not "related".
    min_similarity: float = 0.2


@dataclass
class Hit:
    id: str
    kind: str
    time: datetime
    snippet: str
    score: float
    app: str = ""
    title: str = ""
    source_ids: list[str] = field(default_factory=list)
    frame_id: str | None = None     # the frame to show (itself, or the one a memory came from)
    matched: list[str] = field(default_factory=list)  # query words found in the snippet, for highlighting
    damaged: bool = False


@dataclass
class SearchResult:
    hits: list[Hit]
    query_text: str               # what was searched after time words were taken out
    since: datetime | None
    until: datetime | None
    time_phrase: str | None


class HybridSearch:
    def __init__(self, store: Any) -> None:
        self._store = store

    def search(self, query: str, options: SearchOptions, now: datetime | None = None) -> SearchResult:
        since, until, phrase, text = options.since, options.until, None, query
        if options.time_words:
            parsed = parse_time_words(query, now or datetime.now().astimezone())
            if parsed.phrase:
                text, phrase = parsed.text, parsed.phrase
                since = max(filter(None, (since, parsed.since)), default=None)
                until = min(filter(None, (until, parsed.until)), default=None)
        where = self._filter(options, since, until)
        depth = max(options.k * 3, 30)  # fuse over more than we show, so agreement can lift a hit
        if (since or until) and not set(words(text)) - _FILLER:
            keyword, vector = self._recent(where, depth), list[dict[str, Any]]()  # "what did I do yesterday"
        else:
            keyword, vector = self._retrieve(text, where, depth, options)
        ranked = self._fuse(keyword, vector, options, now)[: options.k]
        query_words = set(words(text))
        return SearchResult([self._hit(row, score, query_words) for row, score in ranked], text, since, until, phrase)

    # -- the two retrievers -----------------------------------------------------

    def _retrieve(self, text: str, where: str | None, depth: int,
                  options: SearchOptions) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """Keyword and vector search at the same time: LanceDB and numpy release the GIL,
        so on two cores a hybrid query costs about as much as its slower half."""
        want_keyword = options.mode in ("hybrid", "keyword")
        want_vector = options.mode in ("hybrid", "vector") and bool(text.strip())
        if want_keyword and want_vector:
            vector_future = _POOL.submit(self._vector, text, where, depth, options.min_similarity)
            keyword = self._keyword(text, where, depth)
            return keyword, vector_future.result()
        if want_vector:
            return [], self._vector(text, where, depth, options.min_similarity)
        return (self._keyword(text, where, depth) if want_keyword else []), []

    def _keyword(self, text: str, where: str | None, depth: int) -> list[dict[str, Any]]:
        tokens = self._store.codec.index.tokens(text)
        if not tokens:
            return []
        query = self._store.table.search(tokens, query_type="fts", fts_columns="tokens")
        if where:
            query = query.where(where, prefilter=True)
        rows: list[dict[str, Any]] = query.select(_SUMMARY_COLUMNS + ["_score"]).limit(depth).to_arrow().to_pylist()
        return rows

    def _vector(self, text: str, where: str | None, depth: int, min_similarity: float) -> list[dict[str, Any]]:
        store = self._store
        vector = store.rotation.apply(store.embedder.embed([text]))[0]
        query = store.table.search(vector, vector_column_name="vector").distance_type("l2")
        if where:
            query = query.where(where, prefilter=True)
        query = query.nprobes(20).refine_factor(5) if store.has_vector_index() else query
        rows = query.select(_SUMMARY_COLUMNS + ["tokens", "_distance"]).limit(depth).to_arrow().to_pylist()
        # Unit vectors: squared L2 distance = 2 - 2 * cosine. A record without words (a blank
        # screen, a frame not read yet) has no meaning to match. (Checked here, not as a
        # prefilter: a filter on the tokens column made every vector query scan the table.)
        return [r for r in rows if r["tokens"] and 1.0 - r["_distance"] / 2.0 >= min_similarity]

    def _recent(self, where: str | None, depth: int) -> list[dict[str, Any]]:
        query = self._store.table.search()
        if where:
            query = query.where(where)
        newest = query.select(["id", "time_us"]).limit(None).to_arrow() \
            .sort_by([("time_us", "descending")]).slice(0, depth).column("id").to_pylist()
        if not newest:
            return []
        ids = ", ".join(f"'{rid}'" for rid in newest)
        rows = self._store.table.search().where(f"id IN ({ids})").select(_SUMMARY_COLUMNS).limit(depth) \
            .to_arrow().to_pylist()
        return sorted(rows, key=lambda r: r["time_us"], reverse=True)

    # -- fusion ---------------------------------------------------------------------

    def _fuse(self, keyword: list[dict[str, Any]], vector: list[dict[str, Any]],
              options: SearchOptions, now: datetime | None) -> list[tuple[dict[str, Any], float]]:
        scores: dict[str, float] = {}
        rows: dict[str, dict[str, Any]] = {}
        for weight, ranked in ((options.keyword_weight, keyword), (options.vector_weight, vector)):
            for rank, row in enumerate(ranked):
                scores[row["id"]] = scores.get(row["id"], 0.0) + weight / (_RRF_K + rank + 1)
                rows[row["id"]] = row
        if options.recency_weight:
            now_us = to_us(now or datetime.now(timezone.utc))
            half_life_us = options.recency_half_life_days * 86_400e6
            for rid in scores:
                age = max(0, now_us - rows[rid]["time_us"])
                # On the RRF scale: at most what the top rank of one retriever is worth, times the weight.
                scores[rid] += options.recency_weight / (_RRF_K + 1) * math.pow(0.5, age / half_life_us)
        order = sorted(scores, key=lambda rid: scores[rid], reverse=True)
        return [(rows[rid], scores[rid]) for rid in order]

    # -- results ----------------------------------------------------------------

    def _hit(self, row: dict[str, Any], score: float, query_words: set[str]) -> Hit:
        """Decrypt one result; only the top k ever are."""
        memory = self._store.codec.decode(row)
        snippet, matched = make_snippet(memory.text, query_words)
        return Hit(memory.id, memory.kind, from_us(row["time_us"]), snippet, score, memory.app, memory.title,
                   memory.source_ids, memory.frame_id, matched, bool(memory.damaged))

    def _filter(self, options: SearchOptions, since: datetime | None, until: datetime | None) -> str | None:
        clauses = []
        if options.app:
            clauses.append(f"app_tag = '{self._store.codec.app_tag(options.app)}'")
        if options.kinds:
            unknown = [k for k in options.kinds if k not in KINDS]
            if unknown:
                raise ValueError(f"unknown memory type(s): {', '.join(unknown)}")
            clauses.append(f"kind IN ({', '.join(repr(k) for k in options.kinds)})")
        if since:
            clauses.append(f"time_us >= {to_us(since)}")
        if until:
            clauses.append(f"time_us < {to_us(until)}")
        return " AND ".join(clauses) or None


def make_snippet(text: str, query_words: set[str]) -> tuple[str, list[str]]:
    """A short window of `text` around the first matched query word, and the words matched."""
    flat = " ".join(text.split())
    if len(flat) <= _SNIPPET_CHARS and not query_words:
        return flat, []
    found: list[str] = []
    first = None
    for position, raw in _word_positions(flat):
        if words(raw) and words(raw)[0] in query_words:
            found.append(raw)
            first = position if first is None else first
    start = max(0, (first or 0) - _SNIPPET_CHARS // 3)
    snippet = flat[start:start + _SNIPPET_CHARS]
    prefix = "…" if start > 0 else ""
    suffix = "…" if start + _SNIPPET_CHARS < len(flat) else ""
    return prefix + snippet + suffix, sorted(set(found))


def _word_positions(text: str) -> list[tuple[int, str]]:
    return [(m.start(), m.group()) for m in _WORD.finditer(text)]
