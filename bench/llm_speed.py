"""How fast the local model reads a prompt and writes, as the app loads it (agents.llm.LocalLLM: its threads,
batch and context), on the llama.cpp build installed (installer/llama_wheel.sh; its CPU features in the note).
Reading: a 530-token prompt of LoCoMo turns (Ask's median context), evaluated from an empty cache five times,
each from a different turn so that nothing is reused; median. Writing: 120 tokens greedy after a short prompt,
three times; median. Reading the notes is most of Ask's wait for its first words.

    python -m bench.llm_speed [--model PATH.gguf] [--name NAME]
"""
from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Sequence
from pathlib import Path

from bench.results import Metrics, metric

METHODS = {"llm": __doc__.split("\n\n", 1)[0].replace("\n", " ")}
PROMPT_TOKENS = 530


def _text() -> str:
    from bench.locomo_retrieval import load_locomo, turns_of

    return "\n".join(f"{t.speaker}: {t.text}" for t in turns_of(load_locomo()[0])[:400])


def run(argv: Sequence[str] = ()) -> Metrics:
    import llama_cpp

    from agents.llm import LocalLLM, packaged_model

    parser = argparse.ArgumentParser(prog="bench.llm_speed")
    parser.add_argument("--model", default="", help="a GGUF file (default: the built-in model)")
    parser.add_argument("--name", default="", help="metric name part (default: built_in, else the file's stem)")
    args, _ = parser.parse_known_args(list(argv))
    model = Path(args.model) if args.model else packaged_model()
    name = args.name or (model.stem.lower().replace(".", "_") if args.model else "built_in")
    llm = LocalLLM(model, context_tokens=4096, self_test=False)
    info = llm.load()
    llama = llm._llama  # the loaded llama.cpp model itself: the bench times its evaluation, not Ask's prompt
    tokens = llama.tokenize(_text().encode())
    reads = []
    for start in range(0, 5 * 40, 40):
        llama.reset()
        began = time.perf_counter()
        llama.eval(tokens[start:start + PROMPT_TOKENS])
        reads.append(time.perf_counter() - began)
    writes = []
    for _ in range(3):
        llama.reset()
        began = time.perf_counter()
        made = llama.create_completion("Tell me about a day at the lake with Melanie.", max_tokens=120,
                                       temperature=0.0)
        writes.append(made["usage"]["completion_tokens"] / (time.perf_counter() - began))
    llm.close()
    features = " ".join(part.strip() for part in llama_cpp.llama_print_system_info().decode().split("|")
                        if part.strip().endswith("= 1") and "AVX" in part)
    note = f"{info.name}, {model.name}; llama.cpp build: {features}"
    return {
        f"llm.read_tokens_per_s.{name}": metric(round(PROMPT_TOKENS / statistics.median(reads), 1), "tokens/s",
                                                len(reads), note),
        f"llm.write_tokens_per_s.{name}": metric(round(statistics.median(writes), 1), "tokens/s", len(writes), note),
    }


if __name__ == "__main__":
    import sys

    from bench import results

    results.merge(run(sys.argv[1:]))
    results.render(results.collected_methods())
