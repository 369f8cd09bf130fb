"""The clients allowed to use Engram over MCP, each with its own token and scopes.

The registry is a small JSON file beside the store (`mcp-clients.json`): names, scopes, when each
was added and last used, and the SHA-256 of each token (a token is 32 random bytes, so its hash
cannot be reversed; the token itself is shown once, at registration). The file carries an HMAC
under a key derived from the store's key: a process that edits the file to add its own token
(it cannot know the passphrase) is refused while Engram is unlocked, and while it is locked every
call is refused anyway. Registering a client therefore needs the passphrase.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from storage import paths
from storage.atomic import write_json_atomically
from storage.locking import WriterLock

SCOPES = {
    "read": "search, ask, read memories, the timeline and screen text, core memory",
    "write": "add memories (tagged with the client's name, trusted below your own); forget, after you approve it",
    "images": "screenshots of frames",
}
TOKEN_PREFIX = "engram_"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 ._-]{0,63}$")


class RegistryError(Exception):
    """A registration problem the user can act on (the message says how)."""


class RegistryTampered(RegistryError):
    def __init__(self) -> None:
        super().__init__("the MCP client list was changed outside Engram; no client is accepted until you "
                         "register them again (`engram mcp add-client NAME`)")


@dataclass(frozen=True)
class Client:
    name: str
    scopes: tuple[str, ...]
    created: str
    last_used: str | None


def registry_path() -> Path:
    return paths.home() / "mcp-clients.json"


def mac_key(content_key: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"engram/mcp-clients/v1").derive(content_key)


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "replace")).hexdigest()


def parse_scopes(text: str) -> tuple[str, ...]:
    wanted = tuple(dict.fromkeys(s.strip().lower() for s in text.split(",") if s.strip()))
    unknown = [s for s in wanted if s not in SCOPES]
    if unknown or not wanted:
        raise RegistryError(f"unknown scope(s) {', '.join(unknown) or '(none given)'}; choose from: {', '.join(SCOPES)}")
    return wanted


class ClientRegistry:
    """Read and change the registry. `key` is the content key (`store.vault.keys.content`);
    without it (locked) only `known` works, and only to tell a wrong token from a right one."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path or registry_path()
        self._lock = WriterLock(self.path.with_name(".mcp-clients.lock"))

    def add(self, key: bytes, name: str, scopes: tuple[str, ...]) -> str:
        """Register `name`; returns its token (show it once: only its hash is kept)."""
        if not _NAME.match(name):
            raise RegistryError("a client name is 1-64 letters, digits, spaces, dots, dashes or underscores")
        token = new_token()
        with self._lock.held():
            clients = self._verified(key)
            if name in clients:
                raise RegistryError(f"a client named {name!r} is registered already; revoke it first "
                                    f"(`engram mcp revoke {name}`) to give it a new token")
            clients[name] = {"scopes": list(scopes), "token_sha256": token_hash(token),
                             "created": _now(), "last_used": None}
            self._write(key, clients)
        return token

    def revoke(self, key: bytes, name: str) -> bool:
        with self._lock.held():
            clients = self._verified(key)
            if clients.pop(name, None) is None:
                return False
            self._write(key, clients)
        return True

    def list(self, key: bytes) -> list[Client]:
        return [_client(name, entry) for name, entry in sorted(self._verified(key).items())]

    def verify(self, key: bytes, token: str) -> Client | None:
        """The client holding `token`, or None; raises RegistryTampered if the file was edited."""
        entry = self._find(self._verified(key), token)
        return _client(*entry) if entry else None

    def known(self, token: str) -> bool:
        """Whether any registered client has this token, without the key (the file is not verified)."""
        return self.known_name(token) is not None

    def known_name(self, token: str) -> str | None:
        try:
            found = self._find(self._read().get("clients", {}), token)
        except RegistryTampered:
            return None
        return found[0] if found else None

    def touch(self, key: bytes, name: str) -> None:
        with self._lock.held():
            clients = self._verified(key)
            if name in clients:
                clients[name]["last_used"] = _now()
                self._write(key, clients)

    # -- the file ---------------------------------------------------------------------------------

    def _read(self) -> dict[str, Any]:
        try:
            raw = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError):
            raise RegistryTampered() from None
        return raw if isinstance(raw, dict) else {}

    def _verified(self, key: bytes) -> dict[str, dict[str, Any]]:
        raw = self._read()
        if not raw:
            return {}
        clients = raw.get("clients")
        if not isinstance(clients, dict) or not hmac.compare_digest(str(raw.get("mac", "")), _mac(key, clients)):
            raise RegistryTampered()
        return clients

    def _write(self, key: bytes, clients: dict[str, dict[str, Any]]) -> None:
        write_json_atomically(self.path, {"clients": clients, "mac": _mac(key, clients)})

    @staticmethod
    def _find(clients: Any, token: str) -> tuple[str, dict[str, Any]] | None:
        if not isinstance(clients, dict) or not isinstance(token, str) or not token:
            return None
        wanted = token_hash(token)
        for name, entry in clients.items():
            if isinstance(entry, dict) and hmac.compare_digest(str(entry.get("token_sha256", "")), wanted):
                return name, entry
        return None


def _mac(key: bytes, clients: dict[str, Any]) -> str:
    body = json.dumps(clients, sort_keys=True, separators=(",", ":")).encode()
    return hmac.new(mac_key(key), body, hashlib.sha256).hexdigest()


def _client(name: str, entry: dict[str, Any]) -> Client:
    return Client(name, tuple(s for s in entry.get("scopes", []) if s in SCOPES), str(entry.get("created", "")),
                  entry.get("last_used"))


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")
