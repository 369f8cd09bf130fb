"""The one unit the agents take in: something seen on screen or said in a chat.

Sources never call the agents: the capture pipeline stores frames, imports and
the assistant store messages, and the digester turns the ones not yet taken in
into `Observation`s, batch by batch (see agents/pipeline.py).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from agents.ownership import is_users_line
from storage.memory import Memory, Trust


@dataclass(frozen=True)
class Observation:
    id: str                      # the frame or message it comes from
    kind: str                    # "frame" or "message"
    time: datetime
    text: str
    source: str                  # screen / import / chat / assistant
    trust: Trust
    app: str = ""
    title: str = ""
    url: str = ""
    speaker: str = ""
    conversation: str = ""
    tags: tuple[str, ...] = field(default_factory=tuple)

    @classmethod
    def of(cls, memory: Memory) -> "Observation":
        return cls(id=memory.id, kind=memory.kind, time=memory.time, text=memory.text,
                   source=memory.source_kind or ("screen" if memory.kind == "frame" else "chat"),
                   trust=memory.trust, app=memory.app, title=memory.title,
                   url=str(memory.fields.get("url") or ""), speaker=str(memory.fields.get("speaker") or ""),
                   conversation=str(memory.fields.get("conversation") or ""), tags=tuple(memory.tags))

    @property
    def source_ref(self) -> str:
        """How memories point back at it: "frame:<id>" or "message:<id>"."""
        return f"{self.kind}:{self.id}"

    def said_by_user(self, user_names: frozenset[str] = frozenset()) -> bool:
        """Only what the user says about themself may become core memory or the user's vault values;
        never screen text, never another speaker's line (see agents/ownership.py)."""
        return self.kind == "message" and is_users_line(self.speaker, self.tags, user_names)
