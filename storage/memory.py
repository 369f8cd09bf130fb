"""What a memory is: the six kinds of DESIGN.md plus captured frames and chat messages.

All kinds share one record shape (`Memory`): the common provenance fields, the
main `text` that is shown and searched, and `fields` for what is specific to
the kind (a procedure's steps, a resource's uri, ...). `KINDS` declares, per
kind, which fields exist and which of them are searchable, so the store, the
CLI and the UI agree on one definition.
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from enum import IntEnum
from typing import Any


class Trust(IntEnum):
    """Who vouches for a memory. Higher wins when two disagree."""

    IMPORTED = 1   # chat history or web content brought in from elsewhere
    INFERRED = 2   # an agent's conclusion
    OBSERVED = 3   # seen on screen or said in a conversation
    USER = 4       # the user said or edited it themselves


@dataclass(frozen=True)
class Kind:
    name: str
    text_field: str                     # the field users know as the main text
    fields: tuple[str, ...]             # kind-specific fields, besides the main text
    searchable: tuple[str, ...] = ()    # extra fields whose words are indexed
    secret: str | None = None           # a field that is never indexed, embedded or logged
    help: str = ""


KINDS: dict[str, Kind] = {k.name: k for k in (
    Kind("core", "text", ("block", "facts", "suggestions"),
         help="who you are and standing preferences (block: human/persona; suggestions: facts awaiting your word)"),
    Kind("episodic", "summary", ("actor", "event_type", "details", "key_phrases"), ("details", "key_phrases"),
         help="time-stamped events: what happened, when"),
    Kind("semantic", "summary", ("name", "details"), ("name", "details"),
         help="facts about people, things and the world"),
    Kind("procedural", "summary", ("entry_type", "steps"), ("steps",),
         help="how-tos and workflows (entry_type: workflow/guide/script)"),
    Kind("resource", "summary", ("title", "resource_type", "uri", "content"), ("title", "uri", "content"),
         help="documents, files, links and snippets"),
    Kind("vault", "caption", ("entry_type", "sensitivity"), ("entry_type",), secret="secret_value",
         help="secrets and identifiers; the value is never indexed"),
    Kind("frame", "text", ("monitor", "image_id", "thumb_id", "boxes", "url", "changed", "previous", "screens", "key",
                           "patches", "size", "moves", "windows"), ("url",),
         help="a captured screen: its OCR text (image and thumbnail are encrypted files; key/patches: stored as "
              "changes over an earlier screen, storage/frame_pictures.py); text-only, a run of the same screen "
              "(screens: how many); windows: where each window was, bottom to top"),
    Kind("message", "text", ("speaker", "conversation"), ("speaker",),
         help="a chat turn, imported or said to Engram"),
)}

MEMORY_KINDS = ("core", "episodic", "semantic", "procedural", "resource", "vault")


# The years a memory's time may fall in (UTC). Exports and typed dates beyond them are mistakes or crafted
# files, and far-off years break later: a zone's offset pushes year 1 or 9999 out of what `datetime` and
# the platform's clock hold, and every read of such a row fails.
SUPPORTED_YEARS = (1900, 2200)
EARLIEST = datetime(SUPPORTED_YEARS[0], 1, 1, tzinfo=timezone.utc)
LATEST = datetime(SUPPORTED_YEARS[1] + 1, 1, 1, tzinfo=timezone.utc)  # the first instant past the range


class TimeOutOfRange(ValueError):
    """A time outside SUPPORTED_YEARS. The message says the range, never the value's context."""

    def __init__(self, what: str = "a time") -> None:
        super().__init__(f"{what} outside the supported years {SUPPORTED_YEARS[0]}–{SUPPORTED_YEARS[1]}")


def check_time(moment: datetime, what: str = "a time") -> datetime:
    """`moment` (timezone-aware) if it lies in the supported years, else TimeOutOfRange."""
    if not EARLIEST <= moment < LATEST:
        raise TimeOutOfRange(what)
    return moment


def check_year(naive: datetime, what: str = "a time") -> datetime:
    """A wall-clock time's year, checked before a zone is applied to it (which can overflow far off)."""
    if not SUPPORTED_YEARS[0] <= naive.year <= SUPPORTED_YEARS[1]:
        raise TimeOutOfRange(what)
    return naive


