"""Lance's index optimisation (new rows folded in, pieces merged) and compaction (which remaps the
indexes) run in a child process once the table has a vector index.

In Lance 9.0.1 both leave the vector index files they read open: 18 files per 1,000 screens on the
year-of-use store (bench/year.py), never closed while the process lives, not even after the dataset,
its session and the table are dropped. Versions dropped later delete those files, but an open file
keeps its disk space and its content (the index's vectors of what was forgotten since) until the
process ends: the app would hold thousands of them after months of capture. A child's files close when
it ends (tests/test_upkeep.py counts them). Searches hold only what the session caches, and a keyword
index alone leaks nothing, so a store without a vector index does this in-process, cheaper by the ~1 s
a child costs to start. A frozen build cannot start `python -m` (as app/capture/ocr_process.py): there
it stays in-process, leak and all. The hourly upkeep's rewrite of files holding deleted rows
(storage/upkeep.py `rewrite_files`) runs the same way.
"""
from __future__ import annotations

import importlib
import json
import subprocess
import sys
from typing import Any

# Merging a 1M-row vector index's pieces or compacting its table takes minutes on two cores; a child
# past this is stuck.
_CHILD_SECONDS = 3600
# Lance's own steps, by their name on `LanceDataset.optimize`; any other step is "module:function", a function
# of the dataset (named, not imported here: its module imports this one).
_LANCE_STEPS = ("optimize_indices", "compact_files")


def optimize(table: Any, vector_indexed: bool, step: str, **options: Any) -> Any:
    """`LanceDataset.optimize.<step>(**options)` on `table`'s dataset, or `module:function(dataset, **options)`,
    committed as they commit. Returns what the step returns (as JSON carries it, from a child); raises OSError
    when the child fails (a commit conflict among them, in Lance's words). The caller checks out the result."""
    dataset = table.to_lance()
    if not apart(vector_indexed):
        return _run(step, dataset, options)
    try:
        done = subprocess.run([sys.executable, "-m", "storage.lance_apart", step, dataset.uri, json.dumps(options)],
                              capture_output=True, text=True, timeout=_CHILD_SECONDS)
    except subprocess.TimeoutExpired:
        raise OSError(f"{step} did not end within {_CHILD_SECONDS} s") from None
    if done.returncode != 0:
        # Lance's own words (its last line), so a conflict reads as one (storage/upkeep.py is_conflict).
        said = [line for line in done.stderr.splitlines() if line.strip() and "WARN" not in line]
        raise OSError(said[-1] if said else f"{step} failed (exit code {done.returncode})")
    return json.loads(done.stdout.splitlines()[-1])


def apart(vector_indexed: bool) -> bool:
    """Whether these steps run in a child."""
    return vector_indexed and not getattr(sys, "frozen", False)


def _run(step: str, dataset: Any, options: dict[str, Any]) -> Any:
    if step in _LANCE_STEPS:
        getattr(dataset.optimize, step)(**options)
        return None
    module, _, function = step.partition(":")
    assert module.startswith("storage.") and function, step
    return getattr(importlib.import_module(module), function)(dataset, **options)


def _main(step: str, uri: str, options: str) -> None:
    import lance

    print(json.dumps(_run(step, lance.dataset(uri), json.loads(options))))


if __name__ == "__main__":
    _main(*sys.argv[1:4])
