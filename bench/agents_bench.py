"""The memory agents: routing accuracy, ingest throughput, and LoCoMo recall through memories.

- Routing: the held-out labelled set (tests/data/routing_labelled.jsonl) routed by
  the embedding kNN router, by the packaged Gemma 3 270M alone (JSON-schema
  constrained), and combined (the extractors' evidence first: a vault item or a
  link decides; else the router; the model breaks the router's ties).
- Ingest: LoCoMo conversations imported and digested by the whole pipeline on
  this machine; observations per minute (messages: extractors + routing + six
  managers + one commit per batch of 64), and the same for screen frames.
- LoCoMo recall: after digesting a conversation, each question (categories 1-4)
  is searched among the memories only (the six kinds); a question counts as found
  at k when a memory among the top k came from one of its evidence turns (each
  memory keeps its source messages, each message its LoCoMo turn id). Versus the
  same search over the raw turns.
"""
from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

from bench.locomo_retrieval import CachedEmbedder, questions_of
from bench.shared import locomo_path
from bench.results import Metrics, metric

LABELLED = Path(__file__).resolve().parents[1] / "tests" / "data" / "routing_labelled.jsonl"
SIX = ["core", "episodic", "semantic", "procedural", "resource", "vault"]

METHODS = {
    "agents": """\
Routing: 200 held-out sentences (tests/data/routing_labelled.jsonl; written by a different author than the
router's 169 training examples in agents/routing_examples.py), top-1 accuracy. `embedding`: EmbeddingRouter
(all-MiniLM-L6-v2, similarity-weighted 7-NN). `llm`: the built-in model alone (Gemma 3 270M Q4_K_M when these figures were taken), one JSON-schema
constrained call per sentence (enum of the six types), temperature 0. `combined`: an extractor finding decides
(a sensitive vault item -> vault, a URL/file -> resource), else the router's best type, with the model asked only
when the router's two best types are within its tie margin. Ingest: `engram import locomo` equivalent
(agents.importers.locomo) then Digester.run() over conversation(s) on the real embedder, batches of 64,
wall time on this 2-core machine (the embedding cache is warm for turn texts, so this is the agents' cost plus
embedding of new memory texts). Frames: 256 synthetic frame records with LoCoMo text in 8 rotating windows.""",
    "locomo.memories": """\
Each LoCoMo conversation imported and digested; every question of categories 1-4 searched with
`store.search(k=10, time_words=False, recency_weight=0)` restricted to the six memory kinds (memories) or to
`message` (raw turns, the same store). A memory hit counts for the evidence turns of its source messages.""",
}


def labelled() -> list[dict[str, str]]:
    return [json.loads(line) for line in LABELLED.read_text(encoding="utf-8").splitlines() if line.strip()]


def routing(embedder: Any, with_llm: bool) -> Metrics:
    from agents.extract_resources import find_resources
    from agents.extract_vault import find_vault_items
    from agents.llm import LocalLLM, ModelError, packaged_model, route_with_llm
    from agents.router import EmbeddingRouter

    rows = labelled()
    routes = EmbeddingRouter(embedder).classify([r["text"] for r in rows])
    embedding = [route.best for route in routes]
    llm_answers: list[str | None] = [None] * len(rows)
    seconds: list[float] = []
    if with_llm:
        llm = LocalLLM(packaged_model(), context_tokens=1024)
        llm.load()
        for i, row in enumerate(rows):
            started = time.perf_counter()
            try:
                llm_answers[i] = route_with_llm(llm, row["text"])
            except ModelError:
                pass
            seconds.append(time.perf_counter() - started)
        llm.close()
    combined = []
    for row, route, answer in zip(rows, routes, llm_answers):
        if any(f.sensitive for f in find_vault_items(row["text"])):
            combined.append("vault")
        elif any(f.entry_type in ("url", "file") for f in find_resources(row["text"])):
            combined.append("resource")
        elif len(route.kinds) > 1 and answer in route.kinds:
            combined.append(answer)
        else:
            combined.append(route.best)

    def accuracy(answers: Sequence[str | None]) -> float:
        return round(sum(a == r["label"] for a, r in zip(answers, rows)) / len(rows), 4)

    out = {"agents.routing_accuracy.embedding": metric(accuracy(embedding), "top-1 accuracy", len(rows)),
           "agents.routing_accuracy.combined": metric(accuracy(combined), "top-1 accuracy", len(rows),
                                                      "extractors + router" + (" + model ties" if with_llm else ""))}
    if with_llm:
        out["agents.routing_accuracy.llm"] = metric(accuracy(llm_answers), "top-1 accuracy", len(rows),
                                                    f"Gemma 3 270M, median {statistics.median(seconds):.2f} s/call")
    return out


