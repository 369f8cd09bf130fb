"""Importing Lance and LanceDB without building their REST client.

Both import `lance_namespace_urllib3_client`, a generated client for Lance's REST namespace server, whose
~370 API methods are wrapped in pydantic's `validate_call` as the module is imported: a validator built per
method, 0.4-0.5 s of every process's start here (`engram search`, the app, the OCR and MCP processes), for a
client Engram never calls (its store is a local folder, and it makes no network calls). While the two are
imported, `validate_call` leaves the functions it wraps as they are, so nothing is built; it is put back
before anything else can use it.
"""
from __future__ import annotations

import sys
import threading
from typing import Any

_LOCK = threading.Lock()


def load() -> None:
    """Import `lance` and `lancedb` (once); call before `import lancedb` or `import lance`."""
    if "lancedb" not in sys.modules:
        with _LOCK:
            if "lancedb" not in sys.modules:
                _import_unvalidated()


def _import_unvalidated() -> None:
    import pydantic

    validate_call = pydantic.validate_call
    pydantic.validate_call = _as_it_is
    try:
        import lance  # noqa: F401
        import lancedb  # noqa: F401
    finally:
        pydantic.validate_call = validate_call


def _as_it_is(func: Any = None, **_: Any) -> Any:
    """`validate_call` that validates nothing: used bare (`@validate_call`) and called (`@validate_call(...)`)."""
    return func if func is not None else (lambda f: f)
