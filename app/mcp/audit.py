"""The audit of MCP calls: who called which tool, the shape of its arguments, how much came back.

Never the content: a query's words or a memory's text are recorded only as their type and length
("str[23]"). Each entry is still sealed (AES-256-GCM under the store's content key, bound to the
entry's id) in `mcp-audit.log` beside the store, one line per call, so that even when an agent
was active is not readable without the passphrase. Calls refused while Engram is locked cannot be
sealed then; the service keeps their count in memory and writes them at the next unlock.
"""
from __future__ import annotations

import base64
import json
import uuid
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from storage import paths
from storage.fields import FieldCipher, TamperedField
from storage.locking import WriterLock

_TABLE = "mcp-audit"
_KEEP = 20_000          # entries kept; the oldest go when the log passes about 1.25 * _KEEP lines
_TRIM_BYTES = int(_KEEP * 1.25 * 330)   # an entry's line is about 330 bytes


@dataclass
class AuditEntry:
    client: str
    tool: str
    args: dict[str, str]
    results: int
    outcome: str                      # "ok", "refused: ...", "error: ..."
    at: str = field(default_factory=lambda: datetime.now(timezone.utc).isoformat(timespec="seconds"))


def audit_path() -> Path:
    return paths.home() / "mcp-audit.log"


def shape(value: Any, depth: int = 0) -> str:
    """What an argument looked like, never what it said."""
    if isinstance(value, bool) or value is None:
        return type(value).__name__
    if isinstance(value, (int, float)):
        return type(value).__name__
    if isinstance(value, str):
        return f"str[{len(value)}]"
    if isinstance(value, list):
        return f"list[{len(value)}]"
    if isinstance(value, dict):
        return f"object[{len(value)}]"
    return type(value).__name__


def args_shape(args: Any, names: frozenset[str] = frozenset()) -> dict[str, str]:
    """`names`: the tool's own argument names; any other name an agent sent could itself be content."""
    if not isinstance(args, dict):
        return {"(arguments)": shape(args)}
    shapes = {name: shape(value) for name, value in args.items() if name in names}
    others = len(args) - len(shapes)
    return {**shapes, "(other arguments)": str(others)} if others else shapes


class AuditLog:
    def __init__(self, path: Path | None = None) -> None:
        self.path = path or audit_path()
        self._lock = WriterLock(self.path.with_name(".mcp-audit.lock"))

    def append(self, content_key: bytes, entries: list[AuditEntry]) -> None:
        cipher = FieldCipher(content_key)
        lines = []
        for entry in entries:
            entry_id = uuid.uuid4().hex
            sealed = cipher.seal(_TABLE, entry_id, "entry", json.dumps(asdict(entry)))
            lines.append(f"{entry_id} {base64.b64encode(sealed).decode()}\n")
        with self._lock.held():
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with open(self.path, "a", encoding="ascii") as handle:
                handle.writelines(lines)
            self._trim()

    def read(self, content_key: bytes, limit: int = 500) -> list[AuditEntry]:
        """The newest `limit` entries, newest first; an entry that fails its check is shown as damaged."""
        cipher = FieldCipher(content_key)
        try:
            lines = self.path.read_text(encoding="ascii").splitlines()
        except FileNotFoundError:
            return []
        found = []
        for line in reversed(lines[-limit:]):
            found.append(_open(cipher, line))
        return found

    def _trim(self) -> None:
        if self.path.stat().st_size < _TRIM_BYTES:
            return
        lines = self.path.read_text(encoding="ascii").splitlines(keepends=True)
        if len(lines) > _KEEP:
            tmp = self.path.with_name(self.path.name + ".tmp")
            tmp.write_text("".join(lines[-_KEEP:]), encoding="ascii")
            tmp.replace(self.path)


def _open(cipher: FieldCipher, line: str) -> AuditEntry:
    entry_id, _, body = line.partition(" ")
    try:
        raw = json.loads(cipher.open(_TABLE, entry_id, "entry", base64.b64decode(body)))
        return AuditEntry(**raw)
    except (TamperedField, ValueError, TypeError):
        return AuditEntry("?", "?", {}, 0, "damaged: failed its integrity check", at="")
