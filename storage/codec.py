"""Turning a `Memory` into a stored row and back.

The row layout is the privacy boundary of the whole product: only the columns
in `PLAINTEXT_COLUMNS` are readable on disk, and none of them can hold
captured words. Everything else is sealed per field by `FieldCipher`.
"""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from typing import Any

import numpy as np
import numpy.typing as npt

from storage.blind_index import BlindIndex, has_pairs, words
from storage.fields import FieldCipher, TamperedField
from storage.memory import EARLIEST, KINDS, LATEST, Memory, Trust, check_time
from storage.word_boxes import pack_boxes, unpack_boxes

TABLE = "memories"
SEALED_COLUMNS = ("text", "app", "title", "body", "secret")
# id, kind, timestamps, trust (a score), blind tokens and tags and the rotated vector.
PLAINTEXT_COLUMNS = ("id", "kind", "time_us", "end_us", "created_us", "updated_us", "text_ready_us", "digested_us", "trust",
                     "tokens", "app_tag", "vector", "source_tags")
# The clear columns that carry meaning, bound into every sealed field's associated data with the kind and
# id (schema 6): a trust raised, a time moved or an older row's sealed fields copied back (their updated_us
# differs) fail the check like a moved ciphertext. A read that opens a sealed field must select these, and
# anything that changes one must seal the row again (encode). Not bound: the work queues (text_ready_us,
# digested_us: set by table.update), blind tokens and vectors (derived from the text, rewritten by upgrades).
BOUND_COLUMNS = ("trust", "time_us", "end_us", "created_us", "updated_us")


# Separates a row's own blind tokens from its neighbours' (storage/neighbours.py). Not a word: no query
# can hold it.
_AROUND_MARK = "engram:around"

# The plaintext text columns compress: ids are hex, blind tokens base32 (5 bits a character). zstd
# makes them a sixth smaller than Lance's default encoding (a probe of real token rows); the sealed
# columns are ciphertext and the vectors noise to any compressor, so they are left as they are.
COMPRESSED_COLUMNS = ("id", "tokens")
_ZSTD = {"lance-encoding:compression": "zstd"}


def arrow_schema(dim: int) -> Any:
    import pyarrow as pa  # lazily: `engram --help` should not pay for it

    return pa.schema([
        pa.field("id", pa.string(), nullable=False, metadata=_ZSTD),
        pa.field("kind", pa.string(), nullable=False),
        pa.field("time_us", pa.int64(), nullable=False),
        pa.field("end_us", pa.int64()),
        pa.field("created_us", pa.int64(), nullable=False),
        pa.field("updated_us", pa.int64(), nullable=False),
        # Work queues as timestamps: null = the screen text is still to be read (OCR
        # backlog), null = the agents have not taken it in yet. Both survive restarts.
        pa.field("text_ready_us", pa.int64()),
        pa.field("digested_us", pa.int64()),
        pa.field("trust", pa.int8(), nullable=False),
        pa.field("tokens", pa.string(), nullable=False, metadata=_ZSTD),
        pa.field("app_tag", pa.string(), nullable=False),
        # float16: half the disk of float32 (768 of a text-only frame's ~4,000 bytes); cosine scores of
        # unit vectors move by under 0.001, far below the gaps that order results.
        pa.field("vector", pa.list_(pa.float16(), dim), nullable=False),
        pa.field("text", pa.binary(), nullable=False),
        pa.field("app", pa.binary(), nullable=False),
        pa.field("title", pa.binary(), nullable=False),
        pa.field("body", pa.binary(), nullable=False),
        pa.field("secret", pa.binary()),
        # Blind tags of what a memory was made from (its sources, a core fact's): forgetting a screen finds
        # the memories made from it by these instead of opening every memory written since (schema 10).
        # Someone holding the files sees which memories share a source, not which source it is. Not bound
        # into the sealed fields (BOUND_COLUMNS): tags cleared on disk would hide a memory from a forget.
        pa.field("source_tags", pa.list_(pa.string())),
    ])


def compression_metadata() -> dict[str, dict[str, str]]:
    return {column: dict(_ZSTD) for column in COMPRESSED_COLUMNS}


def to_us(moment: datetime) -> int:
    return int(moment.timestamp() * 1_000_000)


_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_EARLIEST_US, _LATEST_US = to_us(EARLIEST), to_us(LATEST) - 1


