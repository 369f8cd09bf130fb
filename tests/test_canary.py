"""The privacy promise, checked byte by byte: nothing captured is readable on disk."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from storage.memory import Memory, Trust
from storage.search import SearchOptions
from storage.store import MemoryStore

from conftest import PASSPHRASE, REPO


def canary(tag: str) -> str:
    return f"Zq{tag}Canary{os.getpid()}x"


def encodings(word: str) -> list[bytes]:
    forms = {word, word.lower(), word.upper()}
    return [f.encode(enc) for f in forms for enc in ("utf-8", "utf-16-le", "utf-16-be")]


def leaks(root: Path, needles: list[bytes]) -> list[str]:
    found = []
    for path in root.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            found += [f"{path.relative_to(root)}: {n[:24]!r}" for n in needles if n in data]
    return found


def memories_with_canaries() -> list[Memory]:
    c = canary
    return [
        Memory("core", f"My name is {c('core')}", {"block": "human"}, tags=[c("tag")]),
        Memory("episodic", f"Worked on {c('episode')}", {"details": c("details")}, app=c("app"), title=c("title")),
        Memory("semantic", f"{c('semantic')} is a colleague", {"name": c("name")}),
        Memory("procedural", "How to deploy", {"steps": [c("step")]}),
        Memory("resource", "A document", {"uri": f"file:///home/{c('uri')}.pdf", "title": c("doctitle")}),
        Memory("vault", "Passport number", {"entry_type": "id"}, secret=c("secret")),
        Memory("frame", f"OCR text {c('ocr')}", {"monitor": 0, "url": f"https://{c('url')}.example"},
               app="Firefox", title=f"{c('window')} - Mozilla Firefox"),
        Memory("message", f"Bob: {c('chat')}", {"speaker": c("speaker")}, trust=Trust.IMPORTED,
               source_ids=[c("source")]),
    ]


CANARY_TAGS = ["core", "tag", "episode", "details", "app", "title", "semantic", "name", "step", "uri",
               "doctitle", "secret", "ocr", "url", "window", "chat", "speaker", "source", "edited"]


def test_no_canary_on_disk_and_deleted_ciphertext_is_gone(store: MemoryStore, home: Path) -> None:
    memories = memories_with_canaries()
    store.add(memories)
    edited = store.get(memories[2].id)
    edited.text += f" and {canary('edited')}"
    store.update(edited)
    for tag in ("core", "ocr", "chat", "secret"):
        store.search(canary(tag))
    store.build_indexes(vector_min_rows=1)
    needles = [n for tag in CANARY_TAGS for n in encodings(canary(tag))]
    assert not leaks(home, needles)

    sealed = [r[col] for r in store.table.search().limit(None).to_arrow().to_pylist()
              for col in ("text", "app", "title", "body", "secret") if r[col] and len(r[col]) >= 40]
    probes = [s[13:37] for s in sealed]  # 24 bytes from inside each ciphertext
    assert len(leaks(home, probes)) >= len(probes)  # sanity: the probe finds them while they exist
    store.delete([m.id for m in memories])
    assert not leaks(home, probes)
    assert store.search(canary("core"), SearchOptions(mode="keyword")).hits == []


@pytest.mark.slow
def test_no_canary_through_the_cli_logs_and_temp_files(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    (home / "config.toml").write_text("[security]\nkdf_target_seconds = 0.01\n")
    env = {**os.environ, "ENGRAM_HOME": str(home), "ENGRAM_PASSPHRASE": PASSPHRASE, "TMPDIR": str(home / "tmp")}
    (home / "tmp").mkdir()

    def engram(*args: str, stdin: str = "") -> str:
        done = subprocess.run([sys.executable, "-m", "app.cli", *args], input=stdin, env=env, cwd=REPO,
                              capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr
        return done.stdout

    engram("init")
    items = [{"kind": m.kind, "text": m.text, "fields": m.fields, "app": m.app, "title": m.title,
              "tags": m.tags, "source_ids": m.source_ids, **({"secret_value": m.secret} if m.secret else {})}
             for m in memories_with_canaries()]
    ids = []
    for item in items:
        ids += engram("add", item["kind"], "--json", "-", stdin=json.dumps(item)).split()
    assert canary("ocr") in engram("search", canary("ocr"))
    assert canary("secret") not in engram("show", ids[5])
    assert canary("secret") in engram("show", ids[5], "--reveal")
    engram("stats")
    needles = [n for tag in CANARY_TAGS for n in encodings(canary(tag))]
    assert (home / "logs" / "engram.log").exists()
    assert not leaks(home, needles)
    engram("delete", *ids, "--yes")
    assert not leaks(home, needles)
