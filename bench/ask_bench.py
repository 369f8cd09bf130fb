"""Ask on LoCoMo (QA quality, latency, context size) and autofill accuracy.

LoCoMo QA: each conversation imported (agents.importers.locomo) and digested by
the agents into a fresh store, then every question asked with
`Asker(remember=False)` at one day after the conversation's last session.
Token F1 per category with the LoCoMo paper's normalisation (lower case,
punctuation and articles removed; category 1 answers are comma-separated
lists, scored by the mean over gold parts of the best F1 against the
prediction's parts). Category 5 (adversarial: the conversation does not
answer it) is scored as the share answered "I don't know".
Modes: (b) `extractive`: no model, the answer is the cited evidence sentences
(what Ask gives when no model can write); (a) `model`: the default path, the
built-in Qwen2.5-Coder 0.5B Instruct writing a short cited answer from the
notes found (whole: agents.ask.NOTE_TOKENS), which falls back to (b) when its
answer is not backed by the notes it cites; run on a sample (every n-th
question of every conversation, n set by --model-questions).
`locomo.qa_notes<N>` / `ask_notes<N>` (--compare-notes): the same questions
answered from only the notes' best sentences (ranked as (b) ranks them), N
tokens of them under their notes' keys and dates (`whole`: the whole notes).
`locomo.qa_typed` / `ask_typed` (--typed): the default path as when the question is typed in the Ask panel
and the typist pauses before its last word: `Asker.read_ahead` of the question without its last word (run to
its end before the question is asked, as a pause of a few seconds lets it), then the question; first words
are timed from the question, as for the others. `locomo.qa_pasted` / `ask_pasted`: the default path in that
same run (its `locomo.qa` / `ask` keys, renamed by hand so that the larger default sample above stays).
`locomo.qa_reranked` / `ask_reranked` (by hand, the same sample as `noteswhole`): the notes found with
search's reorder of a question's top 20 (storage/search.py `_reranked`), which Ask does not use.
`locomo.qa_time_hints` / `ask_time_hints` (--time-hints): the same questions as `locomo.qa`, with a time the
question names as a hint (search's `time_hints`: what was said around then first, then the rest) instead of a
filter; --rows writes each answer's score, for comparing the two question by question.
`locomo.qa_<key>` / `ask_<key>` (--model FILE --model-key KEY): the default path answered by another GGUF,
`locomo.qa_<key>_typed` its --typed variant. Qwen2.5-Coder 1.5B Instruct (`qwen2_5_coder_1_5b`, the catalogue's
bigger model) on the built-in model's `locomo.qa` sample (261 answerable questions): F1 34.9 against 29.7 (124
answers differ, 70 better and 54 worse; 95% bootstrap interval of the difference +1.2 to +9.2; single-hop +11.8,
temporal -5.7); first words p50 6.3 s / p95 8.6 s (0.5B: 3.4 / 4.7). On the `pasted`/`typed` sample
(`locomo.qa_qwen2_5_coder_1_5b_pasted` / `_typed`, 119 answerable): 36.8 against 31.2 (interval +0.1 to +11.5),
33.7 against 30.8 read ahead as typed, first words p50 2.5 s typed. A process grows by 1.9 GB loading it and
answering (0.5B: 0.62 GB). Typed and pasted answers of one model differ: read ahead, the notes the draft found
come first in the prompt (agents/ask.py `_read_first`, so that llama.cpp reads only what follows), which changes
the notes' order and, near the budget, which notes fit: 34 of 119 answers for the 1.5B (22 better pasted, 12
typed; interval -1.5 to +7.9), 24 for the 0.5B (12 and 12).
For comparison, `locomo.qa_mirix.*` scores MIRIX's published answers
(gpt-4.1-mini) with the same F1 code; Mem0's paper reports about 1,764 context
tokens per query and 1.44 s p95 end to end.
"""
from __future__ import annotations

import argparse
import json
import re
import statistics
import string
import tempfile
import time
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

from bench.locomo_retrieval import CachedEmbedder
from bench.shared import locomo_path
from bench.results import Metrics, metric

