"""Engram over MCP: search and ask latency as an agent sees them, at 100k memories.

How: a 100k store built as in store_latency (the same pooled LoCoMo vectors and batches), opened by a real
DesktopApp (offscreen Qt, its single-instance socket and McpBridge), and one client registered. The official
`mcp` client library starts `python -m app.cli mcp` over stdio, as Claude Desktop would, and times each
`call_tool` from the client's side: the JSON-RPC over the pipe, the relay over the app's local socket, the
worker thread, the token and scope check, the sealed audit entry, and `store.search` with the query embedded
live by the real all-MiniLM-L6-v2 (store_latency leaves query embedding out; an agent does not get to).
`mcp.search`: 200 LoCoMo questions (10 warm-up calls first), one call each, default options (k 10, time words
on); `in_app` is the share spent inside the app's handler, the rest is the protocol and the two hops.
`mcp.ask`: LoCoMo questions through the `ask` tool with the app's own model set-up (the built-in model
unless one is configured; answers not kept as the user's history), after one warm-up question that loads the
model; the store's texts are pooled turns, so this measures time, not answer quality (that is `locomo.qa`). The machine's two cores were shared with other
work while this ran: pessimistic figures.
"""
from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from bench import results
from bench.results import Metrics, metric
from bench.store_latency import SUFFIX

METHODS = {"mcp": (__doc__ or "").split("How: ", 1)[1].strip()}
REPO = Path(__file__).resolve().parents[1]


