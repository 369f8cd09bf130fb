"""Hybrid search: meaning (vectors) and keywords (BM25 over blind tokens), fused.

Both halves run inside LanceDB with the filters pushed down (type, time, app).
Every candidate either half found gets both scores: its BM25 (0 when the
keyword half did not find it) and its cosine to the query (read from its stored
vector when only the keyword half found it). The fused score is a weighted sum
of the two, each scaled to the query's best, plus a small recency prior.

Why not reciprocal rank fusion: with RRF a screen that is first by keyword but
whose cosine to a two-word query is low ranked below anything both halves
found, and hybrid lost to keyword alone on screen text (bench/screen_recall.py).
With scores, a weak cosine costs a little instead of a whole rank list.
Every change is measured on LoCoMo and on real screens against each half alone.

Only the top results are decrypted, for their snippets.
"""
from __future__ import annotations

import itertools
import math
import re
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

import numpy as np

from storage.blind_index import words
from storage.codec import from_us, to_us
from storage.memory import KINDS
from storage.timewords import parse_time_words

_WORD = re.compile(r"[^\W_]+")
_POOL = ThreadPoolExecutor(max_workers=1, thread_name_prefix="engram-vector-search")
# Words that carry no topic: a query of only these plus a time phrase lists that time range.
_FILLER = frozenset(words("what did i do see was were is are am the a an my me show happen happened "
                          "work worked working on at in during with everything anything all"))
# Ask's exchanges are stored as chat under this app (Engram's own windows are never captured).
ASK_APP = "Engram"
_SNIPPET_CHARS = 160
# `_reranked`'s weights, beside a fused position's 1/sqrt(1 + position): chosen on LoCoMo (a grid over both,
# checked on held-out conversations), round numbers rather than the grid's best.
_RERANK_COVERAGE = 0.6
_RERANK_SPEAKER = 0.25
# A question's time as a hint (`SearchOptions.time_hints`): what its words find from a few days before that time
# to a week after it (people tell of a day in the days after; a plan is made before), the best few of it first.
# Chosen on LoCoMo's 202 dated questions (R@10 147 -> 171 of them; a plain filter on the time: 148).
_HINT_BEFORE = timedelta(days=3)
_HINT_AFTER = timedelta(days=7)
_HINT_FIRST = 5
_KEYWORD_TIER = 10.0  # above anything weights and the recency prior can add up to
# Everything but the vector, the tokens and the secret: search never decrypts a vault value.
_SUMMARY_COLUMNS = ["id", "kind", "time_us", "end_us", "created_us", "updated_us", "text_ready_us", "digested_us",
                    "trust", "text", "app", "title", "body", "app_tag"]


@dataclass(frozen=True)
class SearchOptions:
    kinds: Sequence[str] | None = None
    since: datetime | None = None
    until: datetime | None = None
    app: str | None = None
    k: int = 10
    mode: str = "hybrid"          # hybrid / keyword / vector
    time_words: bool = True       # turn "yesterday" etc. into a time filter
    # ... or, for a question, into a hint: what falls around that time first, then everything else
    time_hints: bool = False
    keyword_weight: float = 1.0
    vector_weight: float = 0.5
    recency_weight: float = 0.1
    recency_half_life_days: float = 30.0
    # Nearest neighbours always exist; below this cosine they are noise, not "related": a vector-only
    # candidate under it is dropped, and a keyword hit under it gets nothing from its meaning.
    min_similarity: float = 0.2
    # A query of this many words or fewer is a few words remembered from a screen or a message: the
    # items holding them come first, in keyword order; items found by meaning alone follow.
    keyword_first_words: int = 2
    # Longer queries: the fused top this many are reordered by how much of the query each holds itself
    # and whether it was said by someone the query names (`_reranked`); 0 leaves the fused order.
    rerank_depth: int = 20
    ask_history: bool = False     # include the questions asked in Ask and Engram's answers


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
    speaker: str = ""               # a chat line's: who said it (its conversation is `title`)


