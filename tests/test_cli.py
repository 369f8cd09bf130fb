"""The `engram` command line, in-process, on a real store with the real embedding model."""
import io
import json
import re
from pathlib import Path

import pytest

from app.cli import main

from conftest import PASSPHRASE

pytestmark = pytest.mark.slow


@pytest.fixture
def cli(home: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]):
    (home / "config.toml").write_text("[security]\nkdf_target_seconds = 0.01\n")
    monkeypatch.setenv("ENGRAM_PASSPHRASE", PASSPHRASE)

    def run(*args: str, stdin: str = "") -> tuple[int, str, str]:
        monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
        code = main(list(args))
        out, err = capsys.readouterr()
        return code, out, err

    return run


def test_init_shows_a_recovery_key_once_and_refuses_a_second_store(cli) -> None:
    code, out, _ = cli("init")
    assert code == 0 and re.search(r"([A-Z2-7]{4}-){7}[A-Z2-7]{4}", out)
    code, _, err = cli("init")
    assert code == 1 and "already exists" in err


def test_commands_without_a_store_say_how_to_make_one(cli) -> None:
    code, _, err = cli("search", "anything")
    assert code == 1 and "engram init" in err


def test_add_search_show_delete_for_every_kind(cli, home: Path) -> None:
    cli("init")
    adds = [
        ("core", "I am allergic to peanuts", ["--field", "block=human"]),
        ("episodic", "Edited the annual report", ["--time", "2026-11-24T09:14", "--until", "2026-11-24T09:32",
                                                  "--app", "Writer"]),
        ("semantic", "Anna leads the Atlas project", ["--field", "name=Anna"]),
        ("procedural", "Release checklist", ["--field", "steps=tag the release;upload wheels"]),
        ("resource", "Design document for search", ["--field", "uri=https://example.org/design"]),
        ("frame", "Inbox flight confirmation ABC123", ["--app", "Thunderbird"]),
        ("message", "Bob: offsite moved", ["--field", "speaker=Bob"]),
    ]
    ids = {}
    for kind, text, extra in adds:
        code, out, err = cli("add", kind, text, *extra)
        assert code == 0, err
        ids[kind] = out.strip()
    code, out, _ = cli("add", "vault", "Passport number", "--field", "entry_type=id", "--secret-stdin",
                       stdin="X1234567\n")
    ids["vault"] = out.strip()

    code, out, _ = cli("search", "peanut allergy", "--json")
    assert json.loads(out)["hits"][0]["id"] == ids["core"]
    code, out, _ = cli("search", "report", "--type", "episodic", "--app", "writer", "--json")
    assert [h["id"] for h in json.loads(out)["hits"]] == [ids["episodic"]]
    code, out, _ = cli("search", "who runs Atlas")
    assert ids["semantic"] in out and "Anna leads the Atlas project" in out

    code, out, _ = cli("show", ids["vault"])
    assert "X1234567" not in out and "••••••" in out
    code, out, _ = cli("show", ids["vault"], "--reveal", "--json")
    assert json.loads(out)["secret_value"] == "X1234567"
    code, out, _ = cli("show", ids["procedural"], "--json")
    assert json.loads(out)["steps"] == ["tag the release", "upload wheels"]

    code, _, err = cli("delete", ids["frame"])
    assert code == 1 and "--yes" in err
    code, out, _ = cli("delete", "--range", "2026-11-24", "2026-11-24", "--yes")  # the whole day
    # Erased before the command ends: no Engram app may be running to do it in its hourly upkeep.
    assert code == 0 and "Forgot 1 memory" in out and "Erased from disk." in out
    from storage.store import MemoryStore
    from storage.upkeep import pending_erase

    assert pending_erase(MemoryStore.open(PASSPHRASE, home=home)) == 0
    code, out, _ = cli("delete", *ids.values(), "--yes")
    assert "Forgot 7 memories" in out
    code, out, _ = cli("stats", "--json")
    assert json.loads(out)["rows"] == 0


def test_wrong_passphrase_is_one_clear_line(cli, monkeypatch) -> None:
    cli("init")
    monkeypatch.setenv("ENGRAM_PASSPHRASE", "wrong")
    code, out, err = cli("stats")
    assert code == 1 and err.strip() == "engram: Wrong passphrase (or recovery key). Nothing was changed."