class LiveQueryEmbedder:
    """Rows get their pool vector (as in store_latency); while `live`, anything else (a query, a sentence Ask
    compares) is embedded now by the real model. While building, any other text the store embeds besides a
    row gets a pool vector picked by the text's hash, so building 100k rows costs no model time."""

    def __init__(self, pooled: Any, model: Any) -> None:
        self.pooled, self.model = pooled, model
        self._pool_texts = list(pooled._index)
        self._known = set(self._pool_texts)
        self.live = False

    @property
    def dim(self) -> int:
        return int(self.pooled.dim)

    @property
    def seconds(self) -> float:
        return float(self.pooled.seconds)

    def _is_row(self, text: str) -> bool:
        """A stored row is a pool text + SUFFIX + two words; a query, or a sentence cut from a row, is not."""
        return SUFFIX in text and text.rpartition(SUFFIX)[0] in self._known

    def _pool_text(self, index: int) -> str:
        return str(self._pool_texts[index])

    def _as_row(self, text: str) -> str:
        if self._is_row(text):
            return text
        digest = int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "little")
        return self._pool_text(digest % len(self._pool_texts)) + SUFFIX + "x"

    def embed(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        out = np.empty((len(texts), self.dim), np.float32)
        live = [i for i, t in enumerate(texts) if self.live and not self._is_row(t)]
        pooled = [i for i in range(len(texts)) if i not in set(live)]
        if pooled:
            out[pooled] = self.pooled.embed([self._as_row(texts[i]) for i in pooled])
        if live:
            out[live] = self.model.embed([texts[i] for i in live])
        return out


def _pct(values: list[float], q: float) -> float:
    return round(float(np.percentile(values, q)), 2)


def _client(token: str, queries: list[str], questions: list[str]) -> dict[str, Any]:
    """In its own process (as an agent is): start `engram mcp` over stdio and time each call."""
    import anyio
    from mcp import ClientSession, StdioServerParameters, stdio_client

    params = StdioServerParameters(command=sys.executable, args=["-m", "app.cli", "mcp"], cwd=str(REPO),
                                   env={**os.environ, "ENGRAM_MCP_TOKEN": token})
    out: dict[str, Any] = {}

    async def session_run() -> None:
        async with stdio_client(params) as (read, write), ClientSession(read, write) as session:
            await session.initialize()
            for query in queries[:10]:
                await session.call_tool("search", {"query": query})
            searches, errors = [], []
            for query in queries:
                started = time.perf_counter()
                result = await session.call_tool("search", {"query": query})
                searches.append((time.perf_counter() - started) * 1000)
                if result.is_error:
                    errors.append(str(getattr(result.content[0], 'text', ''))[:200])
            asks, modes = [], []
            if questions:  # the first question loads the model (seconds): not what each question costs
                await session.call_tool("ask", {"question": "what did I do today?"}, read_timeout_seconds=300)
            for question in questions:
                started = time.perf_counter()
                result = await session.call_tool("ask", {"question": question}, read_timeout_seconds=300)
                asks.append(time.perf_counter() - started)
                if result.is_error:
                    errors.append(str(getattr(result.content[0], 'text', ''))[:200])
                modes.append((result.structured_content or {}).get("mode", "error"))
            out.update(searches=searches, asks=asks, modes=modes, errors=errors)

    anyio.run(session_run)
    return out


def _client_process(token: str, queries: list[str], questions: list[str], home: Path, out: dict[str, Any]) -> None:
    """On a thread of the app's process: run the client process and collect what it measured."""
    import json
    import subprocess

    plan = home / "bench-plan.json"
    plan.write_text(json.dumps({"token": token, "queries": queries, "questions": questions}), encoding="utf-8")
    done = subprocess.run([sys.executable, "-m", "bench.mcp_bench", "--client", str(plan)], cwd=str(REPO),
                          capture_output=True, text=True)
    if done.returncode != 0:
        out["error"] = RuntimeError(f"the benchmark's client failed: {done.stderr[-2000:]}")
        return
    out.update(json.loads(done.stdout.strip().splitlines()[-1]))


def run(argv: Sequence[str] = ()) -> Metrics:
    parser = argparse.ArgumentParser(prog="bench.mcp_bench")
    parser.add_argument("--size", default="100k", help="store size (10k, 100k, 1m)")
    parser.add_argument("--questions", type=int, default=20, help="how many questions through the ask tool")
    parser.add_argument("--tmp", default=None)
    args, _ = parser.parse_known_args(list(argv))
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from bench.locomo_retrieval import CachedEmbedder
    from bench.store_latency import SIZES, PooledEmbedder, _build, _pool_and_queries

    size = SIZES[args.size]
    cached = CachedEmbedder()
    pool, pool_vectors, queries = _pool_and_queries(cached)
    home = Path(tempfile.mkdtemp(prefix="engram-bench-mcp-", dir=args.tmp))
    previous_home = os.environ.get("ENGRAM_HOME")
    os.environ["ENGRAM_HOME"] = str(home)
    try:
        embedder = LiveQueryEmbedder(PooledEmbedder(pool, pool_vectors, {}, seed=size), cached.model)
        print(f"  building {args.size} ({size:,} rows)", flush=True)
        store, _, _, _ = _build(home, size, pool, embedder, log_every=max(1, 100_000 // 5_000))  # type: ignore[arg-type]
        embedder.live = True
        questions = queries[::max(1, len(queries) // max(1, args.questions))][:args.questions]
        return _measure(store, queries, questions, size, home)
    finally:
        if previous_home is None:
            os.environ.pop("ENGRAM_HOME", None)
        else:
            os.environ["ENGRAM_HOME"] = previous_home
        shutil.rmtree(home, ignore_errors=True)


def _measure(store: Any, queries: list[str], questions: list[str], size: int, home: Path) -> Metrics:
    from app.desktop.main import DesktopApp
    from app.mcp.clients import parse_scopes
    from app.qt import QApplication, QTimer

    app = QApplication.instance() or QApplication(sys.argv)
    desktop = DesktopApp(app)  # type: ignore[arg-type]
    desktop.store = store  # unlocked, as after the unlock dialog (no capture or agents: only MCP is measured)
    token = desktop.mcp.service.registry.add(store.vault.keys.content, "bench", parse_scopes("read"))
    in_app: list[tuple[str, float]] = []
    handle = desktop.mcp.service.handle

    def timed(request: Any) -> Any:  # the app's share: token, scope, tool (search, embedding), audit
        started = time.perf_counter()
        try:
            return handle(request)
        finally:
            in_app.append((str(request.get("tool")), (time.perf_counter() - started) * 1000))

    desktop.mcp.service.handle = timed  # type: ignore[method-assign]
    out: dict[str, Any] = {}
    load_before = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    client = threading.Thread(target=_client_process, args=(token, queries, questions, home, out), daemon=True)
    client.start()
    timer = QTimer()
    timer.timeout.connect(lambda: None if client.is_alive() else app.quit())
    timer.start(200)
    app.exec()
    timer.stop()
    if desktop.asker is not None and desktop.asker.llm is not None:
        desktop.asker.llm.close()
    desktop.server.close()
    store.close()
    if "error" in out:
        raise out["error"]
    load = f"load average {load_before:.1f} → {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores" \
        if hasattr(os, "getloadavg") else ""
    label = {100_000: "100k", 10_000: "10k", 1_000_000: "1m"}[size]
    searches, asks = out["searches"], out["asks"]
    app_search = [ms for tool, ms in in_app if tool == "search"][10:]  # after the warm-up calls
    modes = statistics.multimode(out["modes"]) if out["modes"] else ["-"]
    print(f"    search p50 {_pct(searches, 50)} ms, p95 {_pct(searches, 95)} ms (in the app p50 "
          f"{_pct(app_search, 50)}, p95 {_pct(app_search, 95)}); ask p95 "
          f"{_pct(asks, 95) if asks else '-'} s; errors {len(out['errors'])} {out['errors'][:3]}", flush=True)
    new: Metrics = {
        f"mcp.search.p50_ms.{label}": metric(_pct(searches, 50), "ms", len(searches), f"stdio, client side; {load}"),
        f"mcp.search.p95_ms.{label}": metric(_pct(searches, 95), "ms", len(searches),
                                             f"stdio, client side; target ≤ 100 ms (issue 18); {load}"),
        f"mcp.search.in_app_p50_ms.{label}": metric(_pct(app_search, 50), "ms", len(app_search),
                                                    "inside the app: token, scope, search, audit"),
        f"mcp.search.in_app_p95_ms.{label}": metric(_pct(app_search, 95), "ms", len(app_search),
                                                    "inside the app: token, scope, search, audit"),
        f"mcp.errors.{label}": metric(len(out["errors"]), "calls", len(searches) + len(asks), "calls answered with an error"),
    }
    if asks:
        new["mcp.ask.p50_s"] = metric(_pct(asks, 50), "s", len(asks), f"mostly {modes[0]} answers")
        new["mcp.ask.p95_s"] = metric(_pct(asks, 95), "s", len(asks),
                                       f"stdio, {label} store; mostly {modes[0]} answers; {load}")
    return new


if __name__ == "__main__":
    if sys.argv[1:2] == ["--client"]:
        import json

        plan = json.loads(Path(sys.argv[2]).read_text(encoding="utf-8"))
        print(json.dumps(_client(plan["token"], plan["queries"], plan["questions"])))
        raise SystemExit(0)
    results.merge(run(sys.argv[1:]))
    results.render(results.collected_methods())
