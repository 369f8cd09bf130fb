"""Run benchmarks and render BENCHMARKS.md.

    python -m bench.run                                  # all of them
    python -m bench.run store_latency locomo_retrieval   # these, in this order
    python -m bench.run store_latency --sizes 10k        # arguments after the names go to each benchmark
    python -m bench.run --render                         # only re-render from bench/results.json

Each benchmark's metrics are merged into bench/results.json as soon as it
finishes, so a later failure does not lose an earlier benchmark's figures.
"""
from __future__ import annotations

import sys

from bench import results
from bench.registry import BENCHMARKS, LONG, module_of


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv == ["--render"]:
        results.render(results.collected_methods())
        print(f"wrote {results.REPORT}")
        return 0
    names = [a for a in argv if a in BENCHMARKS]
    rest = [a for a in argv if a not in BENCHMARKS]
    if rest and not rest[0].startswith("-"):
        print(f"unknown benchmark {rest[0]!r}; known: {', '.join(BENCHMARKS)}", file=sys.stderr)
        return 2
    if not names:
        print(f"running every benchmark but the long ones ({', '.join(sorted(LONG))}: name them to run them)")
    for name in names or [b for b in BENCHMARKS if b not in LONG]:
        print(f"== {name}", flush=True)
        new = module_of(name).run(rest)
        results.merge(new)
        print(f"== {name}: {len(new)} metrics merged into {results.RESULTS}", flush=True)
    results.render(results.collected_methods())
    print(f"wrote {results.REPORT}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
