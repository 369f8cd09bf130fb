"""The desktop app's side of MCP: one request from `engram mcp` in, one answer out.

Contract: `McpService.handle(request)` runs on a worker thread (never the GUI thread), takes the
JSON object the relay sent and returns a JSON object; it never raises. While Engram is locked every
request answers `LOCKED` and nothing else. A request names its client by token; the token must be
registered and the tool within the client's scopes. Every call is audited (shape, not content).
"""
from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from app.mcp.audit import AuditEntry, AuditLog, args_shape
from app.mcp.clients import Client, ClientRegistry, RegistryError
from app.mcp.tools import CORE_URI, TOOLS, ToolContext, ToolError, check_known, core_memory

log = logging.getLogger(__name__)

LOCKED = "Engram is locked"
UNKNOWN_TOKEN = ("this client's token is not registered (or was revoked): register it with "
                 "`engram mcp add-client NAME --scopes read` and give the client the token it prints")
UNKNOWN_CLIENT = "(unknown token)"
_TOUCH_EVERY = 60.0   # seconds between two writes of a client's "last used"


def _tool_of(request: dict[str, Any]) -> str:
    """The tool's name for the audit; a name that is no tool's is not kept (an agent chose it)."""
    name = request.get("tool") if request.get("op") == "call" else request.get("op")
    return name if name in TOOLS or name in ("resource", "auth") else "(unknown tool)"


def error(message: str, **extra: Any) -> dict[str, Any]:
    return {"ok": False, "error": message, **extra}


