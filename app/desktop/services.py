"""What the desktop app asks of the rest of Engram; run on worker threads (see ops.py)."""
from __future__ import annotations

from typing import Any

from storage.config import Config


def open_store(passphrase: str) -> Any:
    from storage.store import MemoryStore

    return MemoryStore.open(passphrase)


def create_store(passphrase: str) -> tuple[Any, str]:
    from storage.store import MemoryStore

    return MemoryStore.create(passphrase, kdf_seconds=Config.load().get("security.kdf_target_seconds"))


def start_capture(store: Any) -> Any:
    """None when the user said no to screen capture (first run or Settings)."""
    from app.capture.factory import start_capture_service

    if not Config.load().get("capture.enabled"):
        return None
    return start_capture_service(store)


def start_agents(store: Any) -> Any:
    from app.agent_service import start_agent_service

    return start_agent_service(store)
