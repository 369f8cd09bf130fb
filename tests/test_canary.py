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
    # One process for all eight (each item names its kind): a process here costs ~2.5 s, MiniLM's load included.
    ids = engram("add", "core", "--json", "-", stdin=json.dumps(items)).split()
    assert len(ids) == len(items)
    assert canary("ocr") in engram("search", canary("ocr"))
    assert canary("secret") not in engram("show", ids[5])
    assert canary("secret") in engram("show", ids[5], "--reveal")
    engram("stats")
    needles = [n for tag in CANARY_TAGS for n in encodings(canary(tag))]
    assert (home / "logs" / "engram.log").exists()
    assert not leaks(home, needles)
    engram("delete", *ids, "--yes")
    assert not leaks(home, needles)


# -- secrets: masked before the first write, on every path ------------------------------------------------

IBAN = "DE89 3704 0044 0532 0130 00"
IBAN_WORDS = ["de89", "3704", "0044", "0532", "0130"]   # what masking leaves is "[IBAN •••• 3000]"


def password() -> str:
    return canary("pw")


def secret_words() -> list[str]:
    return IBAN_WORDS + [password().casefold()]


def tokens_in_any_version(store: MemoryStore, words: list[str]) -> list[str]:
    """Which of these words have a blind token in a frame or message, in any version of the table on disk."""
    wanted = {store.codec.index.token(w): w for w in words}
    dataset = store.table.to_lance()
    found: set[str] = set()
    for version in dataset.versions():
        rows = dataset.checkout_version(version["version"]).to_table(
            columns=["tokens"], filter="kind IN ('frame', 'message')").column("tokens").to_pylist()
        found.update(wanted[t] for row in rows for t in row.split() if t in wanted)
    return sorted(found)


def words_in_keyword_indexes(home: Path) -> int:
    """How many distinct words the largest keyword index on disk knows (its word list is compressed, so
    a secret's token cannot be looked for byte by byte; a list longer than the table's is a stale one)."""
    from lance.file import LanceFileReader

    files = (home / "store").rglob("*_tokens.lance")
    return max((LanceFileReader(str(f)).read_all().to_table().column("_token_next_id")[0].as_py() for f in files),
               default=0)


def assert_no_secret_kept(store: MemoryStore, home: Path) -> None:
    stored = " ".join(m.text + str(m.fields) for m in store.list_range(kinds=["message", "frame"], limit=1000))
    assert password() not in stored and "0532" not in stored
    assert tokens_in_any_version(store, secret_words()) == []
    observed = SearchOptions(mode="keyword", kinds=["message", "frame"], ask_history=True)
    assert not store.search(password(), observed).hits and not store.search("3704 0532", observed).hits
    assert not leaks(home, [n for n in encodings(password())])


def test_a_secret_in_a_question_or_its_answer_is_masked_before_they_are_kept(store: MemoryStore, home: Path) -> None:
    from agents.ask import Asker

    # A note the user wrote by hand keeps what they typed; the answer quoting it is history and must not.
    store.add([Memory("semantic", f"The router password: {password()} for the office wifi")])
    asker = Asker(store)
    asker.ask("what is the router password for the office wifi?")
    asker.ask(f"is my IBAN {IBAN} with password: {password()} the office one?")
    kept = store.list_range(kinds=["message"], limit=100)
    assert len(kept) == 4 and all(m.digested for m in kept)
    assert any("[password]" in m.text for m in kept if m.fields["speaker"] == "Engram")
    assert any("[IBAN •••• 3000]" in m.text for m in kept if m.fields["speaker"] == "user")
    assert_no_secret_kept(store, home)


def test_a_secret_stored_before_masking_existed_leaves_no_version_behind(store: MemoryStore, home: Path) -> None:
    from agents.meta import MetaMemoryManager
    from agents.pipeline import Digester
    from agents.router import EmbeddingRouter

    # As a store written before every path masked: the message holds the secret in its text and tokens.
    message = Memory("message", f"Bob: my IBAN is {IBAN}, password: {password()}", {"speaker": "Bob"},
                     trust=Trust.IMPORTED)
    store.add([message])
    store.build_indexes()  # the keyword index has taken it in
    sealed = store.table.search().where(f"id = '{message.id}'").limit(1).to_arrow().to_pylist()[0]["text"]
    assert tokens_in_any_version(store, secret_words()) == sorted(secret_words())  # sanity: the probe sees them
    Digester(store, MetaMemoryManager(store, EmbeddingRouter(store.embedder))).run()
    assert_no_secret_kept(store, home)
    assert not leaks(home, [sealed[13:37]])  # the unmasked row's ciphertext is gone from disk too
    stored_words = {t for r in store.table.search().limit(None).to_arrow().to_pylist() for t in r["tokens"].split()}
    assert words_in_keyword_indexes(home) == len(stored_words)  # no stale word list holds the secret's tokens