class McpService:
    def __init__(self, store: Callable[[], Any], ask: Callable[[str], Any],
                 approve_forget: Callable[[str, str], bool], on_read: Callable[[str, str], None] | None = None,
                 registry: ClientRegistry | None = None, audit: AuditLog | None = None) -> None:
        self._store, self._ask, self._approve = store, ask, approve_forget
        self._on_read = on_read or (lambda client, tool: None)
        self.registry = registry or ClientRegistry()
        self.audit = audit or AuditLog()
        self._pending: list[AuditEntry] = []        # refused while locked: sealed at the next unlocked call
        self._touched: dict[str, float] = {}
        self._lock = threading.Lock()

    def handle(self, request: Any) -> dict[str, Any]:
        try:
            return self._handle(request if isinstance(request, dict) else {})
        except Exception as exc:  # never a traceback to the agent; the type alone goes to the log
            log.error("mcp request failed: %s", type(exc).__name__)
            return error(LOCKED if not self._unlocked() else
                         f"Engram could not complete this call ({type(exc).__name__})")

    def _unlocked(self) -> Any:
        store = self._store()
        return store if store is not None and store.vault.is_unlocked else None

    def _handle(self, request: dict[str, Any]) -> dict[str, Any]:
        op, token = request.get("op"), request.get("token")
        token = token if isinstance(token, str) else ""
        if op == "auth":  # may the HTTP transport let this request in (a wrong token gets 401)
            known = self.registry.known(token)
            if not known:
                self._later(AuditEntry(UNKNOWN_CLIENT, "(http request)", {}, 0, "refused: HTTP 401"))
            return {"ok": True, "known": known}
        store = self._unlocked()
        if store is None:
            self._remember_locked(token, request)
            return error(LOCKED, locked=True)
        key = store.vault.keys.content
        self._flush(key)
        try:
            client = self.registry.verify(key, token)
        except RegistryError as exc:
            return error(str(exc), auth=False)
        if client is None:
            self._audit(key, Client(UNKNOWN_CLIENT, (), "", None), _tool_of(request), request.get("args"), 0,
                        "refused: unknown or revoked token")
            return error(UNKNOWN_TOKEN, auth=False)
        if op == "call":
            return self._call(store, key, client, request.get("tool"), request.get("args"))
        if op == "resource":
            return self._resource(store, key, client, request.get("uri"))
        return error(f"unknown request {str(op)[:40]!r}")

    def _call(self, store: Any, key: bytes, client: Client, tool: Any, args: Any) -> dict[str, Any]:
        name = tool if isinstance(tool, str) else ""
        spec = TOOLS.get(name)
        args = {} if args is None else args
        count, outcome = 0, "ok"
        try:
            if spec is None:
                raise ToolError(f"no such tool; the tools are: {', '.join(TOOLS)}")
            if spec.scope not in client.scopes:
                raise ToolError(f"the client {client.name!r} may not use {spec.name}: it needs the "
                                f"'{spec.scope}' scope (register the client again with --scopes ...,{spec.scope})")
            if not isinstance(args, dict):
                raise ToolError("the arguments must be a JSON object")
            check_known(args, spec)
            context = ToolContext(store, client.name, self._ask, self._approve)
            payload, count = spec.run(context, args)
        except ToolError as exc:
            outcome = "refused: " + str(exc)[:120]
            return error(str(exc))
        except Exception as exc:
            outcome = f"error: {type(exc).__name__}"
            raise
        finally:
            self._audit(key, client, name if spec else "(unknown tool)", args, count, outcome)
        if spec.scope in ("read", "images"):
            self._on_read(client.name, spec.name)
        return {"ok": True, "result": payload}

    def _resource(self, store: Any, key: bytes, client: Client, uri: Any) -> dict[str, Any]:
        if uri != CORE_URI:
            return error(f"no resource {str(uri)[:80]!r}; there is {CORE_URI}")
        if "read" not in client.scopes:
            self._audit(key, client, "resource:core-memory", {}, 0, "refused: no read scope")
            return error(f"the client {client.name!r} needs the 'read' scope to read core memory")
        text = core_memory(store)
        self._audit(key, client, "resource:core-memory", {}, 1, "ok")
        self._on_read(client.name, "core memory")
        return {"ok": True, "text": text}

    # -- for Settings (any thread; they need Engram unlocked) -------------------------------------------

    def clients(self) -> list[Client]:
        return self.registry.list(self._key())

    def revoke(self, name: str) -> bool:
        return self.registry.revoke(self._key(), name)

    def audit_entries(self, limit: int = 500) -> list[AuditEntry]:
        return self.audit.read(self._key(), limit)

    def _key(self) -> bytes:
        store = self._unlocked()
        if store is None:
            raise RegistryError(LOCKED)
        return bytes(store.vault.keys.content)

    # -- audit ------------------------------------------------------------------------------------------

    def _audit(self, key: bytes, client: Client, tool: str, args: Any, count: int, outcome: str) -> None:
        try:
            spec = TOOLS.get(tool)
            names = frozenset(spec.schema["properties"]) if spec else frozenset()
            self.audit.append(key, [AuditEntry(client.name, tool[:60], args_shape(args, names), count, outcome)])
            if client.name == UNKNOWN_CLIENT:
                return
            now = time.monotonic()
            if now - self._touched.get(client.name, -_TOUCH_EVERY) >= _TOUCH_EVERY:
                self._touched[client.name] = now
                self.registry.touch(key, client.name)
        except OSError as exc:  # a full disk must not turn an answer into an error
            log.error("mcp audit not written: %s", type(exc).__name__)

    def _remember_locked(self, token: str, request: dict[str, Any]) -> None:
        name = self.registry.known_name(token) or UNKNOWN_CLIENT
        spec = TOOLS.get(_tool_of(request))
        names = frozenset(spec.schema["properties"]) if spec else frozenset()
        self._later(AuditEntry(name, _tool_of(request), args_shape(request.get("args") or {}, names), 0,
                               "refused: Engram was locked"))

    def _later(self, entry: AuditEntry) -> None:
        """Kept in memory until a call comes while unlocked (only then can it be sealed)."""
        with self._lock:
            if len(self._pending) < 1000:
                self._pending.append(entry)

    def _flush(self, key: bytes) -> None:
        with self._lock:
            pending, self._pending = self._pending, []
        if pending:
            try:
                self.audit.append(key, pending)
            except OSError as exc:
                log.error("mcp audit not written: %s", type(exc).__name__)
