"""Reading an export file, and the one error every importer raises.

Errors name the file, the place (line, byte offset or record) and what is
wrong, never the content: they reach the terminal and the log, and imported
chats must not end up in either.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any


class ImportFailed(Exception):
    """A file that cannot be imported; nothing of it was stored. The message is for the user."""

    def __init__(self, path: Path, problem: str, *, line: int | None = None, offset: int | None = None) -> None:
        where = f"line {line}: " if line is not None else f"byte {offset}: " if offset is not None else ""
        super().__init__(f"cannot import {path}: {where}{problem}; nothing was imported")
        self.path, self.problem, self.line, self.offset = path, problem, line, offset


def read_text(path: Path) -> str:
    """The whole file as text. A UTF-8 byte-order mark is fine (WhatsApp on Windows writes one)."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ImportFailed(path, "no such file") from None
    except IsADirectoryError:
        raise ImportFailed(path, "this is a folder; give the export file inside it") from None
    except OSError as exc:
        raise ImportFailed(path, f"cannot be read ({exc.strerror or type(exc).__name__})") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ImportFailed(path, "is not UTF-8 text (exports are UTF-8; was it re-saved in another encoding?)",
                           offset=exc.start) from None
    if not text.strip():
        raise ImportFailed(path, "the file is empty")
    return text


def read_json(path: Path) -> Any:
    text = read_text(path)
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        # exc.msg is the parser's wording ("Expecting ',' delimiter"), never the document's content.
        cut_off = exc.pos >= len(text.rstrip()) - 1 or exc.msg.startswith("Unterminated string")
        problem = "the JSON ends too early (was the file cut off?)" if cut_off else f"not valid JSON ({exc.msg})"
        raise ImportFailed(path, f"column {exc.colno}: {problem}", line=exc.lineno) from None


def looks_like(data: Any) -> str:
    """Which export a parsed JSON document resembles, to point the user at the right format."""
    if isinstance(data, dict) and ("messages" in data or "chats" in data):
        return " (it looks like a Telegram export: use the format 'telegram')"
    first = data[0] if isinstance(data, list) and data else None
    if isinstance(first, dict) and "mapping" in first:
        return " (it looks like a ChatGPT export: use the format 'chatgpt')"
    if isinstance(first, dict) and "conversation" in first and "sample_id" in first:
        return " (it looks like a LoCoMo file: use the format 'locomo')"
    return ""