@dataclass
class SearchResult:
    hits: list[Hit]
    query_text: str               # what was searched after time words were taken out
    since: datetime | None
    until: datetime | None
    time_phrase: str | None
    # The time words matched nothing, so the whole query was searched over all time (a screen's
    # "Modified yesterday" or "Today's deals" are words on it, not a time the user asked for).
    time_ignored: bool = False


class HybridSearch:
    def __init__(self, store: Any) -> None:
        self._store = store

    def search(self, query: str, options: SearchOptions, now: datetime | None = None) -> SearchResult:
        since, until, phrase, text = options.since, options.until, None, query
        if options.time_words:
            parsed = parse_time_words(query, now or datetime.now().astimezone())
            if parsed.phrase and options.time_hints and set(words(parsed.text)) - _FILLER:
                return self._around(query, parsed.text, parsed.phrase, options, parsed.since, parsed.until, now)
            if parsed.phrase:
                text, phrase = parsed.text, parsed.phrase
                since = max(filter(None, (since, parsed.since)), default=None)
                until = min(filter(None, (until, parsed.until)), default=None)
        hits, matched = self._ranked(text, options, since, until, now)
        if phrase and not matched:
            # Nothing in that time holds the words (what came back was found by meaning alone): read the
            # time words as words, over all time; only the filter the user set themselves still applies.
            widened, widened_matched = self._ranked(query, options, options.since, options.until, now)
            if widened_matched:
                return SearchResult(widened, query, options.since, options.until, None, time_ignored=True)
        return SearchResult(hits, text, since, until, phrase)

    def _around(self, query: str, text: str, phrase: str, options: SearchOptions, since: datetime | None,
                until: datetime | None, now: datetime | None) -> SearchResult:
        """The hits of a question that names a time: the best few of those around that time first, then the
        rest of them in turn with the hits from any time (the question's own words, time words included)."""
        since = max(filter(None, (options.since, since and since - _HINT_BEFORE)), default=None)
        until = min(filter(None, (options.until, until and until + _HINT_AFTER)), default=None)
        around, _ = self._ranked(text, options, since, until, now)
        anytime, _ = self._ranked(query, options, options.since, options.until, now)
        taken = around[:_HINT_FIRST] + [hit for pair in itertools.zip_longest(anytime, around[_HINT_FIRST:])
                                        for hit in pair if hit is not None]
        hits: dict[str, Hit] = {}
        for hit in taken:
            hits.setdefault(hit.id, hit)   # each once, where first taken
        return SearchResult(list(hits.values())[: options.k], query, options.since, options.until, phrase)

    def _ranked(self, text: str, options: SearchOptions, since: datetime | None, until: datetime | None,
                now: datetime | None) -> tuple[list[Hit], bool]:
        """The hits, and whether any holds a word of the query (or the query asks for a time alone)."""
        where = self._filter(options, since, until)
        depth = max(options.k * 3, 30)  # fuse over more than we show, so agreement can lift a hit
        if (since or until) and not set(words(text)) - _FILLER:
            ranked = [(row, 0.0) for row in self._recent(where, depth)]  # "what did I do yesterday"
            matched = True
        else:
            keyword, vector, query_vector = self._retrieve(text, where, depth, options)
            keyword_first = len(set(words(text))) <= options.keyword_first_words
            ranked = self._fuse(keyword, vector, query_vector, options, now, keyword_first, text)
            if options.mode == "hybrid" and not keyword_first and options.rerank_depth:
                ranked = self._reranked(ranked, text, options.rerank_depth)
            matched = bool(vector) if options.mode == "vector" else bool(keyword)
        if not options.ask_history and not options.app:
            # Dropped here rather than filtered in LanceDB: a filter on every query that keeps nearly
            # every row would make each search prefilter the whole table.
            ask_tag = self._store.codec.app_tag(ASK_APP)
            ranked = [(row, score) for row, score in ranked if row["app_tag"] != ask_tag]
        query_words = set(words(text))
        return [self._hit(row, score, query_words) for row, score in ranked[: options.k]], matched

    # -- the two retrievers -----------------------------------------------------

    def _retrieve(self, text: str, where: str | None, depth: int, options: SearchOptions) -> tuple[
            list[dict[str, Any]], list[dict[str, Any]], np.ndarray[Any, Any] | None]:
        """Keyword and vector search at the same time: LanceDB and numpy release the GIL,
        so on two cores a hybrid query costs about as much as its slower half."""
        want_keyword = options.mode in ("hybrid", "keyword")
        want_vector = options.mode in ("hybrid", "vector") and bool(text.strip())
        if want_keyword and want_vector:
            vector_future = _POOL.submit(self._vector, text, where, depth, options.min_similarity)
            keyword = self._keyword(text, where, depth, with_vectors=True)
            vector, query_vector = vector_future.result()
            return keyword, vector, query_vector
        if want_vector:
            return [], *self._vector(text, where, depth, options.min_similarity)
        return (self._keyword(text, where, depth) if want_keyword else []), [], None

    def _keyword(self, text: str, where: str | None, depth: int, with_vectors: bool = False) -> list[dict[str, Any]]:
        tokens = self._store.codec.index.tokens(text)
        if not tokens:
            return []
        query = self._store.table.search(tokens, query_type="fts", fts_columns="tokens")
        if where:
            query = query.where(where, prefilter=True)
        columns = _SUMMARY_COLUMNS + ["tokens", "_score"] + (["vector"] if with_vectors else [])
        rows: list[dict[str, Any]] = query.select(columns).limit(depth).to_arrow().to_pylist()
        return rows

    def _vector(self, text: str, where: str | None, depth: int,
                min_similarity: float) -> tuple[list[dict[str, Any]], np.ndarray[Any, Any]]:
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
        for row in rows:
            row["_cosine"] = 1.0 - row["_distance"] / 2.0
        return [r for r in rows if r["tokens"] and r["_cosine"] >= min_similarity], vector

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
              query_vector: np.ndarray[Any, Any] | None, options: SearchOptions,
              now: datetime | None, keyword_first: bool = False, text: str = "") -> list[tuple[dict[str, Any], float]]:
        rows = {row["id"]: row for row in vector} | {row["id"]: row for row in keyword}
        bm25 = {row["id"]: row["_score"] for row in keyword}
        codec = self._store.codec
        asked = set(codec.index.tokens(text).split())
        # A chat turn found by its neighbours' words alone (storage/neighbours.py) does not hold them.
        holds = {row["id"] for row in keyword if asked & set(codec.own_tokens(row["tokens"] or "").split())}
        cosine = {row["id"]: row["_cosine"] for row in vector}
        if query_vector is not None:
            # Rotation keeps dot products, so the stored (rotated) vector and the rotated query agree.
            for row in keyword:
                if row["id"] not in cosine and row.get("vector") is not None:
                    cosine[row["id"]] = float(np.dot(query_vector, np.asarray(row["vector"], np.float32)))
        best_bm25 = max(bm25.values(), default=0.0) or 1.0
        floor = options.min_similarity
        best_cosine = max(cosine.values(), default=floor)
        span = best_cosine - floor if best_cosine > floor else 1.0
        scores = {}
        for rid in rows:
            meaning = options.vector_weight * max(0.0, cosine.get(rid, floor) - floor) / span
            if keyword_first and rid in bm25 and rid not in holds:
                # A few words typed are words looked for: a turn beside them is found by meaning or not at all
                # ("ok" said after "the budget review" is not a result for "budget").
                if cosine.get(rid, floor) < floor:
                    continue
                scores[rid] = meaning
            elif keyword_first and rid in bm25:
                # A few words: the items holding them, in keyword order, then what meaning adds. A short
                # query is far from a whole page by cosine (MiniLM reads a screen's first 128 tokens), so
                # on screens its cosine reordered right keyword hits down (bench/screen_recall.py).
                scores[rid] = _KEYWORD_TIER + options.keyword_weight * bm25[rid] / best_bm25
            else:
                scores[rid] = options.keyword_weight * bm25.get(rid, 0.0) / best_bm25 + meaning
        if options.recency_weight:
            now_us = to_us(now or datetime.now(timezone.utc))
            half_life_us = options.recency_half_life_days * 86_400e6
            for rid in scores:
                age = max(0, now_us - rows[rid]["time_us"])
                # At most recency_weight of what the best keyword match is worth.
                scores[rid] += options.recency_weight * math.pow(0.5, age / half_life_us)
        order = sorted(scores, key=lambda rid: scores[rid], reverse=True)
        return [(rows[rid], scores[rid]) for rid in order]

    def _reranked(self, ranked: list[tuple[dict[str, Any], float]], text: str,
                  depth: int) -> list[tuple[dict[str, Any], float]]:
        """The fused top `depth` in a new order: the fused position (a prior that fades with it), plus the share
        of the query's words the item holds itself (a chat turn's own words, not its neighbours'), plus
        whether it is a message said by someone the query names ("what did Caroline say about ..."). Fusion
        weighs each word by its rarity; a question is answered by the turn that holds most of it.
        Measured on LoCoMo (bench/locomo_retrieval.py): R@10 0.80 -> 0.83; with weights tuned on half of its
        conversations, the other half gained as much. Ask does not use it: the model answered worse from
        what it brings (agents/ask.py `retrieve`). Scores stay the fused ones; only the order changes.
        No decryption but a message's speaker, and only within the top `depth`."""
        codec = self._store.codec
        asked = set(codec.index.tokens(text).split())
        named = set(words(text))
        if not asked:
            return ranked

        def said_by_named(row: dict[str, Any]) -> bool:
            if row["kind"] != "message":
                return False
            speaker = codec.decode_body(row).get("fields", {}).get("speaker") or ""
            return bool(named & set(words(str(speaker))))

        def reranked_score(position: int, row: dict[str, Any]) -> float:
            own = set(codec.own_tokens(row["tokens"] or "").split())
            return (1 / math.sqrt(1 + position) + _RERANK_COVERAGE * len(asked & own) / len(asked)
                    + _RERANK_SPEAKER * said_by_named(row))

        top = ranked[:depth]
        scores = [reranked_score(i, row) for i, (row, _) in enumerate(top)]
        order = sorted(range(len(top)), key=lambda i: scores[i], reverse=True)
        return [top[i] for i in order] + ranked[depth:]

    # -- results ----------------------------------------------------------------

    def _hit(self, row: dict[str, Any], score: float, query_words: set[str]) -> Hit:
        """Decrypt one result; only the top k ever are."""
        memory = self._store.codec.decode(row)
        snippet, matched = make_snippet(memory.text, query_words)
        return Hit(memory.id, memory.kind, from_us(row["time_us"]), snippet, score, memory.app, memory.title,
                   memory.source_ids, memory.frame_id, matched, bool(memory.damaged),
                   str(memory.fields.get("speaker") or "") if memory.kind == "message" else "")

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
    """A short window of `text` from the line holding most of the query's words (on a screen, where it
    matched, not the window title at the top), around its first match; and the words matched."""
    lines = [" ".join(line.split()) for line in text.splitlines() if line.strip()]
    flat = " ".join(lines)
    if len(flat) <= _SNIPPET_CHARS and not query_words:
        return flat, []
    found: list[str] = []
    line_start, best, start = 0, 0, 0
    for line in lines:
        # A raw word can be several index words (a run of Chinese is its pairs of characters).
        hits = [(position, raw) for position, raw in _word_positions(line) if query_words.intersection(words(raw))]
        found += [raw for _, raw in hits]
        distinct = len({w for _, raw in hits for w in words(raw) if w in query_words})
        if distinct > best:
            best, first = distinct, line_start + hits[0][0]
            start = max(line_start, first - _SNIPPET_CHARS // 3)  # from the line's start, unless it is long
        line_start += len(line) + 1
    snippet = flat[start:start + _SNIPPET_CHARS]
    prefix = "…" if start > 0 else ""
    suffix = "…" if start + _SNIPPET_CHARS < len(flat) else ""
    return prefix + snippet + suffix, sorted(set(found))


def _word_positions(text: str) -> list[tuple[int, str]]:
    return [(m.start(), m.group()) for m in _WORD.finditer(text)]
