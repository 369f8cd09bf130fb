"""The reader alone: how well does a model write the answer when the right evidence is in front of it?

A fixed stratified sample of LoCoMo questions (categories 1-4, in equal shares, seed 7) is answered by Ask's
model path (`Asker.written_answer`: the same prompt, dated notes, citation and grounding check as in the app)
from the question's gold evidence turns plus distractor turns of the same conversation (12 notes in all, in
conversation order). Token F1 as in bench/ask_bench.py. A model answer that is not backed by its notes counts as
the extractive answer from the same notes (what the app shows then). This separates the reader from retrieval:
end-to-end figures are in `locomo.qa`.

    python -m bench.reader_bench [--model PATH.gguf] [--questions 120] [--name NAME]
"""
from __future__ import annotations

import argparse
import random
import statistics
import time
from collections.abc import Sequence
from pathlib import Path

from bench.ask_bench import CATEGORIES, score
from bench.locomo_retrieval import load_locomo, turns_of
from bench.results import Metrics, metric

METHODS = {"reader": __doc__.split("\n\n", 1)[1].split("\n\n    python")[0].replace("\n", " ")}
NOTES = 12


def sample_questions(samples: list[dict], per_category: int, seed: int = 7) -> list[tuple[dict, dict]]:
    rng = random.Random(seed)
    by_category: dict[int, list[tuple[dict, dict]]] = {c: [] for c in CATEGORIES}
    for sample in samples:
        ids = {t.dia_id for t in turns_of(sample)}
        for qa in sample["qa"]:
            if qa["category"] in CATEGORIES and qa.get("evidence") and set(qa["evidence"]) <= ids:
                by_category[qa["category"]].append((sample, qa))
    return [pair for c in CATEGORIES for pair in rng.sample(by_category[c], min(per_category, len(by_category[c])))]


def run(argv: Sequence[str] = ()) -> Metrics:
    from agents.ask import Asker, Source
    from agents.llm import LocalLLM, packaged_model
    from bench.locomo_retrieval import CachedEmbedder

    parser = argparse.ArgumentParser(prog="bench.reader_bench")
    parser.add_argument("--model", default="", help="a GGUF file (default: the built-in model)")
    parser.add_argument("--name", default="", help="metric name part (default: the file's stem)")
    parser.add_argument("--questions", type=int, default=120, help="in all, split equally over categories 1-4")
    args, _ = parser.parse_known_args(list(argv))
    model = Path(args.model) if args.model else packaged_model()
    name = args.name or (model.stem.lower().replace(".", "_") if args.model else "built_in")
    rng = random.Random(11)
    llm = LocalLLM(model, context_tokens=4096)
    info = llm.load()
    asker = Asker(store=_EmbedderOnly(CachedEmbedder()), llm=llm, remember=False)  # type: ignore[arg-type]
    rows = []
    for sample, qa in sample_questions(load_locomo(), args.questions // len(CATEGORIES)):
        turns = turns_of(sample)
        gold = [t for t in turns if t.dia_id in qa["evidence"]]
        others = [t for t in turns if t.dia_id not in qa["evidence"]]
        chosen = sorted(gold + rng.sample(others, max(0, NOTES - len(gold))), key=lambda t: t.time)
        context = [Source(f"S{i}", t.dia_id, "message", t.time, t.text) for i, t in enumerate(chosen, 1)]
        started = time.perf_counter()
        answer = asker.written_answer(qa["question"], context) or asker.extractive(qa["question"], context)
        rows.append({"category": qa["category"], "f1": score(answer.text, str(qa["answer"]), qa["category"]),
                     "mode": answer.mode, "seconds": time.perf_counter() - started})
        if len(rows) % 20 == 0:
            print(f"  {len(rows)} questions, F1 so far {100 * statistics.mean(r['f1'] for r in rows):.1f}", flush=True)
    llm.close()
    out: Metrics = {}
    note = f"{info.name}, {info.parameters / 1e6:,.0f}M parameters; gold evidence + distractors, {NOTES} notes"
    out[f"reader.{name}.f1.overall"] = metric(round(100 * statistics.mean(r["f1"] for r in rows), 2),
                                              "token F1 x100", len(rows), note)
    for cat, label in CATEGORIES.items():
        in_cat = [r["f1"] for r in rows if r["category"] == cat]
        out[f"reader.{name}.f1.cat{cat}"] = metric(round(100 * statistics.mean(in_cat), 2), "token F1 x100",
                                                   len(in_cat), label)
    out[f"reader.{name}.written_share"] = metric(round(sum(r["mode"] == "model" for r in rows) / len(rows), 4),
                                                 "share", len(rows), "answers the model wrote and its notes backed")
    seconds = sorted(r["seconds"] for r in rows)
    out[f"reader.{name}.latency.p95_s"] = metric(round(seconds[int(0.95 * (len(seconds) - 1))], 2), "s", len(rows),
                                                 "one answer, 12 notes, 2 threads")
    return out


class _EmbedderOnly:
    """What `Asker.extractive` needs of a store: its embedder."""

    def __init__(self, embedder: object) -> None:
        self.embedder = embedder


if __name__ == "__main__":
    import sys

    from bench import results

    results.merge(run(sys.argv[1:]))
    results.render(results.collected_methods())
