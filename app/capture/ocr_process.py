"""OCR in a process of its own: started when a frame waits to be read, ended when frames stop coming.

Reading a 1080p screen brings the app to ~400 MB more than it holds without OCR (onnxruntime, OpenCV
and the PP-OCR models, and their working memory), and dropping the models inside the app's process
gave back only part of it: the libraries stay loaded and the heap keeps what they freed. A child
process gives all of it back when it exits.

Screens travel over the child's stdin and its words come back over its stdout (never through a
file); the child writes nothing to disk and its stderr is discarded (a library's message could quote
what it read). A frozen build (PyInstaller) cannot start `python -m`, so there `default_ocr` reads in
the app's own process.

    python -m app.capture.ocr_process     the child: reads frames from stdin until it closes
"""
from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
import threading
import weakref
from pathlib import Path
from typing import Any, BinaryIO

from PIL import Image

from app.capture.ocr import (OCR, OcrResult, OcrUnavailable, OcrWord, RapidOcrEngine, give_memory_back, prepare,
                             scaled_box)

_HEADER = struct.Struct("<III")  # width, height, payload length (a frame), or 0, 0, length (a reply)


def default_ocr() -> OCR:
    """RapidOCR in a child process, or in this one where no child can be started (a frozen build)."""
    return RapidOcrEngine() if getattr(sys, "frozen", False) else OcrProcess()


class OcrProcess:
    """An `OCR` whose engine (RapidOCR) runs in a child process, started on the first read after a
    `release` (~1 s, more on a loaded machine) and ended by `release`. Thread-safe: one read at a time,
    as on two cores a second concurrent read only slows both down."""

    def __init__(self) -> None:
        self._child: subprocess.Popen[bytes] | None = None
        self._ended: weakref.finalize[Any, Any] | None = None  # ends the child, also if this is dropped unreleased
        self._lock = threading.Lock()

    @property
    def running(self) -> bool:
        return self._child is not None and self._child.poll() is None

    def read(self, image: Image.Image) -> OcrResult:
        prepared = prepare(image)
        if prepared is None:
            return OcrResult("")
        rgb, scale = prepared
        with self._lock:
            child = self._started()
            try:
                _write(child.stdin, rgb.width, rgb.height, rgb.tobytes())
                reply = json.loads(_read(child.stdout)[2])  # type: ignore[arg-type]  # a pipe, never None
            except (OSError, EOFError, ValueError) as exc:
                self._stop()  # the next read starts a new child
                raise RuntimeError(f"the OCR process stopped ({type(exc).__name__})") from None
        if "unavailable" in reply:
            raise OcrUnavailable(reply["unavailable"])
        if "error" in reply:
            raise RuntimeError(f"OCR failed in its process: {reply['error']}")
        return OcrResult(reply["text"], [OcrWord(text, scaled_box((x, y, w, h), scale), confidence)
                                         for text, x, y, w, h, confidence in reply["words"]])

    def release(self) -> None:
        """End the child: everything it held goes back to the system."""
        with self._lock:
            self._stop()

    def _started(self) -> subprocess.Popen[bytes]:
        if self._child is not None and self._child.poll() is not None:
            self._stop()  # it died (killed, out of memory): its pipes are closed, a new one starts
        if self._child is None:
            source_root = str(Path(__file__).resolve().parents[2])  # where `app` is, installed or not
            env = {**os.environ, "ORT_DISABLE_TELEMETRY": "1",
                   "PYTHONPATH": os.pathsep.join(filter(None, [source_root, os.environ.get("PYTHONPATH")]))}
            self._child = subprocess.Popen([sys.executable, "-m", "app.capture.ocr_process"], env=env,
                                           stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                           stderr=subprocess.DEVNULL)
            self._ended = weakref.finalize(self, _end, self._child)
        return self._child

    def _stop(self) -> None:
        ended, self._ended, self._child = self._ended, None, None
        if ended is not None:
            ended()


def _end(child: subprocess.Popen[bytes]) -> None:
    for stream in (child.stdin, child.stdout):
        if stream is not None:
            stream.close()  # the child sees the end of its input and exits
    try:
        child.wait(10)
    except subprocess.TimeoutExpired:
        child.kill()
        child.wait()


def _write(stream: Any, width: int, height: int, payload: bytes) -> None:
    stream.write(_HEADER.pack(width, height, len(payload)))
    stream.write(payload)
    stream.flush()


def _read(stream: BinaryIO) -> tuple[int, int, bytes]:
    header = stream.read(_HEADER.size)
    if len(header) < _HEADER.size:
        raise EOFError("the other side closed the pipe")
    width, height, length = _HEADER.unpack(header)
    payload = stream.read(length)
    if len(payload) < length:
        raise EOFError("the other side closed the pipe mid-message")
    return width, height, payload


def serve(source: BinaryIO, sink: BinaryIO) -> None:
    """The child's loop: a frame in, its words out, until the input ends.

    After each reply the heap's free pages go back to the system. Screens and changed bands come in
    every size, and onnxruntime (its arena off) mallocs and frees per read, so glibc's heap only grew:
    over 80 real screens and crops the child went 429 -> 558 MB, and 731 MB after an hour of use in
    the app; trimmed after each read it stayed at 233-402 MB (bench/hour_of_use.py has the hour)."""
    engine = RapidOcrEngine()
    while True:
        try:
            width, height, pixels = _read(source)
        except EOFError:
            return
        try:
            result = engine.read(Image.frombytes("RGB", (width, height), pixels))
            reply: dict[str, Any] = {"text": result.text, "words": [[w.text, *w.box, w.confidence]
                                                                    for w in result.words]}
        except OcrUnavailable as exc:
            reply = {"unavailable": str(exc)}
        except Exception as exc:  # the type only: a message could quote what was on the screen
            reply = {"error": type(exc).__name__}
        _write(sink, 0, 0, json.dumps(reply).encode("utf-8"))
        give_memory_back()  # after the reply: the app is not kept waiting for it


if __name__ == "__main__":
    serve(sys.stdin.buffer, sys.stdout.buffer)
