"""Run by tests in a process of its own: Engram's command line, or one job on a store, with the fast fake embedder.

    engram_process.py HOME hold            open the store, take the writer lock, say "holding", keep it until stdin closes
    engram_process.py HOME cli ARGS...     `engram ARGS...` (the real command line; MiniLM replaced by HashEmbedder)
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from conftest import PASSPHRASE  # noqa: E402
from fakes import HashEmbedder  # noqa: E402

import storage.minilm  # noqa: E402
from storage.store import MemoryStore  # noqa: E402


def hold(home: Path) -> int:
    store = MemoryStore.open(PASSPHRASE, home=home, embedder=HashEmbedder(), embedder_name="all-MiniLM-L6-v2")
    with store.writes_held():
        print("holding", flush=True)
        sys.stdin.read()  # until the test closes our stdin (or kills us)
    return 0


def cli(args: list[str]) -> int:
    from app.cli import main

    storage.minilm.MiniLMEmbedder = HashEmbedder  # type: ignore[misc, assignment]  # same 384 dims, instant
    return main(args)


if __name__ == "__main__":
    where, job = Path(sys.argv[1]), sys.argv[2]
    sys.exit(hold(where) if job == "hold" else cli(sys.argv[3:]))