def from_us(micros: int) -> datetime:
    """Never fails: a stored time outside the supported years (written before they were checked, or edited
    on disk) reads as the nearest end of the range, so the row stays readable, searchable and deletable."""
    return _EPOCH + timedelta(microseconds=min(max(micros, _EARLIEST_US), _LATEST_US))


class RowCodec:
    def __init__(self, cipher: FieldCipher, index: BlindIndex, *, legacy: bool = False) -> None:
        """`legacy`: also open fields sealed before rows were bound (only while upgrading to schema 6)."""
        self.cipher = cipher
        self.index = index
        self.legacy = legacy

    def app_tag(self, app: str) -> str:
        """A blind tag of the app name, so results can be filtered by app without storing it."""
        normal = " ".join(words(app))
        return self.index.token("app:" + normal) if normal else ""

    def source_tag(self, ref: str) -> str:
        """A blind tag of a source reference ("frame:<id>", "episodic:<id>"); not a word token (no query
        makes one). Two references may share a tag (35 bits): a lookup by tags finds candidates to check."""
        return self.index.tag("source:" + ref)

    def source_tags(self, memory: Memory) -> list[str] | None:
        return sorted({self.source_tag(r) for r in memory.source_refs()}) or None

    def encode(self, memory: Memory, vector: npt.NDArray[np.float32], around: str = "") -> dict[str, Any]:
        """`around`: words indexed with the memory's own but not stored (a chat turn's neighbours)."""
        check_time(memory.time, "'time' is")  # checked when made, again here: a memory can be changed since
        if memory.ended is not None:
            check_time(memory.ended, "'ended' is")
        bound = {"trust": int(memory.trust), "time_us": to_us(memory.time),
                 "end_us": to_us(memory.ended) if memory.ended else None,
                 "created_us": to_us(memory.created), "updated_us": to_us(memory.updated)}
        seal = self._sealer(memory, bound_values(bound))
        fields = memory.fields
        if "boxes" in fields:
            fields = {**fields, "boxes": pack_boxes(fields["boxes"], memory.text)}
        body = {"fields": fields, "source_kind": memory.source_kind, "source_ids": memory.source_ids,
                "tags": memory.tags, "links": memory.links, "history": memory.history,
                "recalled": memory.recalled.isoformat() if memory.recalled else None}
        return {
            "id": memory.id, "kind": memory.kind, **bound,
            "text_ready_us": None if memory.text_pending else to_us(memory.updated),
            "digested_us": to_us(memory.digested) if memory.digested else None,
            # A screen repeats its menus and labels: a word shown five times is not five times as
            # relevant, and once each is 102 tokens a frame instead of 176 (the largest column).
            "tokens": self.tokens(memory, around),
            "app_tag": self.app_tag(memory.app),
            "vector": vector,
            "text": seal("text", memory.text), "app": seal("app", memory.app), "title": seal("title", memory.title),
            "body": seal("body", json.dumps(body, ensure_ascii=False, default=str)),
            "secret": seal("secret", memory.secret) if memory.secret is not None else None,
            "source_tags": self.source_tags(memory),
        }

    def tokens(self, memory: Memory, around: str = "") -> str:
        """The memory's blind tokens, then (after a mark) those of the words indexed with it."""
        own = self.index.tokens(memory.index_text(), repeats=memory.kind != "frame")
        if not around:
            return own
        return f"{own} {self.index.token(_AROUND_MARK)} {self.index.tokens(around)}"

    def own_tokens(self, tokens: str) -> str:
        """Of a row's tokens, the memory's own (not its neighbours')."""
        return self._split(tokens)[0]

    def around_tokens(self, tokens: str) -> str:
        """Of a row's tokens, those indexed with it ('' for a row indexed on its own words alone)."""
        return self._split(tokens)[1]

    def _split(self, tokens: str) -> tuple[str, str]:
        own, _, around = tokens.partition(f" {self.index.token(_AROUND_MARK)} ")
        return own, around

    def _sealer(self, memory: Memory, bound: str) -> Any:
        # The memory's kind is the "table" of the associated data, so a row whose
        # kind column is edited on disk no longer decrypts either.
        return lambda column, value: self.cipher.seal(memory.kind, memory.id, column, value, bound)

    def open_field(self, row: dict[str, Any], column: str, damaged: list[str]) -> str | None:
        sealed = row.get(column)
        if sealed is None:
            return None
        try:
            return self.cipher.open(row["kind"], row["id"], column, sealed, bound_values(row), legacy=self.legacy)
        except TamperedField:
            damaged.append(column)
            return None

    def rebound(self, row: dict[str, Any]) -> dict[str, Any] | None:
        """The row with every sealed field sealed again, bound to its clear columns (the upgrade to schema
        6); None when there is nothing to do. A field that does not open is left as it is (still reported)."""
        changed = {}
        for column in SEALED_COLUMNS:
            sealed = row.get(column)
            if sealed is None or self.cipher.is_bound(sealed):
                continue
            value = self.open_field(row, column, [])
            if value is not None:
                changed[column] = self.cipher.seal(row["kind"], row["id"], column, value, bound_values(row))
        return {**row, **changed} if changed else None

    def retokened(self, row: dict[str, Any]) -> dict[str, Any] | None:
        """The row with its own blind tokens and app tag as this version computes them from its text (the
        upgrade to schema 7, which indexes Chinese and Japanese as pairs of characters); None when they are
        the same or a sealed field does not open (it is reported, and its tokens are better than none).
        Words indexed with it (a chat turn's neighbours) are kept as they are."""
        memory = self.decode(row)
        if memory.damaged or not (has_pairs(memory.index_text()) or has_pairs(memory.app)):
            return None  # only rows holding Chinese or Japanese index differently now
        own = self.own_tokens(row["tokens"])
        changed = {"tokens": self.tokens(memory) + row["tokens"][len(own):], "app_tag": self.app_tag(memory.app)}
        return {**row, **changed} if any(row[k] != v for k, v in changed.items()) else None

    def decode_body(self, row: dict[str, Any]) -> dict[str, Any]:
        """Only the sealed JSON body (fields, provenance); {} if it fails its check. Word boxes stored
        by reference to the text come back only if the row holds the text column."""
        body = self.open_field(row, "body", [])
        return _unpacked(json.loads(body), self.open_field(row, "text", [])) if body else {}

    def decode(self, row: dict[str, Any]) -> Memory:
        """Rebuild a memory; columns that fail their integrity check come back empty and are listed in `damaged`."""
        damaged: list[str] = []
        text = self.open_field(row, "text", damaged) or ""
        body_json = self.open_field(row, "body", damaged) if "body" in row else None
        body = _unpacked(json.loads(body_json), text) if body_json else {}
        fields = {k: v for k, v in body.get("fields", {}).items() if k in KINDS[row["kind"]].fields}
        memory = Memory(
            kind=row["kind"], text=text, fields=fields, id=row["id"],
            time=from_us(row["time_us"]), ended=from_us(row["end_us"]) if row.get("end_us") is not None else None,
            created=from_us(row["created_us"]), updated=from_us(row["updated_us"]),
            app=(self.open_field(row, "app", damaged) or "") if "app" in row else "",
            title=(self.open_field(row, "title", damaged) or "") if "title" in row else "",
            trust=Trust(row["trust"]), text_pending=row.get("text_ready_us", 0) is None,
            digested=from_us(row["digested_us"]) if row.get("digested_us") is not None else None,
            source_kind=body.get("source_kind", ""), source_ids=body.get("source_ids", []),
            tags=body.get("tags", []), links=body.get("links", []), history=body.get("history", []),
            recalled=datetime.fromisoformat(body["recalled"]) if body.get("recalled") else None,
            secret=self.open_field(row, "secret", damaged) if "secret" in row else None,
        )
        memory.damaged = tuple(damaged)
        return memory


def bound_values(row: dict[str, Any]) -> str:
    """The row's BOUND_COLUMNS as the associated data holds them (a missing end is empty)."""
    return "|".join("" if row[c] is None else str(int(row[c])) for c in BOUND_COLUMNS)


def _unpacked(body: dict[str, Any], text: str | None) -> dict[str, Any]:
    fields = body.get("fields")
    if isinstance(fields, dict) and "boxes" in fields:
        stored = fields["boxes"]
        if text is None and isinstance(stored, dict) and "words" not in stored:
            body["fields"] = {k: v for k, v in fields.items() if k != "boxes"}  # their words are in the text
        else:
            body["fields"] = {**fields, "boxes": unpack_boxes(stored, text or "")}
    return body