AUTOFILL_TABLE = Path(__file__).resolve().parents[1] / "tests" / "data" / "autofill_labels.json"
CATEGORIES = {1: "multi-hop", 2: "temporal", 3: "open-domain", 4: "single-hop"}

METHODS = {
    "locomo.qa": __doc__.split("\n\n", 1)[1].strip() if __doc__ else "",
    "ask": "Wall time of `Asker.ask` per LoCoMo question (retrieval + answer; the store's indexes built), "
           "and the evidence tokens put in front of the answerer (estimated 1.3 tokens per word).",
    "autofill": "Share of the label variants in tests/data/autofill_labels.json given exactly the expected value "
                "(unknown labels must get nothing).",
}

_ARTICLES = re.compile(r"\b(a|an|the|and)\b")
_CITATION = re.compile(r"\[S\d+\]|[“”]")


def normalise(text: str) -> str:
    text = str(text).lower()
    text = "".join(ch for ch in text if ch not in set(string.punctuation))
    return " ".join(_ARTICLES.sub(" ", text).split())


def f1(prediction: str, gold: str) -> float:
    p, g = normalise(prediction).split(), normalise(gold).split()
    common = sum(min(p.count(w), g.count(w)) for w in set(p))
    if not p or not g or not common:
        return 0.0
    precision, recall = common / len(p), common / len(g)
    return 2 * precision * recall / (precision + recall)


def score(prediction: str, gold: str, category: int) -> float:
    prediction = _CITATION.sub("", prediction)
    if category == 1:
        parts = [p for p in str(gold).split(",") if p.strip()]
        guesses = [q for q in prediction.split(",") if q.strip()] or [prediction]
        return statistics.mean(max(f1(q, part) for q in guesses) for part in parts) if parts else 0.0
    return f1(prediction, str(gold))


