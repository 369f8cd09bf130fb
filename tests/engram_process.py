"""Run by tests in a process of its own: Engram's command line, or one job on a store, with the fast fake embedder.

    engram_process.py HOME hold            open the store, take the writer lock, say "holding", keep it until stdin closes
    engram_process.py HOME cli ARGS...     `engram ARGS...` (the real command line; MiniLM replaced by HashEmbedder)
    engram_process.py HOME clis JSON       each command of a JSON list of argument lists, one after another, as
                                           `cli` runs it; [exit code, stdout, stderr] of each as JSON on stdout
"""
import json
import os
import sys
import tempfile
import traceback
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


def clis(commands: list[list[str]]) -> int:
    """A process's start (~1.3 s: Python, LanceDB, the key) paid once for several commands. Each opens the store
    afresh as a command of its own process does; its stdout and stderr are taken at the file descriptors, so
    LanceDB's own lines and a Rust panic's are its too, and an exception is what a process would print."""
    results = []
    for args in commands:
        with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
            sys.stdout.flush()
            sys.stderr.flush()
            saved = os.dup(1), os.dup(2)
            os.dup2(out.fileno(), 1)
            os.dup2(err.fileno(), 2)
            try:
                code = cli(args)
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else 1
            except BaseException:  # noqa: B036 - what an uncaught exception or panic would end a process with
                traceback.print_exc()
                code = 1
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
                os.dup2(saved[0], 1)
                os.dup2(saved[1], 2)
                os.close(saved[0])
                os.close(saved[1])
            out.seek(0)
            err.seek(0)
            results.append([code, out.read().decode("utf-8", "replace"), err.read().decode("utf-8", "replace")])
    print(json.dumps(results))
    return 0


if __name__ == "__main__":
    where, job = Path(sys.argv[1]), sys.argv[2]
    if job == "clis":
        sys.exit(clis(json.loads(sys.argv[3])))
    sys.exit(hold(where) if job == "hold" else cli(sys.argv[3:]))
