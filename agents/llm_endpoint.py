"""A model served on this computer by an OpenAI-compatible server (llama-server, Ollama, LM Studio).

A person who already runs a bigger model in one of those points Engram at it
(`engram model use http://127.0.0.1:11434/v1`) instead of loading a second copy.
Engram's memories go into every prompt, so the server must be on this machine:
a URL naming any other host is refused, no proxy from the environment is used
(urllib would otherwise send a loopback request to $http_proxy) and a redirect
is never followed. The same interface as `LocalLLM`, so Ask and the agents use
either without knowing which.
"""
from __future__ import annotations

import json
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

from agents.llm import ModelError, ModelInfo, Progress, json_object, with_data_blocks

LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1", "[::1]"})
_CONNECT_SECONDS = 5.0


def local_url(url: str) -> str:
    """`url` without a trailing slash, if it names an HTTP server on this computer; else ModelError."""
    parts = urllib.parse.urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ModelError(f"{url!r} is not a server address; give one like http://127.0.0.1:11434/v1")
    if parts.hostname not in LOOPBACK:
        raise ModelError(f"{parts.hostname} is not this computer: Engram sends your memories only to a model "
                         "server on 127.0.0.1 (localhost)")
    return url.strip().rstrip("/")


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req: Any, fp: Any, code: int, msg: str, headers: Any, newurl: str) -> None:
        raise ModelError(f"the model server sent Engram elsewhere ({newurl}); it was not followed")


# No ProxyHandler entries: the environment's proxies are ignored.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}), _NoRedirect())


class EndpointLLM:
    """A model behind a local OpenAI-compatible server. Construct freely: nothing is asked until used."""

    def __init__(self, url: str, model: str = "", *, context_tokens: int = 4096) -> None:
        self.url = local_url(url)
        self._model = model
        self._context_tokens = context_tokens
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="engram-llm-endpoint")
        self._info: ModelInfo | None = None

    # loading: asking the server which models it serves

    def load_in_background(self, progress: Progress | None = None) -> "Future[ModelInfo]":
        return self._worker.submit(self.load)

    def load(self, progress: Progress | None = None) -> ModelInfo:
        if self._info is not None:
            return self._info
        listed = self._request("GET", "/models", timeout=_CONNECT_SECONDS)
        served = [str(m.get("id")) for m in listed.get("data", []) if isinstance(m, dict) and m.get("id")]
        if self._model and served and self._model not in served:
            raise ModelError(f"the server at {self.url} has no model {self._model!r}; it has: {', '.join(served)}")
        name = self._model or (served[0] if served else "")
        if not name:
            raise ModelError(f"the server at {self.url} lists no model; name one (engram model use URL --name MODEL)")
        # Instruction-tuned and chosen by the user: it writes answers (still cited and checked against them).
        self._info = ModelInfo(Path(name), name, 0, "capable", f"served at {self.url}", self._context_tokens,
                               instruct=True, served_at=self.url)
        return self._info

    @property
    def info(self) -> ModelInfo | None:
        return self._info

    # calls

    def stream(self, messages: Sequence[dict[str, str]], *, max_tokens: int = 384,
               timeout: float = 60.0) -> Iterator[str]:
        """Yield the answer's text piece by piece (the caller may stop early)."""
        info = self.load()
        deadline = time.monotonic() + timeout
        body = {"model": info.name, "messages": list(messages), "max_tokens": max_tokens, "temperature": 0.0,
                "stream": True}
        with self._open("POST", "/chat/completions", body, timeout) as response:
            for raw in response:
                line = raw.decode("utf-8", errors="replace").strip()
                if not line.startswith("data:"):
                    continue
                data = line[5:].strip()
                if data == "[DONE]":
                    return
                try:
                    piece = json.loads(data)["choices"][0]["delta"].get("content")
                except (ValueError, KeyError, IndexError, TypeError, AttributeError):
                    raise ModelError("the model server sent something that is not a chat answer") from None
                if piece:
                    yield str(piece)
                if time.monotonic() > deadline:
                    raise ModelError(f"the model took longer than {timeout:.0f} s")

    def json(self, instruction: str, schema: dict[str, Any], *, data: Sequence[str] = (),
             max_tokens: int = 256, timeout: float = 30.0) -> dict[str, Any]:
        """A structured answer. Untrusted text goes in `data`, never in `instruction`."""
        info = self.load()
        body = {"model": info.name, "max_tokens": max_tokens, "temperature": 0.0,
                "messages": [{"role": "user", "content": with_data_blocks(instruction, data)}],
                # llama-server and llama-cpp-python read the schema here; others at least keep to JSON.
                "response_format": {"type": "json_object", "schema": schema}}
        answer = self._request("POST", "/chat/completions", body, timeout=timeout)
        try:
            content = str(answer["choices"][0]["message"]["content"])
        except (KeyError, IndexError, TypeError):
            raise ModelError("the model server sent something that is not a chat answer") from None
        return json_object(content)

    def count_tokens(self, text: str) -> int:
        return max(1, len(text) // 4)  # the server's tokenizer is not ours to call; about 4 characters a token

    def close(self) -> None:
        self._worker.shutdown(wait=True)

    # HTTP

    def _request(self, method: str, path: str, body: dict[str, Any] | None = None, *,
                 timeout: float) -> dict[str, Any]:
        with self._open(method, path, body, timeout) as response:
            try:
                value = json.loads(response.read())
            except ValueError:
                raise ModelError(f"the server at {self.url} did not answer like an OpenAI-compatible one") from None
        if not isinstance(value, dict):
            raise ModelError(f"the server at {self.url} did not answer like an OpenAI-compatible one")
        return value

    def _open(self, method: str, path: str, body: dict[str, Any] | None, timeout: float) -> Any:
        data = json.dumps(body).encode("utf-8") if body is not None else None
        request = urllib.request.Request(self.url + path, data=data, method=method,
                                         headers={"Content-Type": "application/json"})
        try:
            return _OPENER.open(request, timeout=timeout)
        except urllib.error.HTTPError as exc:
            raise ModelError(f"the model server at {self.url} answered {exc.code} {exc.reason}") from None
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise ModelError(f"no model server answers at {self.url} ({reason}); start it, or choose another "
                             "model (engram model use built-in)") from None
