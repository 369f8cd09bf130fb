"""Importing Lance and LanceDB without building their REST client.

Both import `lance_namespace_urllib3_client`, a generated client for Lance's REST namespace server, whose
~370 API methods are wrapped in pydantic's `validate_call` as the module is imported: a validator built per
method, 0.4-0.5 s of every process's start here (`engram search`, the app, the OCR and MCP processes), for a
client Engram never calls (its store is a local folder, and it makes no network calls). While the two are
imported, `validate_call` leaves that client's functions as they are, so nothing is built for them (anything
else a thread imports meanwhile is validated as usual); then it is put back.
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

    def rest_client_unvalidated(func: Any = None, **options: Any) -> Any:
        """`validate_call`, used bare (`@validate_call`) or called (`@validate_call(...)`)."""
        def wrap(f: Any) -> Any:
            return f if getattr(f, "__module__", "").startswith(_REST_CLIENT) else validate_call(f, **options)
        return wrap(func) if func is not None else wrap

    pydantic.validate_call = rest_client_unvalidated
    try:
        import lance  # noqa: F401
        import lancedb  # noqa: F401
    finally:
        pydantic.validate_call = validate_call


_REST_CLIENT = "lance_namespace_urllib3_client."
