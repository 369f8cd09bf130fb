"""Benchmarks of the memory store: `python -m bench.run [name ...]`.

Each benchmark module has a `run(argv) -> dict` that measures and returns
metrics (merged into bench/results.json by bench.results); bench.run renders
BENCHMARKS.md from that file. Nothing here asserts on timings.
"""