@pytest.mark.slow
def test_a_secret_given_to_engram_add_is_masked_before_it_is_stored(home: Path, monkeypatch: pytest.MonkeyPatch,
                                                                    capsys: pytest.CaptureFixture[str]) -> None:
    import io

    from app.cli import main

    (home / "config.toml").write_text("[security]\nkdf_target_seconds = 0.01\n")
    monkeypatch.setenv("ENGRAM_PASSPHRASE", PASSPHRASE)
    monkeypatch.setattr("sys.stdin", io.StringIO(""))
    assert main(["init"]) == 0
    said = f"my IBAN is {IBAN} and the password: {password()}"
    assert main(["add", "message", said, "--field", "speaker=Ana"]) == 0
    assert main(["add", "frame", f"Online banking\n{said}", "--app", "Firefox", "--title", "Bank"]) == 0
    assert main(["add", "semantic", f"A fact typed by hand: {said}"]) == 0
    monkeypatch.setattr("sys.stdin", io.StringIO(json.dumps([{"text": said, "speaker": "Bob"}])))
    assert main(["add", "message", "--json", "-"]) == 0
    capsys.readouterr()
    store = MemoryStore.open(PASSPHRASE, home=home)
    assert_no_secret_kept(store, home)
    # A fact typed by hand is no exception: its text is embedded and keyword-indexed like any other.
    typed = store.list_range(kinds=["semantic"], limit=10)
    assert len(typed) == 1 and password() not in typed[0].text and "0532" not in typed[0].text
    assert not store.search(password(), SearchOptions(mode="keyword", kinds=["semantic"])).hits
    # Kept, sealed, in the vault: nothing the user gave is lost.
    assert {v.secret for v in store.list_range(kinds=["vault"])} >= {IBAN.replace(" ", ""), password()}


def test_a_secret_in_a_field_search_indexes_is_masked_too(store: MemoryStore, home: Path) -> None:
    from agents.secrets import keep_secrets

    # `engram add semantic "Bank details" --field details="..."` (or the same in JSON): a note's details, a
    # link's content, a how-to's steps and a screen's address are indexed beside the text.
    said = f"my IBAN is {IBAN} and the password: {password()}"
    given = [Memory("semantic", "Bank details", {"details": said, "name": "Bank"}),
             Memory("resource", "Bank letter", {"content": {"page 1": [said]}}),
             Memory("procedural", "How to log in", {"steps": ["open the site", f"type the password: {password()}"]}),
             Memory("frame", "Sign in", {"monitor": 0, "url": f"https://bank.example/?password: {password()}"})]
    store.add(keep_secrets(store, given))
    indexed = [store.codec.index.token(w) for w in secret_words()]
    rows = store.table.search().limit(None).to_arrow().to_pylist()
    assert not [r["kind"] for r in rows if set(r["tokens"].split()) & set(indexed)]
    assert not store.search(password(), SearchOptions(mode="keyword")).hits
    kept = " ".join(json.dumps(m.fields) for m in store.list_range(limit=100) if m.kind != "vault")
    assert password() not in kept and "0532" not in kept and "[password]" in kept
    assert {v.secret for v in store.list_range(kinds=["vault"])} >= {IBAN.replace(" ", ""), password()}


def test_a_secret_typed_into_a_vault_entrys_caption_is_masked_there(store: MemoryStore, home: Path) -> None:
    from agents.secrets import keep_secrets

    # `engram add vault "Bank login, password: ..." --secret-stdin`: the caption is indexed and shown in search.
    entry = Memory("vault", f"Bank login, password: {password()}, IBAN {IBAN}", {"entry_type": "password"},
                   secret=password())
    store.add(keep_secrets(store, [entry]))
    assert not store.search(password(), SearchOptions(mode="keyword")).hits
    assert not store.search("3704 0532", SearchOptions(mode="keyword")).hits
    vault = store.list_range(kinds=["vault"])
    assert password() not in " ".join(v.text for v in vault) and "0532" not in " ".join(v.text for v in vault)
    assert sorted(v.secret for v in vault) == sorted([password(), IBAN.replace(" ", "")])  # the IBAN kept, once


def test_a_secret_in_a_window_title_is_masked_before_an_episode_repeats_it(store: MemoryStore, home: Path) -> None:
    from agents.meta import MetaMemoryManager
    from agents.pipeline import Digester
    from agents.router import EmbeddingRouter
    from agents.secrets import keep_secrets

    # A window title is sealed, not indexed; but the episode made from the screen names its window, and is.
    frames = [Memory("frame", f"Sign in to online banking step {i}", {"monitor": 0}, app="Firefox",
                     title=f"password: {password()} - IBAN {IBAN} - Mozilla Firefox") for i in range(3)]
    for frame in frames:
        store.add(keep_secrets(store, [frame]))
    Digester(store, MetaMemoryManager(store, EmbeddingRouter(store.embedder))).run()
    kept = [m for m in store.list_range(limit=1000) if m.kind != "vault"]
    assert kept and not [m.kind for m in kept if password() in m.title + m.text or "0532" in m.title + m.text]
    indexed = {store.codec.index.token(w) for w in secret_words()}
    assert not [r["kind"] for r in store.table.search().limit(None).to_arrow().to_pylist()
                if set(r["tokens"].split()) & indexed]
    assert {v.secret for v in store.list_range(kinds=["vault"])} >= {IBAN.replace(" ", ""), password()}