def test_bad_json_stores_nothing(cli) -> None:
    cli("init")
    code, _, err = cli("add", "semantic", "--json", "-", stdin='[{"text": "ok"}, {"text": ')
    assert code == 1 and "not valid JSON" in err
    code, _, err = cli("add", "semantic", "--json", "-", stdin='[{"text": "ok"}, {"text": "x", "colour": 1, "fields": {"colour": "red"}}]')
    assert code == 1 and "no field" in err
    assert json.loads(cli("stats", "--json")[1])["rows"] == 0


def test_passwd_and_recovery_key(cli, monkeypatch) -> None:
    recovery = re.search(r"([A-Z2-7]{4}-){7}[A-Z2-7]{4}", cli("init")[1]).group(0)
    code, out, err = cli("passwd", stdin="second passphrase\n")
    assert code == 0 and "changed" in out, err
    assert cli("stats")[0] == 1
    monkeypatch.setenv("ENGRAM_PASSPHRASE", "second passphrase")
    assert cli("stats")[0] == 0
    code, out, _ = cli("passwd", "--recovery-key", stdin=f"{recovery}\nthird passphrase\n")
    assert code == 0
    monkeypatch.setenv("ENGRAM_PASSPHRASE", "third passphrase")
    assert cli("stats")[0] == 0


def test_export_restores_elsewhere_and_holds_no_plaintext(home, tmp_path) -> None:
    from app.archive import erase_everything, export_archive, restore_archive
    from storage.memory import Memory
    from storage.store import MemoryStore

    from conftest import FAST_KDF, PASSPHRASE
    from fakes import HashEmbedder

    store, _ = MemoryStore.create(PASSPHRASE, home=home, embedder=HashEmbedder(), kdf_seconds=FAST_KDF)
    canary = "zanzibar-quokka-7741"
    store.add([Memory("semantic", f"the canary is {canary}")])
    archive = export_archive(store, tmp_path / "backup.tar.gz")
    store.close()
    import gzip

    assert canary.encode() not in gzip.decompress(archive.read_bytes())
    elsewhere = tmp_path / "restored"
    restore_archive(archive, elsewhere)
    restored = MemoryStore.open(PASSPHRASE, home=elsewhere, embedder=HashEmbedder())
    assert [m.text for m in restored.list_range(kinds=["semantic"])] == [f"the canary is {canary}"]
    restored.close()
    erase_everything(elsewhere)
    assert not elsewhere.exists()


def test_time_words_that_match_nothing_are_searched_as_words_and_said_so(cli) -> None:
    cli("init")
    cli("add", "resource", "Today's deals on garden tools", "--time", "2026-01-05T10:00")
    code, out, _ = cli("search", "today's deals")
    assert code == 0 and "garden tools" in out and "at any time" in out


def test_model_use_checks_the_file_before_choosing_it(cli, tmp_path: Path, built_in_model: Path) -> None:
    cli("init")
    broken = tmp_path / "broken.gguf"
    broken.write_bytes(b"GGUF" + b"\0" * (2 << 20))
    code, _, err = cli("model", "use", str(broken))
    assert code == 1 and "unchanged" in err
    code, out, _ = cli("model", "use", str(built_in_model))
    assert code == 0 and "Qwen" in out and "writes its answers" in out
    code, out, _ = cli("model")
    assert code == 0 and str(built_in_model) in out
    code, out, _ = cli("model", "use", "built-in")
    assert code == 0 and "Now using" in out


@pytest.mark.parametrize(("document", "says"), [
    ("[" * 100_000 + "]" * 100_000, "nested too deeply"),
    ('{"kind": "semantic", "text": "x", "trust": "SUPERUSER"}', "unknown trust"),
    ('["just", "strings"]', "must be an object"),
    ('{"kind": "semantic", "text": "x", "tags": 7}', "'tags' must be a list"),
    ('{"kind": "semantic", "text": "x", "fields": [1, 2]}', "'fields' must be an object"),
    ('{"kind": ["semantic"], "text": "x"}', "must be an object with at least a 'kind'"),
    ('{"kind": "semantic", "text": {"a": 1}}', "'text' must be text"),
    ('{"kind": "semantic", "text": "x", "fields": {"colour": "red"}}', "has no field"),
])
def test_add_json_of_the_wrong_shape_says_what_is_wrong_and_stores_nothing(cli, document: str, says: str) -> None:
    cli("init")
    code, _, err = cli("add", "semantic", "--json", "-", stdin=document)
    assert code == 1 and says in err and "Traceback" not in err
    code, out, _ = cli("search", "x", "--json")
    assert json.loads(out)["hits"] == []
