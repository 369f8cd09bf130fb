"""Shared fixtures: a temp ENGRAM_HOME, a real store on a fast fake embedder, the real model."""
from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
# Qt windows in tests render offscreen (tests that need a real X server start Xvfb themselves).
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from fakes import HashEmbedder  # noqa: E402

from storage.store import MemoryStore  # noqa: E402

PASSPHRASE = "correct horse battery staple"
# Tests still use Argon2id with 64 MiB, just one pass instead of a tuned second.
FAST_KDF = 0.01


def _derive_each_key_once() -> None:
    """One derivation at Engram's floor (64 MiB) costs ~70 ms of CPU, and a new store made three (the tuning's
    probe, the passphrase's and the recovery key's wraps): a quarter of the inner loop's time, in stores made
    over and over with the same passphrase. In tests, stores tuned to FAST_KDF share one salt and skip the probe,
    and each (parameters, passphrase) is derived once per process: the key is a function of those alone, so a
    wrong passphrase, other parameters or another salt still derive (and fail) for real."""
    from storage import keys

    derive, tuned, salt, derived = keys.KdfParams.derive, keys.KdfParams.tuned.__func__, os.urandom(16), {}

    def derive_once(params: keys.KdfParams, passphrase: str) -> bytes:
        if (params, passphrase) not in derived:
            derived[params, passphrase] = derive(params, passphrase)
        return derived[params, passphrase]

    def tuned_for_tests(cls: type[keys.KdfParams], memory_mib: int, target_seconds: float) -> keys.KdfParams:
        if target_seconds > FAST_KDF:
            return tuned(cls, memory_mib, target_seconds)
        return cls(max(memory_mib, keys.MIN_MEMORY_MIB) * 1024, 1, keys._LANES, salt)

    keys.KdfParams.derive = derive_once  # type: ignore[method-assign]
    keys.KdfParams.tuned = classmethod(tuned_for_tests)  # type: ignore[method-assign, assignment]


_derive_each_key_once()

REPO = Path(__file__).resolve().parents[1]


def shared_dir() -> Path:
    """../shared beside the checkout (the CI lays it there too).

    A clone on its own has no shared data: the tests that read it skip with one reason line. CI sets
    ENGRAM_REQUIRE_SHARED=1 (in .ci/run), which turns that skip into a failure, so there every one runs.
    """
    path = Path(os.environ.get("ENGRAM_SHARED", REPO.parent / "shared"))
    if not (path / "data").is_dir():
        reason = (f"needs the benchmark data (LoCoMo, real screens) at {path}; "
                  "set ENGRAM_SHARED (see README, Development)")
        if os.environ.get("ENGRAM_REQUIRE_SHARED") == "1":
            pytest.fail(reason)
        pytest.skip(reason)
    return path


# Tests that load a real model are the inner loop's slowest (seconds of load and inference each); marking them
# here keeps `pytest -m "not slow"` quick without each new such test having to remember its mark.
REAL_MODELS = {"real_embedder", "built_in_model"}


# The longest files (their --durations on a full run, longest first) start first: installer/test.sh hands files
# to two processes one at a time, and a long one handed out last (the bundle's build, minutes) left the other idle.
LONGEST_FIRST = ("test_bundle.py", "test_upkeep.py", "test_ocr.py", "test_capture_e2e.py", "test_crash.py",
                 "test_damage.py", "test_install.py", "test_year_bench.py", "test_agents.py", "test_capture_filter.py",
                 "test_capture_pipeline.py", "test_writer_lock.py", "test_canary.py", "test_mcp.py", "test_store.py",
                 "test_ask.py", "test_ocr_process.py", "test_desktop_builds.py", "test_llm_endpoint.py",
                 "test_desktop.py", "test_cli.py", "test_import.py")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if REAL_MODELS & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)
    rank = {name: i for i, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))  # stable: each file keeps its own order


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "engram-home"
    path.mkdir()
    monkeypatch.setenv("ENGRAM_HOME", str(path))
    return path


@pytest.fixture
def store(home: Path) -> Iterator[MemoryStore]:
    created, _ = MemoryStore.create(PASSPHRASE, home=home, embedder=HashEmbedder(), kdf_seconds=FAST_KDF)
    yield created
    created.close()


def as_of_schema(home: Path, version: int) -> Path:
    """The store under `home` marked as written by schema `version`, where an upgrade test starts; its meta file."""
    meta = home / "store" / "engram-store.json"
    meta.write_text(json.dumps({**json.loads(meta.read_text()), "schema_version": version}))
    return meta


@pytest.fixture(scope="session")
def real_embedder():  # type: ignore[no-untyped-def]
    from storage.minilm import MiniLMEmbedder

    return MiniLMEmbedder()


@pytest.fixture(scope="session")
def built_in_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The built-in GGUF, assembled once per test process into a temp folder (never the user's models folder):
    an assembly writes and hashes 490 MB, which each module that loaded the model used to pay again."""
    from agents.llm import packaged_model

    return packaged_model(directory=tmp_path_factory.mktemp("models"))
