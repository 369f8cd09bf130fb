"""The wire between `engram mcp` and the running desktop app: its single-instance local socket.

A request is one line, `mcp ` + a JSON object + newline; the app answers with one JSON line and
closes the connection. The CLI side uses plain sockets (no Qt, no store, no keys): on Linux and
macOS Qt's QLocalServer listens on a Unix socket named after the instance in Qt's temp directory,
on Windows on a named pipe of that name.
"""
from __future__ import annotations

import hashlib
import json
import os
import socket
import sys
from typing import Any

from storage import paths

PREFIX = b"mcp "
MAX_LINE = 8 * 1024 * 1024    # a request or answer larger than this is refused (a screenshot fits easily)
NOT_RUNNING = ("Engram is not running: start the Engram app (run `engram`) and unlock it; "
               "MCP clients are answered by the running app")


class RelayError(Exception):
    """The app could not be reached or answered nonsense; the message says what to do."""


def instance_name() -> str:
    """The desktop app's single-instance name (app.desktop.main.instance_name; a test keeps them equal)."""
    return "engram-" + hashlib.sha256(str(paths.home().resolve()).encode()).hexdigest()[:16]


def socket_path() -> str:
    if sys.platform == "win32":
        return r"\\.\pipe" + "\\" + instance_name()
    temp = os.environ.get("TMPDIR") or "/tmp"   # QDir::tempPath() on Unix
    return os.path.join(os.path.normpath(temp), instance_name())


def ask_app(request: dict[str, Any], timeout: float = 600.0) -> dict[str, Any]:
    """Send one request to the running app and return its answer (blocking)."""
    line = PREFIX + json.dumps(request, ensure_ascii=False).encode("utf-8", "replace") + b"\n"
    if len(line) > MAX_LINE:
        raise RelayError("the arguments are too large (over 8 MB); nothing was sent")
    raw = _exchange_windows(line, timeout) if sys.platform == "win32" else _exchange_unix(line, timeout)
    try:
        answer = json.loads(raw)
    except ValueError:
        raise RelayError("Engram's answer could not be read (is a different version running?)") from None
    if not isinstance(answer, dict):
        raise RelayError("Engram's answer could not be read (is a different version running?)")
    return answer


def _exchange_unix(line: bytes, timeout: float) -> bytes:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
        conn.settimeout(5.0)
        try:
            conn.connect(socket_path())
        except (FileNotFoundError, ConnectionRefusedError, socket.timeout):
            raise RelayError(NOT_RUNNING) from None
        conn.settimeout(timeout)
        try:
            conn.sendall(line)
            return _read_all(conn)
        except socket.timeout:
            raise RelayError("Engram did not answer in time; nothing more will come of this call") from None
        except OSError as exc:
            raise RelayError(f"the connection to Engram broke ({exc.strerror or type(exc).__name__})") from None


def _read_all(conn: socket.socket) -> bytes:
    chunks, size = [], 0
    while True:
        chunk = conn.recv(65536)
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
        if size > MAX_LINE:
            raise RelayError("Engram's answer is too large")
        if chunk.endswith(b"\n"):
            break
    return b"".join(chunks)


def _exchange_windows(line: bytes, timeout: float) -> bytes:
    del timeout  # a named pipe opened as a file blocks until the app answers
    try:
        with open(socket_path(), "r+b", buffering=0) as pipe:
            pipe.write(line)
            return pipe.readline(MAX_LINE + 1)
    except OSError:
        raise RelayError(NOT_RUNNING) from None