def locomo(embedder: Any, conversations: int) -> Metrics:
    from agents.importers import locomo as locomo_format
    from agents.meta import MetaMemoryManager
    from agents.pipeline import Digester
    from agents.router import EmbeddingRouter
    from storage.search import SearchOptions
    from storage.store import MemoryStore

    samples = json.loads(locomo_path().read_text(encoding="utf-8"))[:conversations]
    messages = locomo_format.parse(locomo_path(), None)
    found = {"memories": [], "turns": []}  # type: dict[str, list[bool]]
    memories_made, ingest_seconds, observations = [], 0.0, 0
    for sample in samples:
        turns = [m for m in messages if m.fields["conversation"] == sample["sample_id"]]
        dia_of = {m.id: next(t[4:] for t in m.tags if t.startswith("dia:")) for m in turns}
        questions, _, _ = questions_of(sample, set(dia_of.values()))
        with tempfile.TemporaryDirectory(prefix="engram-agents-") as tmp:
            store, _ = MemoryStore.create("bench passphrase", home=Path(tmp), embedder=embedder,
                                          embedder_name="all-MiniLM-L6-v2", kdf_seconds=0.05)
            store.add(turns)
            digester = Digester(store, MetaMemoryManager(store, EmbeddingRouter(embedder)))
            started = time.perf_counter()
            summary = digester.run()
            ingest_seconds += time.perf_counter() - started
            observations += summary.observations
            store.build_indexes()
            made = store.list_range(kinds=SIX, limit=100_000)
            memories_made.append(len(made))
            for q in questions:
                hits = store.search(q.text, SearchOptions(k=10, kinds=SIX, time_words=False, recency_weight=0.0)).hits
                sources = {dia_of.get(s.split(":", 1)[1]) for h in hits for s in h.source_ids if s.startswith("message:")}
                found["memories"].append(bool(sources & q.evidence))
                hits = store.search(q.text, SearchOptions(k=10, kinds=["message"], time_words=False,
                                                          recency_weight=0.0)).hits
                found["turns"].append(any(dia_of.get(h.id) in q.evidence for h in hits))
            store.close()
        embedder.save()
        print(f"  {sample['sample_id']}: {len(turns)} turns -> {memories_made[-1]} memories, "
              f"{ingest_seconds:.0f} s ingest so far", flush=True)
    n = len(found["turns"])
    return {
        "locomo.memories.recall_at_10": metric(round(sum(found["memories"]) / n, 4), "R_any@10", n),
        "locomo.turns.recall_at_10": metric(round(sum(found["turns"]) / n, 4), "R_any@10", n),
        "locomo.memories.per_conversation": metric(round(statistics.mean(memories_made), 1), "memories",
                                                   len(memories_made)),
        "agents.ingest.observations_per_min": metric(round(observations / ingest_seconds * 60, 1), "obs/min",
                                                     observations, "LoCoMo messages through the whole pipeline"),
        "agents.ingest.seconds_per_conversation": metric(round(ingest_seconds / len(samples), 1), "s", len(samples)),
    }


def frames(embedder: Any) -> Metrics:
    from agents.meta import MetaMemoryManager
    from agents.pipeline import Digester
    from agents.router import EmbeddingRouter
    from storage.memory import Memory, Trust, utcnow
    from storage.store import MemoryStore

    lines = [t["text"] for s in json.loads(locomo_path().read_text(encoding="utf-8"))[:1]
             for k, v in s["conversation"].items() if k.startswith("session_") and isinstance(v, list) for t in v]
    start = utcnow()
    records = [Memory(kind="frame", text="\n".join(lines[i:i + 20]), time=start + timedelta(seconds=3 * i),
                      trust=Trust.OBSERVED, source_kind="screen", app=f"App{i // 32 % 8}",
                      title=f"Document {i // 32} - App{i // 32 % 8}", fields={"monitor": 0}) for i in range(256)]
    with tempfile.TemporaryDirectory(prefix="engram-agents-") as tmp:
        store, _ = MemoryStore.create("bench passphrase", home=Path(tmp), embedder=embedder,
                                      embedder_name="all-MiniLM-L6-v2", kdf_seconds=0.05)
        store.add(records)
        started = time.perf_counter()
        summary = Digester(store, MetaMemoryManager(store, EmbeddingRouter(embedder))).run()
        seconds = time.perf_counter() - started
        store.close()
    return {"agents.ingest.frames_per_min": metric(round(summary.observations / seconds * 60, 1), "frames/min",
                                                   summary.observations, "needed: 20/min (one changed frame per 3 s)")}


def run(argv: Sequence[str] = ()) -> Metrics:
    parser = argparse.ArgumentParser(prog="bench.agents_bench")
    parser.add_argument("--conversations", type=int, default=10)
    parser.add_argument("--no-llm", action="store_true", help="skip the model-only routing run (~3 min)")
    args, _ = parser.parse_known_args(list(argv))
    embedder = CachedEmbedder()
    out = routing(embedder, not args.no_llm)
    print(f"  routing: {({k: v['value'] for k, v in out.items()})}", flush=True)
    out.update(frames(embedder))
    out.update(locomo(embedder, args.conversations))
    embedder.save()
    return out


if __name__ == "__main__":
    import sys

    from bench import results

    results.merge(run(sys.argv[1:]))
    results.render(results.collected_methods())
