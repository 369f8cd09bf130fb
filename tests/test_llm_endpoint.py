"""A model behind an OpenAI-compatible server on this computer (agents/llm_endpoint.py).

The real path: llama_cpp.server serving the built-in model, asked by Ask. The logic around it (what is
refused, proxies, redirects, a server that answers nonsense) against a small scripted server.
"""
from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from agents.llm import LocalLLM, ModelError
from agents.llm_endpoint import EndpointLLM, local_url


class _Scripted(BaseHTTPRequestHandler):
    """/v1/models lists 'tiny'; chat answers stream "Friday [S1]"; /v1/moved redirects elsewhere."""

    bodies: list[dict[str, Any]] = []

    def log_message(self, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        if self.path == "/v1/models":
            self._json({"object": "list", "data": [{"id": "tiny"}, {"id": "other"}]})
        elif self.path.startswith("/moved"):
            self.send_response(302)
            self.send_header("Location", "http://192.0.2.1/v1/models")
            self.end_headers()
        else:
            self._json({"data": "nonsense"})

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        _Scripted.bodies.append(body)
        if body.get("stream"):
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.end_headers()
            for piece in ("Fri", "day", " [S1]"):
                chunk = {"choices": [{"delta": {"content": piece}}]}
                self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
            self.wfile.write(b"data: [DONE]\n\n")
        else:
            self._json({"choices": [{"message": {"content": json.dumps({"kind": "vault"})}}]})

    def _json(self, value: Any) -> None:
        data = json.dumps(value).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@pytest.fixture
def scripted() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Scripted)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    _Scripted.bodies = []
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_only_a_server_on_this_computer_is_accepted() -> None:
    for url in ("http://192.168.1.5:11434/v1", "https://api.openai.com/v1", "http://localhost.example.com/v1",
                "ftp://127.0.0.1/v1", "127.0.0.1:8080"):
        with pytest.raises(ModelError):
            local_url(url)
    assert local_url("http://127.0.0.1:11434/v1/") == "http://127.0.0.1:11434/v1"
    assert local_url("http://localhost:1234/v1") == "http://localhost:1234/v1"


def test_it_streams_answers_and_structured_calls_from_the_named_model(scripted: str,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    # A proxy in the environment is not used: the request would go to a port where nothing listens.
    monkeypatch.setenv("http_proxy", "http://127.0.0.1:9")
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")
    llm = EndpointLLM(scripted + "/v1", "other")
    info = llm.load()
    assert info.writes and info.served_at == scripted + "/v1" and "served at" in info.describe()
    assert "".join(llm.stream([{"role": "user", "content": "when?"}], max_tokens=8)) == "Friday [S1]"
    assert llm.json("Which kind?", {"type": "object"}, data=["my IBAN"]) == {"kind": "vault"}
    assert [b["model"] for b in _Scripted.bodies] == ["other", "other"]
    assert "my IBAN" in _Scripted.bodies[1]["messages"][0]["content"]
    llm.close()


def test_what_does_not_work_is_said(scripted: str) -> None:
    with pytest.raises(ModelError, match="has no model 'big'.*tiny, other"):
        EndpointLLM(scripted + "/v1", "big").load()
    with pytest.raises(ModelError, match="not followed"):
        EndpointLLM(scripted + "/moved").load()
    with pytest.raises(ModelError, match="OpenAI-compatible|lists no model"):
        EndpointLLM(scripted + "/nothing").load()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    with pytest.raises(ModelError, match="no model server answers"):
        EndpointLLM(f"http://127.0.0.1:{closed}/v1").load()


def test_engram_model_use_saves_a_server_only_once_it_answers(scripted: str, home: Path) -> None:
    from app.cli.agents import use_model
    from app.cli.input import CliError
    from storage.config import Config

    cfg = Config.load(home / "config.toml")
    with pytest.raises(CliError, match="unchanged"):
        use_model(cfg, "http://10.0.0.7:11434/v1")
    assert cfg.get("model.endpoint") == ""
    use_model(cfg, scripted + "/v1/", "tiny")
    again = Config.load(home / "config.toml")
    assert again.get("model.endpoint") == scripted + "/v1" and again.get("model.endpoint_model") == "tiny"
    from agents.llm_choice import configured_llm

    llm = configured_llm(again)
    assert isinstance(llm, EndpointLLM) and llm.load().name == "tiny"
    llm.close()
    # An address edited into config.toml by hand that is not this computer's is not used: the model
    # file answers instead (Ask keeps working), and nothing is sent elsewhere.
    again.set("model.endpoint", "http://10.0.0.7:11434/v1")
    assert isinstance(configured_llm(again), LocalLLM)


@pytest.fixture(scope="module")
def real_server(tmp_path_factory: pytest.TempPathFactory, built_in_model: Path) -> Iterator[str]:
    """llama_cpp.server serving the built-in model on a free loopback port."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    log = tmp_path_factory.mktemp("server") / "server.log"  # llama.cpp's load log would fill a pipe and stall it
    with log.open("wb") as out:
        process = subprocess.Popen([sys.executable, "-m", "llama_cpp.server", "--model", str(built_in_model),
                                    "--host", "127.0.0.1", "--port", str(port), "--n_ctx", "2048",
                                    "--model_alias", "engram-built-in"], stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/v1"
    direct = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        for _ in range(240):
            if process.poll() is not None:
                pytest.fail(f"llama_cpp.server exited: {log.read_text(errors='replace')[-2000:]}")
            try:
                with direct.open(url + "/models", timeout=1):
                    break
            except OSError:
                time.sleep(0.5)
        else:
            pytest.fail("llama_cpp.server did not start in 2 minutes")
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)


@pytest.mark.slow
def test_ask_writes_a_cited_answer_through_a_real_local_server(real_server: str, store: Any) -> None:
    from agents.ask import Asker
    from storage.memory import Memory

    store.add([Memory(kind="message", text="The budget review moved to Friday at eight",
                      fields={"speaker": "Tom", "conversation": "work"}, app="Signal",
                      time=datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc))])
    llm = EndpointLLM(real_server)
    assert llm.load().name == "engram-built-in"
    answer = Asker(store, llm, remember=False).ask("When is the budget review?",
                                                    now=datetime(2026, 3, 3, tzinfo=timezone.utc))
    llm.close()
    assert answer.mode == "model", answer
    assert "friday" in answer.text.lower() and "[S1]" in answer.text
