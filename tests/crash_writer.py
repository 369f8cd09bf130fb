"""Run by test_crash.py: writes batches forever, saying which ones committed, until killed."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from conftest import PASSPHRASE  # noqa: E402
from fakes import HashEmbedder  # noqa: E402

from storage.memory import Memory  # noqa: E402
from storage.store import MemoryStore  # noqa: E402

BATCH = 40


def main(home: str, first_batch: int) -> None:
    store = MemoryStore.open(PASSPHRASE, home=Path(home), embedder=HashEmbedder())
    print("ready", flush=True)
    batch = first_batch
    while True:
        store.add([Memory("message", f"batch {batch} row {i}", tags=[f"b{batch}"]) for i in range(BATCH)])
        print(f"committed {batch}", flush=True)
        if batch % 4 == 3:  # deletions (with their compaction and cleanup) get killed too
            victim = batch - 1
            store.delete([m.id for m in store.list_range(kinds=["message"], limit=100_000) if m.tags == [f"b{victim}"]])
            print(f"deleted {victim}", flush=True)
        batch += 1


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
