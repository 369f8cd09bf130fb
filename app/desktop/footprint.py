"""Keeping the desktop app small in memory: how its heap is set up, and what Lock lets go.

A tray app stays up all day. What it loads for a while (the OCR models while frames wait, the
embedder while unlocked, a language model for Ask) must go when that while ends, and what is freed
must reach the system: glibc keeps freed memory in its arenas unless asked to give it back.
"""
from __future__ import annotations

import ctypes
import ctypes.util
from typing import Any

from app.capture.ocr import give_memory_back

_M_ARENA_MAX = -8  # mallopt's parameter number (glibc malloc.h)
HEAP_ARENAS = 2


def limit_heap_arenas(arenas: int = HEAP_ARENAS) -> bool:
    """At most `arenas` malloc arenas for the whole process (glibc's default is 8 per core).

    Every thread that allocates (capture, OCR, the agents, LanceDB's and onnxruntime's pools) would get
    an arena of its own, each keeping the peak of what that thread once used: reading one 1080p screen
    left 417 MB anonymous memory with the default and 312 MB with one arena. Call it before threads
    start. False where the C library is not glibc (nothing to limit)."""
    name = ctypes.util.find_library("c")
    if not name or "libc.so" not in name:
        return False
    try:
        return bool(ctypes.CDLL(name).mallopt(_M_ARENA_MAX, arenas))
    except (OSError, AttributeError):
        return False


def release_models(capture: Any, store: Any) -> None:
    """On Lock: the OCR models and the embedder's weights go (each loads again when next needed)."""
    ocr = getattr(getattr(capture, "ocr_worker", None), "ocr", None)
    embedder = getattr(store, "embedder", None)
    while embedder is not None and not hasattr(embedder, "release"):
        embedder = getattr(embedder, "inner", None)  # through wrappers (the agents' SearchFirstEmbedder)
    for part in (ocr, embedder):
        release = getattr(part, "release", None)
        if release is not None:
            release()


__all__ = ["HEAP_ARENAS", "give_memory_back", "limit_heap_arenas", "release_models"]