def qa(embedder: Any, conversations: int, model_questions: int, compare: Sequence[int] = (),
       typed: bool = False, time_hints: bool = False, rows_path: Path | None = None,
       model: Path | None = None, model_key: str = "") -> Metrics:
    """`compare`: note budgets (tokens; 0 = whole notes) the model also answers from, besides the app's;
    `typed`: the app's path also with the question's notes read ahead while it was typed; `time_hints`: also with
    a time the question names as a hint (not a filter); `rows_path`: every answer's score written there (JSON lines)
    for a question-by-question comparison of the modes; `model`: a GGUF to answer with instead of the built-in one,
    its figures named `locomo.qa_<model_key>` and `ask_<model_key>`."""
    from agents.ask import Asker
    from agents.importers import locomo as locomo_format
    from agents.llm import LocalLLM, packaged_model
    from agents.meta import MetaMemoryManager
    from agents.pipeline import Digester
    from agents.router import EmbeddingRouter
    from storage.store import MemoryStore

    samples = json.loads(locomo_path().read_text(encoding="utf-8"))[:conversations]
    messages = locomo_format.parse(locomo_path(), None)
    variants: dict[str, dict[str, Any]] = {f"model_notes{n or 'whole'}": {"note_tokens": n or None} for n in compare}
    variants.update({"model_typed": {}} if typed else {})
    variants.update({"model_time_hints": {"time_hints": True}} if time_hints else {})
    rows: dict[str, list[dict[str, Any]]] = {"extractive": [], "model": [], **{v: [] for v in variants}}
    llm = LocalLLM(model or packaged_model(), context_tokens=4096) if model_questions else None
    every = max(1, sum(len(s["qa"]) for s in samples) // max(1, model_questions))
    for sample in samples:
        turns = [m for m in messages if m.fields["conversation"] == sample["sample_id"]]
        with tempfile.TemporaryDirectory(prefix="engram-ask-") as tmp:
            store, _ = MemoryStore.create("bench passphrase", home=Path(tmp), embedder=embedder,
                                          embedder_name="all-MiniLM-L6-v2", kdf_seconds=0.05)
            store.add(turns)
            Digester(store, MetaMemoryManager(store, EmbeddingRouter(embedder))).run()
            store.build_indexes()
            now = max(t.time for t in turns) + timedelta(days=1)
            modes = [("extractive", Asker(store, remember=False), 1)]
            if llm is not None:
                modes.append(("model", Asker(store, llm, remember=False), every))
                modes += [(v, Asker(store, llm, remember=False, **kw), every) for v, kw in variants.items()]
            for mode, asker, stride in modes:
                for number, item in list(enumerate(sample["qa"]))[::stride]:
                    if mode == "model_typed":
                        asker.read_ahead(item["question"].rsplit(" ", 1)[0], now=now)
                    started = time.perf_counter()
                    first: list[float] = []
                    listed: list[float] = []
                    answer = asker.ask(item["question"], now=now,
                                       on_text=lambda _piece: first or first.append(time.perf_counter() - started),
                                       on_reading=lambda _notes: listed.append(time.perf_counter() - started))
                    rows[mode].append({"question": f"{sample['sample_id']}#{number}", "category": item["category"],
                                       "seconds": time.perf_counter() - started,
                                       "first": first[0] if first else time.perf_counter() - started,
                                       "listed": listed[0] if listed else None,
                                       "tokens": answer.context_tokens, "mode": answer.mode,
                                       "f1": score(answer.text, item.get("answer", ""), item["category"])
                                       if item["category"] != 5 else None})
            store.close()
        embedder.save()
        print(f"  {sample['sample_id']}: {len(rows['extractive'])} questions so far", flush=True)
    if llm is not None:
        llm.close()
    if rows_path is not None:
        rows_path.write_text("".join(json.dumps({"variant": mode, **row}) + "\n" for mode, done in rows.items()
                                     for row in done), encoding="utf-8")
    out: Metrics = {}
    # Another model's figures: locomo.qa_<key>, locomo.qa_<key>_typed, ask_<key>, ...
    named = {"model": model_key, **{v: "_".join(filter(None, (model_key, v.removeprefix("model_")))) for v in variants}}
    prefixes = {"extractive": "locomo.qa_extractive",
                **{mode: f"locomo.qa_{name}" if name else "locomo.qa" for mode, name in named.items()}}
    for mode, prefix in prefixes.items():
        done = rows[mode]
        if not done:
            continue
        answerable = [r for r in done if r["category"] in CATEGORIES]
        out[f"{prefix}.f1.overall"] = metric(round(100 * statistics.mean(r["f1"] for r in answerable), 2),
                                            "token F1 x100", len(answerable), f"{mode}; categories 1-4")
        for cat, name in CATEGORIES.items():
            in_cat = [r["f1"] for r in answerable if r["category"] == cat]
            if in_cat:
                out[f"{prefix}.f1.cat{cat}"] = metric(round(100 * statistics.mean(in_cat), 2), "token F1 x100",
                                                      len(in_cat), name)
        adversarial = [r for r in done if r["category"] == 5]
        if adversarial:
            out[f"{prefix}.adversarial_idk_rate"] = metric(
                round(sum(r["mode"] == "unknown" for r in adversarial) / len(adversarial), 4), "share", len(adversarial))
        out[f"{prefix}.answered_idk_rate"] = metric(
            round(sum(r["mode"] == "unknown" for r in answerable) / len(answerable), 4), "share", len(answerable),
            "answerable questions wrongly given \"I don't know\"")
        seconds = sorted(r["seconds"] for r in done)
        latency_prefix = "ask_extractive" if mode == "extractive" else f"ask_{named[mode]}" if named[mode] else "ask"
        out[f"{latency_prefix}.latency.p50_s"] = metric(round(statistics.median(seconds), 3), "s", len(seconds), mode)
        out[f"{latency_prefix}.latency.p95_s"] = metric(round(seconds[int(0.95 * (len(seconds) - 1))], 3), "s",
                                                        len(seconds), mode)
        out[f"{latency_prefix}.context_tokens.median"] = metric(statistics.median(r["tokens"] for r in done), "tokens",
                                                                len(done), mode)
        if mode.startswith("model"):
            firsts = sorted(r["first"] for r in done)
            out[f"{latency_prefix}.first_token.p50_s"] = metric(round(statistics.median(firsts), 3), "s", len(firsts),
                                                                "question in, first words of the answer out")
            out[f"{latency_prefix}.first_token.p95_s"] = metric(
                round(firsts[int(0.95 * (len(firsts) - 1))], 3), "s", len(firsts),
                "question in, first words of the answer out (retrieval included)")
            shown = sorted(r["listed"] for r in done if r["listed"] is not None)
            if shown:
                out[f"{latency_prefix}.notes_shown.p95_s"] = metric(
                    round(shown[int(0.95 * (len(shown) - 1))], 3), "s", len(shown),
                    "question in, the notes the model reads listed (the Ask panel shows them while it reads)")
            out[f"{latency_prefix}.cited_share"] = metric(
                round(sum(r["mode"] == "model" for r in done) / len(done), 4), "share", len(done),
                "model answers that cited a source and were kept")
    return out


def reference_scores() -> Metrics:
    """MIRIX's published answers (gpt-4.1-mini, run 1) scored by this module's F1, for a like-for-like row."""
    path = locomo_path().parent / "reference_results" / "mirix_gpt41mini_run1.json"
    rows = json.loads(path.read_text(encoding="utf-8"))["detailed_results"]
    by_category: dict[int, list[float]] = {}
    for row in rows:
        category = int(row["category"])
        if category in CATEGORIES:
            by_category.setdefault(category, []).append(score(row["response"], row["answer"], category))
    every = [f for scores in by_category.values() for f in scores]
    note = "MIRIX + gpt-4.1-mini, published run 1, rescored here"
    out = {"locomo.qa_mirix.f1.overall": metric(round(100 * statistics.mean(every), 2), "token F1 x100", len(every),
                                                note)}
    for category, scores in sorted(by_category.items()):
        out[f"locomo.qa_mirix.f1.cat{category}"] = metric(round(100 * statistics.mean(scores), 2), "token F1 x100",
                                                         len(scores), CATEGORIES[category])
    return out


def autofill_accuracy() -> Metrics:
    from agents.autofill import fill
    from storage.memory import Memory, Trust

    table = json.loads(AUTOFILL_TABLE.read_text(encoding="utf-8"))
    core = Memory(kind="core", text="", fields={"block": "human", "facts": table["core_facts"]})
    vault = [Memory(kind="vault", text=v["entry_type"], secret=v["secret"], trust=Trust(v.get("trust", 4)),
                    fields={"entry_type": v["entry_type"], "sensitivity": "high"}) for v in table["vault"]]
    cases = table["cases"]
    results = fill([c["label"] for c in cases], core, vault)
    right = sum(r.value == c["expected"] for r, c in zip(results, cases))
    return {"autofill.accuracy": metric(round(right / len(cases), 4), "share", len(cases))}


def run(argv: Sequence[str] = ()) -> Metrics:
    parser = argparse.ArgumentParser(prog="bench.ask_bench")
    parser.add_argument("--conversations", type=int, default=10)
    parser.add_argument("--model-questions", type=int, default=200,
                        help="about this many questions, spread over the conversations, also answered by the "
                             "built-in model writing (0: none)")
    parser.add_argument("--compare-notes", default="",
                        help="comma-separated note budgets in tokens (0: whole notes) the model also answers from")
    parser.add_argument("--typed", action="store_true",
                        help="the model's questions also asked as typed: their notes read ahead first")
    parser.add_argument("--time-hints", action="store_true",
                        help="the model's questions also asked with a time they name as a hint, not a filter")
    parser.add_argument("--rows", type=Path, help="write every answer's score to this file (JSON lines)")
    parser.add_argument("--model", type=Path, help="a GGUF to answer with instead of the built-in model")
    parser.add_argument("--model-key", default="",
                        help="with --model: its figures are locomo.qa_KEY.* and ask_KEY.* (e.g. qwen2_5_coder_1_5b)")
    args, _ = parser.parse_known_args(list(argv))
    out = autofill_accuracy()
    out.update(reference_scores())
    embedder = CachedEmbedder()
    compare = [int(n) for n in args.compare_notes.split(",") if n.strip()]
    out.update(qa(embedder, args.conversations, args.model_questions, compare, args.typed, args.time_hints, args.rows,
                  args.model, args.model_key))
    embedder.save()
    return out


if __name__ == "__main__":
    import sys

    from bench import results

    results.merge(run(sys.argv[1:]))
    results.render(results.collected_methods())