def from_unix(seconds: float, what: str = "a time") -> datetime:
    """Unix seconds as an aware UTC time; TimeOutOfRange (not OverflowError) for any number far off."""
    if not EARLIEST.timestamp() <= seconds < LATEST.timestamp():  # also false for NaN
        raise TimeOutOfRange(what)
    return datetime.fromtimestamp(seconds, tz=timezone.utc)


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def new_id() -> str:
    return uuid.uuid4().hex


# Ids a Memory made for itself here that no store has been given yet: no stored row can have one, so a write
# need not look for it (capture's, Ask's and the agents' new memories; importers give ids of their own). Kept
# by id, not per object, so a copy of a memory (which keeps the id) agrees with it. Forgetting entries only
# costs lookups, so the set is emptied when large (memories made and never written).
_UNWRITTEN: set[str] = set()
_UNWRITTEN_MAX = 100_000


@dataclass
class Memory:
    kind: str
    text: str
    fields: dict[str, Any] = field(default_factory=dict)
    id: str = ""                                          # a new one when not given
    time: datetime = field(default_factory=utcnow)      # when it happened (or was seen)
    ended: datetime | None = None                         # end of an episode
    created: datetime = field(default_factory=utcnow)
    updated: datetime = field(default_factory=utcnow)
    app: str = ""
    title: str = ""
    trust: Trust = Trust.USER
    source_kind: str = "user"                             # user / screen / chat / import / assistant / agent
    source_ids: list[str] = field(default_factory=list)  # frames or messages it came from
    tags: list[str] = field(default_factory=list)
    links: list[str] = field(default_factory=list)       # ids of related memories (consolidation links them)
    recalled: datetime | None = None                      # when an answer last used it (consolidation fades the unused)
    history: list[dict[str, str]] = field(default_factory=list)
    secret: str | None = None                             # vault only: the secret value
    text_pending: bool = False                            # a frame whose screen text is not read yet
    digested: datetime | None = None                      # when the memory agents took it in
    damaged: tuple[str, ...] = ()                         # columns that failed their integrity check

    def __post_init__(self) -> None:
        if not self.id:
            self.id = new_id()
            if len(_UNWRITTEN) >= _UNWRITTEN_MAX:
                _UNWRITTEN.clear()
            _UNWRITTEN.add(self.id)
        kind = KINDS.get(self.kind)
        if kind is None:
            raise ValueError(f"unknown memory type {self.kind!r}; one of: {', '.join(KINDS)}")
        unknown = set(self.fields) - set(kind.fields)
        if unknown:
            raise ValueError(f"{self.kind} has no field(s) {', '.join(sorted(unknown))}; "
                             f"it has: {', '.join(kind.fields) or 'none besides ' + kind.text_field}")
        if self.secret is not None and kind.secret is None:
            raise ValueError(f"only vault entries hold a secret value, not {self.kind}")
        for stamp in ("time", "created", "updated"):
            if getattr(self, stamp).tzinfo is None:
                raise ValueError(f"{stamp} must be timezone-aware")
        for stamp in ("time", "ended"):
            moment = getattr(self, stamp)
            if moment is not None:
                check_time(moment, f"'{stamp}' is")

    def index_text(self) -> str:
        """The words that keyword and meaning search see. Never includes a secret."""
        kind = KINDS[self.kind]
        parts = [self.text] + [_as_text(self.fields.get(name)) for name in kind.searchable]
        return "\n".join(p for p in parts if p)

    @property
    def frame_id(self) -> str | None:
        """The screen to show with it: itself for a frame, else the first frame it came from."""
        if self.kind == "frame":
            return self.id
        return next((ref.split(":", 1)[1] for ref in self.source_ids if ref.startswith("frame:")), None)

    @property
    def never_written(self) -> bool:
        """Made here with a new id that no store has been given yet (see _UNWRITTEN)."""
        return self.id in _UNWRITTEN

    def given_to_store(self) -> None:
        """From now on a stored row may have this memory's id."""
        _UNWRITTEN.discard(self.id)

    def source_refs(self) -> set[str]:
        """Every source this memory names: its own, and in core memory each fact's and suggestion's."""
        entries = [*(self.fields.get("facts") or []), *(self.fields.get("suggestions") or [])]
        return set(self.source_ids) | {str(e["source"]) for e in entries if isinstance(e, dict) and e.get("source")}

    def note(self, who: str, what: str) -> None:
        """Append to the memory's history (who: 'user' or an agent's name)."""
        self.history.append({"at": utcnow().isoformat(timespec="seconds"), "who": who, "what": what})


def _as_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, (list, tuple)):
        return "\n".join(_as_text(v) for v in value)
    return str(value)
