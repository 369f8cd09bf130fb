"""The encrypted memory store: one LanceDB table, every text field sealed.

Contract:
- One writer at a time (a file lock), each write one atomic LanceDB commit:
  a reader sees a whole batch or none of it, and a crash mid-write leaves only
  unreferenced files that the next maintenance removes.
- Deleting is physical, in two steps: `delete*` removes the rows from every read at once (search, get,
  timeline, keyword results) and their pictures from disk; the hourly upkeep (storage/upkeep.py) then
  rewrites the data files that still hold their ciphertext and drops old table versions. A deleted vault
  entry is erased from disk before `delete` returns.
- Every method needs the key vault unlocked, except `count` and `stats`.
"""
from __future__ import annotations

import functools
import json
import logging
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from storage import binding, lance_import, paths, upkeep
from storage.atomic import write_json_atomically
from storage.blind_index import BlindIndex
from storage.blobs import BlobStore
from storage.codec import BOUND_COLUMNS, TABLE, RowCodec, arrow_schema, compression_metadata, from_us, to_us
from storage.config import Config
from storage.embedding import Embedder
from storage.fields import FieldCipher
from storage.frame_pictures import GROUP_SPAN, RenderedPictures, rebase
from storage.keys import KeyNotForThisStore, KeyVault
from storage.lance_apart import apart, optimize
from storage.ledger import Check, RowLedger, Stamp
from storage.locking import DEFAULT_WAIT_SECONDS, WriterBusy, WriterLock
from storage.memory import EARLIEST, KINDS, LATEST, Memory, utcnow
from storage.neighbours import conversation_context
from storage.repair import damage_message, is_damage, short_error
from storage.rotation import VectorRotation
from storage.search import ASK_APP, HybridSearch, SearchOptions, SearchResult
from storage.split_letters import rejoined

log = logging.getLogger(__name__)

SCHEMA_VERSION = 10
_META_FILE = "engram-store.json"
# Fold new rows into the indexes once this many are not yet in one: a keyword search scans the rows no index
# holds, ~13 ms per 1,000 capture rows (on the year-of-use store at 15k screens, 3,981 such rows took a keyword
# search from 8 to 61 ms p50); folding them in took 0.2 s. It was 5,000.
_REFRESH_ROWS = 1_000
# Merge small data files once there are more than this many (each write makes one, and every
# lookup opens each one), into files of up to _FRAGMENT_ROWS rows; and an index's deltas once
# there are more than _MAX_INDEX_DELTAS (the hourly upkeep merges them long before, unless no app
# runs it: a large import through the command line).
_MAX_SMALL_FRAGMENTS = 16
_MERGE_EVERY = 16         # writes between two looks at the data files
_FRAGMENT_ROWS = 2_000
_MAX_INDEX_DELTAS = 8
# Versions the write path's merging leaves on disk. Every commit and every read that looks for the newest
# version lists them all: with the hour of versions kept before (~2,000 at capture's pace, 4,000 in a bulk
# import) a one-row write cost twice what it costs beside a hundred. A read that began on a version dropped
# meanwhile reads again from the newest (_again_if_replaced), as it must beside the hourly upkeep anyway.
_KEPT_VERSIONS = 100
_WRITTEN_KEPT = 2_000     # stamps of rows written lately kept in memory (MemoryStore._written)
# LanceDB keeps the metadata of every table version it has read (manifests, fragment and file metadata)
# and by default hardly ever lets it go: every write is a version, and capture's one-frame writes grew
# the app by ~37 KB a write (7.3 MB per 200 writes, measured), tens of MB an hour of use. Bounded here;
# a version not cached is read again from disk. The index cache (what search reads) is left as it is.
_METADATA_CACHE_BYTES = 32 << 20
# Filters on time, id, type and app get B-tree/bitmap indexes from this size on.
_SCALAR_INDEX_ROWS = 10_000
_ALL = 10**9


class StoreError(Exception):
    """A store problem the user can act on (the message says how)."""


# Older stores are upgraded by running these in order: version -> function(db_table).
# Each step must be safe to re-run (a crash between the step and the version bump re-runs it).
def _vectors_to_float16(table: Any) -> None:
    """1 -> 2: vectors stored as float16 (half the bytes of every row's largest column)."""
    import pyarrow as pa

    vector_type = table.schema.field("vector").type
    if pa.types.is_float16(vector_type.value_type):
        return  # already done (a crash came before the version bump)
    table.alter_columns({"path": "vector", "data_type": pa.list_(pa.float16(), vector_type.list_size)})


def _tokens_to_nine_characters(table: Any) -> None:
    """2 -> 3: blind tokens of 9 characters instead of 12 (a quarter of the largest column of a screen's
    row)."""
    _cut_tokens(table, 12, 9)


def _shorter_compressed_tokens(table: Any) -> None:
    """3 -> 4: blind tokens of 7 characters instead of 9, and ids and tokens written compressed from
    now on (rows already written are compressed when maintenance next merges their files)."""
    table.to_lance().update_field_metadata(compression_metadata())
    table.checkout_latest()
    _cut_tokens(table, 9, 7)


def _cut_tokens(table: Any, stored: int, wanted: int) -> None:
    """A token is a prefix of the HMAC's base32 form, so cutting a stored one gives exactly the token
    the new length computes; the keyword index is built again over the cut tokens. After a cut no run
    is `stored` characters long, so re-running a step changes nothing."""
    pattern = "([a-z2-7]{%d})[a-z2-7]{%d}" % (wanted, stored - wanted)
    table.update(values_sql={column: f"regexp_replace({column}, '{pattern}', '\\1', 'g')"
                             for column in ("tokens", "app_tag")})
    if any(index.columns == ["tokens"] for index in table.list_indices()):
        table.create_index("tokens", config=keyword_index_config(), replace=True)
    dataset = table.to_lance()
    dataset.cleanup_old_versions(older_than=timedelta(0), delete_unverified=True)


def needs_upgrade(home: Path | None = None) -> bool:
    """Whether opening the store will first upgrade it to this version's layout (read without the key,
    so the unlock dialog can say why it takes longer: ~6 s per 100,000 rows for schema 4, ~1 min for schema 6,
    which seals every field again)."""
    meta_path = ((home / "store") if home else paths.store_dir()) / _META_FILE
    try:
        return int(json.loads(meta_path.read_text(encoding="utf-8"))["schema_version"]) < SCHEMA_VERSION
    except (OSError, ValueError, KeyError, TypeError):
        return False


def _times_into_supported_years(table: Any) -> None:
    """4 -> 5: a time outside the supported years (an import before they were checked could store year 0
    or 10000) is moved to the nearest end of the range, where it already reads (codec.from_us), so a time
    range that shows the row also finds it. Re-running finds nothing left to move."""
    lowest, highest = to_us(EARLIEST), to_us(LATEST) - 1
    for column in ("time_us", "end_us"):
        for where, value in ((f"{column} < {lowest}", lowest), (f"{column} > {highest}", highest)):
            if table.count_rows(where):
                table.update(where=where, values={column: value})


def _bind_clear_columns(table: Any, codec: RowCodec) -> None:
    """5 -> 6: every sealed field sealed again with the row's meaningful clear columns in its associated data
    (storage/codec.py, BOUND_COLUMNS), so editing them on disk is reported. A batch of rows is one commit; a
    re-run skips what is bound already. Then the unbound ciphertexts are dropped from disk."""
    import pyarrow as pa

    ids = table.search().select(["id"]).limit(None).to_arrow().column("id").to_pylist()
    for start in range(0, len(ids), _BIND_BATCH):
        rows = table.search().where(_ids_in(ids[start:start + _BIND_BATCH])).limit(None).to_arrow().to_pylist()
        newest = {r["id"]: r for r in sorted(rows, key=lambda r: r["updated_us"])}  # a twin id: its newest row
        rebound = [r for r in map(codec.rebound, newest.values()) if r is not None]
        if rebound:
            batch = pa.Table.from_pylist(rebound, schema=table.schema)
            table.merge_insert("id").when_matched_update_all().execute(batch)
    dataset = table.to_lance()
    dataset.optimize.compact_files(materialize_deletions=True, materialize_deletions_threshold=0.0)
    dataset.cleanup_old_versions(older_than=timedelta(0), delete_unverified=True)
    table.checkout_latest()


def _pair_chinese_and_japanese(table: Any, codec: RowCodec) -> None:
    """6 -> 7: rows holding Chinese or Japanese get their blind tokens and app tag as pairs of characters
    (storage/blind_index.py), so a word inside a run written without spaces is found. Every row is read
    (only its sealed text says whether it holds such script); a re-run finds nothing left to change. The
    keyword index is built again, and the old tokens dropped with their versions."""
    _rewrite_rows(table, None, codec.retokened)


def _rewrite_rows(table: Any, where: str | None, rewritten: Callable[[dict[str, Any]], dict[str, Any] | None],
                  words: bool = True) -> None:
    """An upgrade step that changes some rows: every row matching `where` (all without it) read in batches,
    each one `rewritten` returns written back in its batch's commit; then, if any changed, the keyword
    index built again (when the step changes `words`) and the old versions (the old words) dropped."""
    import pyarrow as pa

    query = table.search() if where is None else table.search().where(where)
    ids = query.select(["id"]).limit(None).to_arrow().column("id").to_pylist()
    changed = 0
    for start in range(0, len(ids), _BIND_BATCH):
        rows = table.search().where(_ids_in(ids[start:start + _BIND_BATCH])).limit(None).to_arrow().to_pylist()
        # A store from before one id was one row may hold twins: Lance refuses a merge that gives two rows
        # for one id, so the newest is written (it replaces both).
        newest = {r["id"]: r for r in sorted(rows, key=lambda r: r["updated_us"])}
        new = [r for r in map(rewritten, newest.values()) if r is not None]
        if new:
            table.merge_insert("id").when_matched_update_all().execute(pa.Table.from_pylist(new, schema=table.schema))
            changed += len(new)
    if changed:
        log.info("upgrade: %d rows rewritten", changed)
        if words and any(index.columns == ["tokens"] for index in table.list_indices()):
            table.create_index("tokens", config=keyword_index_config(), replace=True)
        table.to_lance().cleanup_old_versions(older_than=timedelta(0), delete_unverified=True)
        table.checkout_latest()


def _start_row_ledger(table: Any) -> None:
    """7 -> 8: nothing in the table changes; the store starts its row ledger (storage/ledger.py) once the
    table is open (MemoryStore._open_ledger). Later upgrades must keep each row's kind, id and updated_us
    as they are, or start the ledger again."""


def _join_split_letters(table: Any, codec: RowCodec) -> None:
    """8 -> 9: screens read before the OCR worker kept Latin words whole on lines holding Chinese or
    Japanese ("M o z i l l a" stored for "Mozilla") get those words joined again, by their word boxes
    (storage/split_letters.py): text, boxes and blind tokens. Each row keeps its kind, id and times, so
    the row ledger stays as it is; its vector is kept too (no embedder here; the keyword search finds the
    words again). A re-run finds nothing left to change. The old text goes with the old versions."""
    _rewrite_rows(table, "kind = 'frame'", lambda row: _letters_joined(row, codec))


def _letters_joined(row: dict[str, Any], codec: RowCodec) -> dict[str, Any] | None:
    memory = codec.decode(row)
    boxes = memory.fields.get("boxes")
    if memory.damaged or not isinstance(boxes, list):
        return None
    repaired = rejoined(memory.text, boxes)
    if repaired is None:
        return None
    memory.text, memory.fields["boxes"] = repaired
    kept = {k: row[k] for k in ("vector", "text_ready_us", "digested_us")}
    return {**codec.encode(memory, row["vector"]), **kept}


def _tag_sources(table: Any, codec: RowCodec) -> None:
    """9 -> 10: the source_tags column (storage/codec.py), filled for every row that names sources: the
    agents' memories and Engram's answers in Ask (screens and imported chat name none). Kind, id and
    times are kept (the row ledger stays as it is). A re-run finds nothing left to change."""
    import pyarrow as pa

    if "source_tags" not in table.schema.names:
        table.add_columns(pa.field("source_tags", pa.list_(pa.string())))
    named = f"kind NOT IN ('frame', 'message') OR app_tag = '{codec.app_tag(ASK_APP)}'"
    _rewrite_rows(table, named, lambda row: _sources_tagged(row, codec), words=False)


def _sources_tagged(row: dict[str, Any], codec: RowCodec) -> dict[str, Any] | None:
    memory = codec.decode(row)
    tags = None if "body" in memory.damaged else codec.source_tags(memory)  # the sources are in the body
    return {**row, "source_tags": tags} if tags and tags != row.get("source_tags") else None


_BIND_BATCH = 2_000
# Steps that open sealed fields get the key's codec as well (one that still opens unbound fields).
_KEYED_STEPS = frozenset({5, 6, 8, 9})

MIGRATIONS: dict[int, Any] = {1: _vectors_to_float16, 2: _tokens_to_nine_characters, 3: _shorter_compressed_tokens,
                              4: _times_into_supported_years, 5: _bind_clear_columns, 6: _pair_chinese_and_japanese,
                              7: _start_row_ledger, 8: _join_split_letters, 9: _tag_sources}


@dataclass(frozen=True)
class Stats:
    rows: int
    by_kind: dict[str, int]
    bytes_on_disk: int
    versions: int
    indexes: list[str]


_Read = TypeVar("_Read", bound=Callable[..., Any])


def _again_if_replaced(read: _Read) -> _Read:
    """A read that began on a table version whose files the upkeep replaced meanwhile (it merges files, then
    drops the old versions and their files at once, so that forgotten text leaves the disk) fails as if a
    file were damaged: it is read once more, from the newest version. A file that is really damaged fails
    again and is said as before."""
    @functools.wraps(read)
    def reading(*args: Any, **kwargs: Any) -> Any:
        try:
            return read(*args, **kwargs)
        except BaseException as exc:  # noqa: B036 - a Rust panic on a damaged file is no Exception
            if not is_damage(exc):
                raise
            log.info("a read met a file the upkeep had just replaced, or a damaged one (%s): reading once more",
                     short_error(exc))
        return read(*args, **kwargs)
    return reading  # type: ignore[return-value]


class MemoryStore:
    def __init__(self, root: Path, vault: KeyVault, embedder: Embedder, embedder_name: str,
                 vector_index_min_rows: int = 50_000, writer_wait_seconds: float = DEFAULT_WAIT_SECONDS) -> None:
        lance_import.load()  # here: it takes ~1 s, and `engram --help` should not wait for it
        import lancedb

        _raise_open_file_limit()
        # The store's files are the user's alone: new ones by the umask (LanceDB sets no modes of its
        # own), and those an earlier version left readable to others are tightened now.
        paths.keep_private()
        paths.make_private(root.parent)
        self.root = root
        self.vault = vault
        self.vector_index_min_rows = vector_index_min_rows
        self._vector_index_at, self._vector_indexed = -1, False
        self.embedder = embedder
        self._lock = WriterLock(root / ".writer.lock", writer_wait_seconds)
        self._ledger_lost = False
        self._check_meta(embedder, embedder_name)
        # Consistency interval 0: every read sees the latest commit, also one made
        # by another process (the CLI while the tray app runs). A session of its own, so Lock lets
        # its caches go with the store, and a bound on the metadata cache (see _METADATA_CACHE_BYTES).
        self.session = lancedb.Session(metadata_cache_size_bytes=_METADATA_CACHE_BYTES)
        self._db = lancedb.connect(str(root), read_consistency_interval=timedelta(0), session=self.session)
        try:
            self.table = self._db.open_table(TABLE)  # no lock: readers never wait for a writer
        except BaseException as exc:  # noqa: B036 - a Rust panic on a damaged file is no Exception
            if is_damage(exc):  # said in one line, with the way out (the desktop shows it as it is)
                raise StoreError(damage_message(exc)) from None
            if not isinstance(exc, ValueError):
                raise
            with self._lock.held():  # a new store: no table yet
                try:
                    self.table = self._db.open_table(TABLE)  # another process made it meanwhile
                except ValueError:
                    self.table = self._db.create_table(TABLE, schema=arrow_schema(embedder.dim))
        keys = vault.keys
        self.blobs = BlobStore(root.parent / "blobs", keys.blobs)
        self._writes = 0
        self._tokens_indexed = False
        # The stamps of the rows this process wrote lately, and the table version its last write made. Capture
        # writes a screen, then writes it again once its text is read, and the second write needs the first's
        # stamp: a lookup was a quarter of that write. They stand for what is stored only while the table is
        # still at that version (a delete, a merge, another process's write: looked up again).
        self._written: dict[str, Stamp] = {}
        self._written_at = -1
        self.rendered = RenderedPictures()  # frame pictures built from chains of patches, for reading in order
        self.codec = RowCodec(FieldCipher(keys.content), BlindIndex(keys.index))
        self.rotation = VectorRotation(keys.rotation, embedder.dim)
        self.ledger = self._open_ledger()

    # -- opening ------------------------------------------------------------------

    @classmethod
    def create(cls, passphrase: str, *, home: Path | None = None, embedder: Embedder | None = None,
               embedder_name: str | None = None, kdf_seconds: float = 1.0) -> tuple["MemoryStore", str]:
        """A new, empty store; returns it and the recovery key to show the user once."""
        key_file = (home / "keys.json") if home else paths.key_file()
        vault, recovery_key = KeyVault.create(key_file, passphrase, target_seconds=kdf_seconds)
        return cls._with(vault, home, embedder, embedder_name), recovery_key

    @classmethod
    def open(cls, passphrase: str, *, home: Path | None = None, embedder: Embedder | None = None,
             embedder_name: str | None = None) -> "MemoryStore":
        vault = KeyVault.load((home / "keys.json") if home else paths.key_file())
        vault.unlock_with_either(passphrase)   # the recovery key opens it too (vault.opened_with says which)
        return cls._with(vault, home, embedder, embedder_name)

    @classmethod
    def _with(cls, vault: KeyVault, home: Path | None, embedder: Embedder | None,
              embedder_name: str | None) -> "MemoryStore":
        if embedder is None:
            from storage.minilm import MiniLMEmbedder
            embedder, embedder_name = MiniLMEmbedder(), "all-MiniLM-L6-v2"
        root = paths.ensure((home / "store") if home else paths.store_dir())
        settings = Config.load((home / "config.toml") if home else None)
        return cls(root, vault, embedder, embedder_name or type(embedder).__name__,
                   vector_index_min_rows=settings.get("search.vector_index_min_rows"),
                   writer_wait_seconds=settings.get("store.writer_wait_seconds"))

    def _check_meta(self, embedder: Embedder, embedder_name: str) -> None:
        meta_path = self.root / _META_FILE
        if not meta_path.exists():
            self._bind(meta_path, {"schema_version": SCHEMA_VERSION, "embedder": embedder_name, "dim": embedder.dim},
                       SCHEMA_VERSION)
            return
        meta = _read_meta(meta_path)
        version = int(meta["schema_version"])
        if version > SCHEMA_VERSION:
            raise StoreError(f"this store was written by a newer Engram (schema {version}, this version "
                             f"reads up to {SCHEMA_VERSION}); update Engram to open it. Nothing was changed.")
        if meta.get("embedder") != embedder_name or meta.get("dim") != embedder.dim:
            raise StoreError(f"this store's vectors come from {meta.get('embedder')} ({meta.get('dim')} dims), "
                             f"not {embedder_name} ({embedder.dim}); re-index it to switch models")
        meta = self._bind(meta_path, meta, version)  # before an upgrade writes anything with this key
        if version < SCHEMA_VERSION:
            self._migrate(meta_path, meta, version)

    def _bind(self, meta_path: Path, meta: dict[str, Any], version: int) -> dict[str, Any]:
        """Refuse a key file that is not this store's (storage/binding.py); bind an older store and key
        file to each other on their first opening. Returns the meta as it now is."""
        if binding.is_bound(meta):
            if self.vault.store_id is None:
                with self._lock.held():  # binding an older key file of this store writes it
                    binding.check(meta, self.vault)
            else:
                binding.check(meta, self.vault)
            return meta
        with self._lock.held():
            if meta_path.exists():  # another process may have bound it meanwhile
                stored = json.loads(meta_path.read_text(encoding="utf-8"))
                if binding.is_bound(stored):
                    binding.check(stored, self.vault)
                    return {**meta, **{k: stored[k] for k in ("store_id", "key_check", "ledger") if k in stored}}
            keys = self.vault.keys
            codec = RowCodec(FieldCipher(keys.content), BlindIndex(keys.index), legacy=version < SCHEMA_VERSION)
            if binding.key_opens(self._sample_rows(), codec) is False:
                raise KeyNotForThisStore()
            # A key file is bound only after its store (below), so a bound key file beside an existing
            # unbound meta means the meta was edited or put back: its row ledger starts again, said.
            self._ledger_lost = self.vault.store_id is not None and meta_path.exists()
            bound = {**{k: v for k, v in meta.items() if k != "ledger"}, **binding.stamp(self.vault)}
            # The store first, then the key file: a crash between leaves a store whose check value this
            # key still passes, and the key file is bound on the next opening.
            _write_meta(meta_path, bound)
            self.vault.bind(bound["store_id"])
            return bound

    def _open_ledger(self) -> RowLedger:
        """This store's row ledger, started on a store's first opening by this version (whose rows are
        taken as they are). One deleted or damaged since is started again by the ledger itself at the next
        write or check, with a finding that stays until the user accepts it."""
        meta_path = self.root / _META_FILE
        meta = _read_meta(meta_path)
        ledger = RowLedger(self.root, self.vault.keys.content, str(meta["store_id"]))
        if meta.get("ledger") is True:
            if not ledger.counts_agree(self.table.count_rows()):
                self._check_at_open(ledger)
            return ledger
        with self._lock.held():
            meta = _read_meta(meta_path)  # another process may have started it meanwhile
            if meta.get("ledger") is not True:
                ledger.start(self._stamps(), lost=self._ledger_lost)
                store_id = str(meta["store_id"])
                _write_meta(meta_path, {**meta, "ledger": True,
                                        "key_check": binding.key_check(self.vault, store_id, ledger=True)})
        return ledger

    def _check_at_open(self, ledger: RowLedger) -> None:
        """Rows gone or added since Engram last wrote (a newest version file deleted takes the last write
        with it, silently): the whole check now, so the tray and the doctor say so from the start instead
        of after the hourly one. Left to that one when another process holds the writer lock."""
        try:
            with self._lock.held(wait_seconds=0):
                ledger.check(self._stamps())
        except WriterBusy:
            log.info("row count differs from the ledger; the check is left to the hourly upkeep (store busy)")

    def _sample_rows(self) -> list[dict[str, Any]]:
        import lancedb  # loaded when the store was made

        try:
            table = lancedb.connect(str(self.root)).open_table(TABLE)
        except ValueError:  # no table yet
            return []
        rows: list[dict[str, Any]] = table.search().limit(binding.SAMPLE_ROWS).to_arrow().to_pylist()
        return rows

    def _migrate(self, meta_path: Path, meta: dict[str, Any], version: int) -> None:
        import lancedb

        table = lancedb.connect(str(self.root)).open_table(TABLE)
        keys = self.vault.keys
        legacy = RowCodec(FieldCipher(keys.content), BlindIndex(keys.index), legacy=True)
        with self._lock.held():
            for step in range(version, SCHEMA_VERSION):
                log.info("upgrading store schema %d -> %d", step, step + 1)
                if step in _KEYED_STEPS:
                    MIGRATIONS[step](table, legacy)
                else:
                    MIGRATIONS[step](table)
                _write_meta(meta_path, {**meta, "schema_version": step + 1})

    # -- writing ------------------------------------------------------------------

    def add(self, memories: Sequence[Memory]) -> list[str]:
        """Store a batch atomically; returns their ids.

        One id is one row: an id already stored, or given twice, is replaced by the last one given
        (a replayed batch, an import that changes a vault entry), never stored beside it."""
        if not memories:
            return []
        unique = _one_per_id(memories)
        rows = self._encode(unique)
        with self._lock.held():
            self._write_rows(rows, self._stored_stamps(unique))
            self._refresh_indexes(len(rows))
        return [m.id for m in unique]

    def update(self, memory: Memory, *, who: str = "user", what: str = "edited") -> None:
        """Replace a stored memory (same id) atomically, noting the change in its history."""
        with self._lock.held():
            if self.get(memory.id) is None:
                raise StoreError(f"no memory with id {memory.id}")
            memory.updated = utcnow()
            memory.note(who, what)
            self._write_rows(self._encode([memory]))
            self._refresh_indexes()  # each update leaves a small file behind; merge them now and then

    def save(self, memories: Sequence[Memory], replace_only: Iterable[str] = (),
             vectors_from: dict[str, str] | None = None) -> list[str]:
        """Insert new memories and replace changed ones (by id) in one atomic commit.

        The agents write a whole batch's decisions this way: a crash leaves all of
        them or none, and replaying a batch rewrites the same ids instead of adding twice.
        Ids in `replace_only` are written only if still stored: what the user deleted
        meanwhile (forget, retention) is not brought back. Returns the ids written.
        History notes are the caller's (each decision records its own reason).
        `vectors_from` maps a memory's id to a stored memory whose vector it takes instead of being
        embedded (a screen whose words differ from the one before only in a clock's digits); when
        that one is gone, it is embedded."""
        with self._lock.held():
            # One lookup serves both the guard and the ledger (the OCR worker saves every screen this way).
            stored = self._stored_stamps(memories)
            gone = set(replace_only) - {row_id for _, row_id, _ in stored}
            memories = _one_per_id([m for m in memories if m.id not in gone])
            if memories:
                self._write_rows(self._encode(memories, self._stored_vectors(vectors_from or {})), stored)
                self._refresh_indexes(len(memories))
        return [m.id for m in memories]

    def _stored_stamps(self, memories: Sequence[Memory]) -> list[Stamp]:
        """The stamps of the rows stored under these memories' ids (only those that were ever written are
        looked up); from here on, each of them may be stored."""
        ids = list(dict.fromkeys(m.id for m in memories if not m.never_written))
        if ids and all(i in self._written for i in ids) and self.table.version == self._written_at:
            found = [self._written[i] for i in ids]
        else:
            if ids:
                # Not at that version: kept stamps could come to look valid again only by chance (a repair
                # moves the newest versions aside, and later commits take their numbers).
                self._written.clear()
            found = self._stamps_of(ids)
        for memory in memories:
            memory.given_to_store()
        return found

    def _write_rows(self, rows: list[dict[str, Any]], stored: list[Stamp] | None = None) -> None:
        """Commit these rows, each replacing the stored row of its id if there is one, and note them in the
        row ledger. Under the writer lock. `stored`: the stamps of these ids as just read, if the caller has them."""
        replaced = self._stamps_of([r["id"] for r in rows]) if stored is None else stored
        written = [(r["kind"], r["id"], r["updated_us"]) for r in rows]
        with self.ledger.change(written, replaced, self._stamps):
            if replaced:
                version = (self.table.merge_insert("id").when_matched_update_all().when_not_matched_insert_all()
                           .execute(rows).version)
            else:
                version = self.table.add(rows).version  # the common case (capture, new messages): a plain append
        self._note_written(written, version)

    def _note_written(self, written: list[Stamp], version: int) -> None:
        """Keep these stamps as the stored ones at `version`; those kept before only if nothing was committed
        between the two writes."""
        if version - 1 != self._written_at or len(self._written) > _WRITTEN_KEPT:
            self._written.clear()
        self._written.update((stamp[1], stamp) for stamp in written)
        self._written_at = version

    def repoint_sources(self, moved: dict[str, str], since: datetime) -> int:
        """Memories made (on or after `since`) from frames in `moved` name the frame each was merged
        into instead, so "Sources" still finds the screen. Returns how many memories changed."""
        if not moved:
            return 0
        refs = {f"frame:{old}": f"frame:{new}" for old, new in moved.items()}
        rows = (self.table.search().where(f"kind NOT IN ('frame', 'message') AND created_us >= {to_us(since)}")
                .limit(None).to_arrow().to_pylist())
        changed = []
        for memory in map(self.codec.decode, rows):
            sources = list(dict.fromkeys(refs.get(ref, ref) for ref in memory.source_ids))
            if sources != memory.source_ids:
                memory.source_ids = sources
                changed.append(memory)
        self.save(changed, replace_only=[m.id for m in changed])
        return len(changed)

    def delete(self, ids: Iterable[str]) -> int:
        """Delete memories for good (see the module contract). Returns how many were removed."""
        id_list = [i for i in ids if _is_id(i)]
        if not id_list:
            return 0
        return self._delete_where(_ids_in(id_list))

    def delete_range(self, since: datetime, until: datetime, kinds: Sequence[str] | None = None) -> int:
        """Forget everything that happened in [since, until), optionally only some kinds."""
        where = _time_filter(since, until)
        if kinds:
            where += f" AND {_kind_filter(kinds)}"
        return self._delete_where(where)

    def _delete_where(self, where: str) -> int:
        """Rows gone from every read now; their ciphertext at the next upkeep, a vault entry's right away."""
        with self._lock.held():
            secret = self.table.count_rows(f"({where}) AND kind = 'vault'") > 0
            doomed = self._frame_fields(f"({where}) AND kind = 'frame'")
            blob_ids = [f[k] for _, _, f in doomed for k in ("image_id", "thumb_id") if f.get(k)]
            blob_ids += self._rebase_dependents(where, doomed)
            self.rendered.clear()  # no built picture of a forgotten screen stays in memory
            turns = self._turn_tokens(f"({where}) AND kind = 'message'")
            doomed_rows = self._stamps(where)
            with self.ledger.change([], doomed_rows, self._stamps):
                self.table.delete(where)
            removed = len(doomed_rows)
            if removed:
                self._index_alone(turns)
            # After the rows: a crash in between leaves unreferenced images, which
            # sweep_orphan_blobs() removes, never rows pointing at missing images.
            self.blobs.delete(blob_ids)
        if removed and secret:
            # Not under the writer lock: the erase waits for a running upkeep, which takes the writer lock.
            upkeep.erase_now(self)
        return removed

    @property
    def writer_wait_seconds(self) -> float:
        return self._lock.wait_seconds

    def indexed_alone(self, ids: Sequence[str]) -> list[Memory]:
        """Of these chat turns, the digested ones stored before turns were indexed with their neighbours
        (storage/neighbours.py) or without any: importing their chat again writes them beside them."""
        found: list[Memory] = []
        ids = [i for i in ids if _is_id(i)]
        for start in range(0, len(ids), 500):
            where = f"kind = 'message' AND {_ids_in(ids[start:start + 500])}"
            rows = self.table.search().where(where).limit(None).to_arrow().to_pylist()
            found += [self.codec.decode(r) for r in rows if r["tokens"] and not self.codec.around_tokens(r["tokens"])
                      # Digested only: a turn a version before masking stored is masked when digested, and its
                      # words must not reach a neighbour's index before that.
                      and r["digested_us"] is not None]
        return found

    def _turn_tokens(self, where: str) -> list[list[str]]:
        """The own blind tokens of the chat turns matching `where` that were indexed with neighbours."""
        rows = self.table.search().where(where).select(["tokens"]).limit(None).to_arrow().column("tokens").to_pylist()
        return [self.codec.own_tokens(t).split() for t in rows if t and self.codec.around_tokens(t)]

    def _index_alone(self, turns: list[list[str]]) -> None:
        """Forgotten chat turns leave no trace in their neighbours: a turn whose neighbour words held a
        forgotten turn's words is indexed again on its own words alone (storage/neighbours.py)."""
        affected: set[str] = set()
        for own in turns:
            wanted, distinct = Counter(own), set(own)
            # The neighbours hold every word of the turn; 500 leaves room for the turns that say them. Only
            # ids and tokens are read (a day forgotten is hundreds of these queries), whole rows at the end.
            query = self.table.search(" ".join(wanted), query_type="fts", fts_columns="tokens") \
                .where("kind = 'message'", prefilter=True).select(["id", "tokens", "_score"]).limit(500)
            found = query.to_arrow()
            for row_id, tokens in zip(found.column("id").to_pylist(), found.column("tokens").to_pylist()):
                around = self.codec.around_tokens(tokens).split()
                if row_id not in affected and distinct.issubset(around) and not wanted - Counter(around):
                    affected.add(row_id)
        if not affected:
            return
        memories = self._fetch_in_order(sorted(affected))
        vectors = self.rotation.apply(self.embedder.embed([m.index_text() for m in memories]))
        self._write_rows([self.codec.encode(m, vectors[i]) for i, m in enumerate(memories)])

    def _frame_fields(self, where: str) -> list[tuple[str, int, dict[str, Any]]]:
        """(id, time_us, fields) of the frames matching `where`."""
        rows = (self.table.search().where(where).select(["id", "kind", *BOUND_COLUMNS, "body"]).limit(None)
                .to_arrow().to_pylist())
        return [(row["id"], row["time_us"], self.codec.decode_body(row).get("fields", {})) for row in rows]

    def _blob_ids(self, where: str) -> list[str]:
        return [f[k] for _, _, f in self._frame_fields(where) for k in ("image_id", "thumb_id") if f.get(k)]

    def release_pictures(self, frame_ids: Sequence[str]) -> list[str]:
        """These frames are about to lose their pictures (text only): frames stored as patches over
        them are rebased first. Returns the files no longer needed (the caller deletes them)."""
        ids = [i for i in frame_ids if _is_id(i)]
        if not ids:
            return []
        where = _ids_in(ids)
        with self._lock.held():
            old_files = self._rebase_dependents(where, self._frame_fields(f"({where}) AND kind = 'frame'"))
            self.rendered.clear()  # no built picture of these screens stays in memory
            return old_files

    def _rebase_dependents(self, where: str, doomed: list[tuple[str, int, dict[str, Any]]]) -> list[str]:
        """Frames outside `where` stored as patches over a frame among `doomed` are stored over one
        that stays, or made whole (frame_pictures.rebase; the frames stored over a frame lie within
        GROUP_SPAN after it). Returns the files no longer needed."""
        bases = {i: t for i, t, f in doomed if f.get("image_id")}
        if not bases:
            return []
        span = int(GROUP_SPAN.total_seconds() * 1_000_000)
        windows: list[list[int]] = []
        for start in sorted(bases.values()):
            if windows and start <= windows[-1][1]:
                windows[-1][1] = start + span
            else:
                windows.append([start, start + span])
        dependents = []
        for lo, hi in windows:
            rows = (self.table.search().where(f"kind = 'frame' AND time_us > {lo} AND time_us <= {hi} AND NOT ({where})")
                    .limit(None).to_arrow().to_pylist())
            dependents += [m for m in (self.codec.decode(r) for r in rows) if m.fields.get("key") in bases]
        changed, old_files = rebase(self, dependents, set(bases))
        if changed:
            self.save(changed)
        return old_files

    def sweep_orphan_blobs(self) -> int:
        """Remove image files no frame refers to (left by a crash between a delete's two steps)."""
        with self._lock.held():
            return self.blobs.delete(self.blobs.ids() - set(self._blob_ids("kind = 'frame'")))

    def purge(self, reindex_words: bool = False) -> None:
        """Rewrite data files that still hold deleted rows, then drop every old version.

        LanceDB's own optimize() only rewrites a file once 10% of it is deleted,
        which would leave a forgotten secret on disk indefinitely, so compaction
        goes through the lance dataset with the threshold at zero. Dropping all
        old versions is safe here because we hold the only writer lock (and the upkeep
        lock: no rewrite is in flight). It rewrites every data file and remaps every index
        (seconds to minutes on a large store): deletes leave this to storage/upkeep.py.
        `reindex_words`: also build the keyword index again, whose word list keeps
        the blind tokens of every row it ever took in (after masking a stored secret;
        it costs a pass over the table).
        """
        with upkeep.upkeep_lock(self.root, self._lock.wait_seconds), self._lock.held():
            if reindex_words and any(i.columns == ["tokens"] for i in self.table.list_indices()):
                self.table.create_index("tokens", config=keyword_index_config(), replace=True)
            optimize(self.table, self.has_vector_index(), "compact_files", materialize_deletions=True,
                     materialize_deletions_threshold=0.0)
            self.table.to_lance().cleanup_old_versions(older_than=timedelta(0), delete_unverified=True)
            self.table.checkout_latest()  # type: ignore[no-untyped-call]

    def _encode(self, memories: Sequence[Memory], known: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        """`known`: stored (rotated) vectors by memory id, taken as they are instead of embedding."""
        context = conversation_context(memories)
        known = {i: v for i, v in (known or {}).items() if i not in context}
        kept = self._kept_index([m for m in memories if m.kind == "message" and m.id not in context])
        todo = [i for i, m in enumerate(memories) if m.id not in known]
        with_passage = [i for i, m in enumerate(memories) if m.id in context]
        # One call, so an import's progress (agents/importers/progress.py) sees the whole job.
        texts = [memories[i].index_text() for i in todo] + [context[memories[i].id].passage for i in with_passage]
        embedded = self.embedder.embed(texts) if texts else np.zeros((0, self.embedder.dim), np.float32)
        vectors = np.zeros((len(memories), self.embedder.dim), np.float32)
        vectors[todo] = embedded[:len(todo)]
        if with_passage:
            mixed = vectors[with_passage] + embedded[len(todo):]
            vectors[with_passage] = mixed / np.maximum(np.linalg.norm(mixed, axis=1, keepdims=True), 1e-12)
        vectors = self.rotation.apply(vectors)
        rows = []
        for i, m in enumerate(memories):
            row = self.codec.encode(m, known.get(m.id, vectors[i]), context[m.id].words if m.id in context else "")
            rows.append({**row, **kept[m.id]} if m.id in kept else row)
        return rows

    def _stored_vectors(self, sources: dict[str, str]) -> dict[str, Any]:
        """For each memory id in `sources`, the stored vector of the memory it names, if still stored."""
        ids = sorted({i for i in sources.values() if _is_id(i)})
        if not ids:
            return {}
        rows = self.table.search().where(_ids_in(ids)).select(["id", "vector"])
        found = {row["id"]: row["vector"] for row in rows.limit(None).to_arrow().to_pylist()}
        return {memory_id: found[source] for memory_id, source in sources.items() if source in found}

    def _kept_index(self, messages: Sequence[Memory]) -> dict[str, dict[str, Any]]:
        """The stored tokens and vector of messages saved again with the same words (Ask noting that it
        used one, say): they were indexed with their conversation's neighbours (storage/neighbours.py),
        which a message saved on its own no longer has."""
        ids = [m.id for m in messages if _is_id(m.id) and not m.never_written]
        if not ids:
            return {}
        stored = {row["id"]: row for row in self.table.search().where(_ids_in(ids))
                  .limit(None).to_arrow().to_pylist()}
        kept = {}
        for m in messages:
            row = stored.get(m.id)
            if row is not None and self.codec.decode(row).index_text() == m.index_text():
                kept[m.id] = {"tokens": row["tokens"], "vector": row["vector"]}
        return kept

    # -- reading ------------------------------------------------------------------

    @_again_if_replaced
    def get(self, memory_id: str) -> Memory | None:
        if not _is_id(memory_id):
            return None
        rows = self.table.search().where(f"id = '{memory_id}'").limit(1).to_arrow().to_pylist()
        return self.codec.decode(rows[0]) if rows else None

    @_again_if_replaced
    def get_many(self, ids: Iterable[str]) -> list[Memory]:
        """The stored ones of these memories, in the order given, in one read."""
        return self._fetch_in_order([i for i in dict.fromkeys(ids) if _is_id(i)])

    @_again_if_replaced
    def list_range(self, since: datetime | None = None, until: datetime | None = None,
                   kinds: Sequence[str] | None = None, limit: int = 1000, where: str | None = None,
                   newest_first: bool = False) -> list[Memory]:
        """Memories that happened in [since, until), oldest first (or the newest `limit`, newest first)."""
        clauses = [where] if where else []
        if since or until:
            clauses.append(_time_filter(since, until))
        if kinds:
            clauses.append(_kind_filter(kinds))
        return self._fetch_in_order(self._oldest_ids(" AND ".join(clauses) or None, limit, newest_first))

    @_again_if_replaced
    def made_from(self, refs: Iterable[str], since: datetime) -> list[Memory]:
        """Memories (and answers in Ask) written since `since` that name any of these sources ("frame:<id>",
        "episodic:<id>"; a core fact's source too). Found by their blind source tags, so only those are
        opened, however many memories the store holds."""
        tags = sorted({self.codec.source_tag(r) for r in refs})
        found: list[str] = []
        for start in range(0, len(tags), 500):
            listed = ", ".join(repr(t) for t in tags[start:start + 500])
            found += self._oldest_ids(f"updated_us >= {to_us(since)} AND array_has_any(source_tags, make_array({listed}))",
                                      _ALL)
        return self._fetch_in_order(list(dict.fromkeys(found)))

    @_again_if_replaced
    def frame_times(self, since: datetime, until: datetime) -> list[tuple[str, datetime, str]]:
        """(id, time, app) of the frames in [since, until), oldest first: what a timeline axis needs.

        Only the app column is decrypted, not the text and word boxes: a busy day has
        thousands of frames, and the axis is drawn before any of them is opened."""
        rows = self.table.search().where(f"{_kind_filter(['frame'])} AND {_time_filter(since, until)}") \
            .select(["id", "kind", *BOUND_COLUMNS, "app"]).limit(None).to_arrow().sort_by("time_us").to_pylist()
        return [(r["id"], from_us(r["time_us"]), self.codec.open_field(r, "app", []) or "") for r in rows]

    @_again_if_replaced
    def frame_fields(self, since: datetime, until: datetime) -> list[tuple[str, dict[str, Any]]]:
        """(id, fields) of the frames in [since, until): how their pictures are stored, in one query
        (frame_pictures walks chains of patches with it instead of fetching frame after frame)."""
        return [(i, f) for i, _, f in self._frame_fields(f"{_kind_filter(['frame'])} AND {_time_filter(since, until)}")]

    def _oldest_ids(self, where: str | None, limit: int, newest_first: bool = False) -> list[str]:
        """Sort on the two small plaintext columns first; decrypt only the rows asked for."""
        query = self.table.search()
        if where:
            query = query.where(where)
        table = query.select(["id", "time_us"]).limit(None).to_arrow() \
            .sort_by([("time_us", "descending" if newest_first else "ascending")])
        ids: list[str] = table.slice(0, limit).column("id").to_pylist()
        return ids

    def _fetch_in_order(self, ids: list[str]) -> list[Memory]:
        if not ids:
            return []
        rows = self.table.search().where(_ids_in(ids)).limit(None).to_arrow().to_pylist()
        by_id = {r["id"]: r for r in rows}
        return [self.codec.decode(by_id[i]) for i in ids if i in by_id]

    def search(self, query: str, options: SearchOptions | None = None, now: datetime | None = None) -> SearchResult:
        """Hybrid search; see storage.search for how results are ranked."""
        self.vault.keys  # raises VaultLocked before any work is done
        try:
            return _again_if_replaced(HybridSearch(self).search)(query, options or SearchOptions(), now)
        except BaseException as exc:  # noqa: B036 - a Rust panic on a damaged file is no Exception
            if not is_damage(exc):
                raise
            if not self._rebuild_damaged_indexes():
                raise StoreError(damage_message(exc)) from None
        return HybridSearch(self).search(query, options or SearchOptions(), now)

    def _rebuild_damaged_indexes(self) -> bool:
        """A search failed on a damaged file: if only search indexes are damaged, build them again from the
        data (nothing is lost, so nothing to ask) and say so in the log. Whether it did."""
        from storage.repair import unreadable_indexes

        with self._lock.held():
            self.table.checkout_latest()  # type: ignore[no-untyped-call]
            damaged = unreadable_indexes(self.table.to_lance(), self.root / f"{TABLE}.lance")
            if not damaged:  # damaged data (None), or nothing found: `engram repair` asks first
                return False
            log.warning("search indexes %s could not be read: building them again from the data", ", ".join(damaged))
            had_vector = any(i.columns == ["vector"] for i in self.table.list_indices())
            for name in damaged:
                self.table.drop_index(name)
        self.rebuild_indexes(had_vector)
        return True

    def similar(self, text: str, kinds: Sequence[str], k: int = 5,
                min_similarity: float = 0.0) -> list[tuple[Memory, float]]:
        """The memories of these kinds nearest in meaning to `text`, with their cosine similarity.

        The rotation is orthogonal, so distances between stored vectors are the model's own."""
        self.vault.keys
        vector = self.rotation.apply(self.embedder.embed([text]))[0]
        query: Any = self.table.search(vector, vector_column_name="vector")
        query = query.distance_type("l2").where(_kind_filter(kinds), prefilter=True)
        query = query.nprobes(20).refine_factor(5) if self.has_vector_index() else query
        rows = query.limit(k).to_arrow().to_pylist()
        found = [(self.codec.decode(r), 1.0 - r["_distance"] / 2.0) for r in rows if r["tokens"]]
        return [(m, sim) for m, sim in found if sim >= min_similarity]

    def check_rows(self) -> Check:
        """Whether the stored rows are those Engram wrote (storage/ledger.py): reads every row's id and
        stamp (the hashing alone 0.4 s per 200,000 rows here: a few seconds at a million), holding writes back
        meanwhile."""
        with self._lock.held():
            return self.ledger.check(self._stamps())

    def accept_rows(self) -> int:
        """Take the rows stored now as Engram's own (the user said so, or a repair just took some out);
        returns how many there are."""
        with self._lock.held():
            stamps = self._stamps()
            self.ledger.start(stamps)
        return len(stamps)

    def _stamps(self, where: str | None = None) -> list[Stamp]:
        """Kind, id and updated_us of every row matching `where` (all rows without it)."""
        query = self.table.search()
        if where:
            query = query.where(where)
        found = query.select(["kind", "id", "updated_us"]).limit(None).to_arrow()
        return list(zip(found.column("kind").to_pylist(), found.column("id").to_pylist(),
                        found.column("updated_us").to_pylist()))

    def _stamps_of(self, ids: Sequence[str]) -> list[Stamp]:
        wanted = [i for i in dict.fromkeys(ids) if _is_id(i)]
        found: list[Stamp] = []
        for start in range(0, len(wanted), 500):
            found += self._stamps(_ids_in(wanted[start:start + 500]))
        return found

    def existing(self, ids: Sequence[str]) -> set[str]:
        """Which of these ids are stored (for idempotent imports and replays)."""
        return {row_id for _, row_id, _ in self._stamps_of(ids)}

    def has_vector_index(self) -> bool:
        """Cached per table version: search asks on every query."""
        version = self.table.version
        if self._vector_index_at != version:
            self._vector_index_at = version
            self._vector_indexed = any(i.columns == ["vector"] for i in self.table.list_indices())
        return self._vector_indexed

    def pending_text(self, limit: int = 100) -> list[Memory]:
        """Frames whose screen text is still to be read, oldest first (the OCR backlog)."""
        return self._fetch_in_order(self._oldest_ids("text_ready_us IS NULL", limit))

    def count_pending_text(self, before: datetime | None = None) -> int:
        """How many frames wait for their text to be read; with `before`, those captured before it
        (read first: the backlog is worked oldest first)."""
        return int(self.table.count_rows("text_ready_us IS NULL" + (f" AND time_us < {to_us(before)}" if before else "")))

    def undigested(self, kinds: Sequence[str] = ("frame", "message"), limit: int = 100) -> list[Memory]:
        """What the memory agents have not taken in yet, oldest first; frames only once their text is read."""
        return self.list_range(kinds=kinds, limit=limit, where=_undigested(kinds))

    def count_undigested(self, kinds: Sequence[str] = ("frame", "message")) -> int:
        return int(self.table.count_rows(_undigested(kinds)))

    def mark_digested(self, ids: Sequence[str]) -> None:
        id_list = [i for i in ids if _is_id(i)]
        if id_list:
            with self._lock.held():
                self.table.update(where=_ids_in(id_list),
                                  values={"digested_us": to_us(utcnow())})

    def count(self, kind: str | None = None) -> int:
        return int(self.table.count_rows(_kind_filter([kind]) if kind else None))

    def stats(self) -> Stats:
        kinds = self.table.search().select(["kind"]).limit(None).to_arrow().column("kind").to_pylist()
        by_kind = {k: kinds.count(k) for k in KINDS if k in kinds}
        size = sum(p.stat().st_size for p in self.root.rglob("*") if p.is_file())
        return Stats(len(kinds), by_kind, size, len(self.table.list_versions()),
                     [i.name for i in self.table.list_indices()])

    # -- indexes ------------------------------------------------------------------

    @property
    def writes(self) -> int:
        """Writes this process made (add, update, save): what new rows bring to do (text to read, rows to
        digest) can have appeared since this last stood where it stands only through another process."""
        return self._writes

    def _refresh_indexes(self, rows_written: int = 1) -> None:
        """Called after every write: indexes appear as the table grows and take in new rows.

        Below the thresholds LanceDB searches exactly (a flat scan is faster
        than an index on a small table); new rows not yet indexed are still
        found, by a flat scan of just those rows, until the next refresh.
        """
        self._writes += 1
        # Capture writes a row per screen and again when its text is read. Looking at the indexes is three
        # round trips into LanceDB (a tenth of such a write), and what it watches grows by one row a write:
        # one-row writes look every _MERGE_EVERY-th time, so an index is built or folded at most that many
        # writes later.
        if rows_written == 1 and self._tokens_indexed and self._writes % _MERGE_EVERY:
            return
        indexed = {i.columns[0]: i.name for i in self.table.list_indices()}
        if "tokens" not in indexed:
            self.table.create_index("tokens", config=keyword_index_config())
            self._tokens_indexed = True
            return
        self._tokens_indexed = True
        # Each question is asked only when its answer can matter.
        rows = self.table.count_rows() if not {"time_us", "vector"} <= indexed.keys() else 0
        wants_scalar = rows >= _SCALAR_INDEX_ROWS and "time_us" not in indexed
        wants_vector = rows >= self.vector_index_min_rows and "vector" not in indexed
        if wants_scalar or wants_vector:
            self.build_indexes()
        # The keyword index is the first built and every fold takes in all of them: none is further behind.
        elif _unindexed(self.table, indexed["tokens"]) >= _REFRESH_ROWS:
            self._beside_upkeep(self._fold_new_rows_into_indexes)
        elif self._writes % _MERGE_EVERY == 0:
            # Each write is a data file, and every lookup opens each one not yet merged (120 unmerged:
            # ~70 ms a get).
            self._beside_upkeep(self._merge_small_pieces)

    def _beside_upkeep(self, step: Callable[[], None]) -> None:
        """The write path's own merging, which the hourly upkeep may overtake (it commits without the
        writer lock): a commit Lance refuses for that is left for later, the write itself is done."""
        try:
            step()
        except OSError as exc:
            if not upkeep.is_conflict(exc):
                raise
            log.info("merging after a write deferred: the upkeep was merging the same files")
            self.table.checkout_latest()  # type: ignore[no-untyped-call]

    def _fold_new_rows_into_indexes(self) -> None:
        """Index just the new rows as a small delta (cheap); merge deltas and small data files
        only now and then.

        Never LanceDB's table.optimize() here: with index deltas present it rebuilt the
        vector index with a single partition (bench: ANN recall@10 0.98 -> 0.70 at 1M),
        and it compacts everything on every call. Lance's own calls keep the partitions.
        """
        optimize(self.table, self.has_vector_index(), "optimize_indices", num_indices_to_merge=0)
        self.table.checkout_latest()  # type: ignore[no-untyped-call]
        self._merge_small_pieces()

    def _merge_small_pieces(self, force: bool = False) -> None:
        deltas = max((upkeep.index_pieces(self.table, i.name) for i in self.table.list_indices()), default=1)
        if force or deltas > _MAX_INDEX_DELTAS:
            # Many deltas slow every query (keyword search above all) and hold files open.
            optimize(self.table, self.has_vector_index(), "optimize_indices", num_indices_to_merge=deltas)
            self.table.checkout_latest()  # type: ignore[no-untyped-call]
        dataset = self.table.to_lance()
        # Once there is a vector index, merging files it covers remaps it, which only a child may do
        # (storage/lance_apart.py: ~1 s to start, every ~16 capture screens). The write path merges only
        # the files written since the last fold, in-process; the few small indexed ones are the hourly
        # upkeep's (storage/upkeep.py MAX_SMALL_INDEXED).
        indexed = upkeep.indexed_fragment_ids(dataset) if apart(self.has_vector_index()) and not force else set()
        small = sum(1 for f in dataset.get_fragments()
                    if f.metadata.physical_rows < _FRAGMENT_ROWS and f.fragment_id not in indexed)
        if force or small > _MAX_SMALL_FRAGMENTS:
            # Only small files are merged, up to _FRAGMENT_ROWS rows: bigger ones stay as they are,
            # so this costs the size of what was written since, not of the table.
            # Files holding deleted rows are left to the hourly upkeep: rewriting a large one here
            # would remap every index inside a capture tick.
            options = {"target_rows_per_fragment": _FRAGMENT_ROWS, "materialize_deletions": False}
            if indexed:
                upkeep.merge_files(dataset, options, leaving=indexed)
            else:
                optimize(self.table, self.has_vector_index(), "compact_files", **options)
            self.table.checkout_latest()  # type: ignore[no-untyped-call]
            self._drop_old_versions(self.table.to_lance())
        self.table.checkout_latest()  # type: ignore[no-untyped-call]

    def _drop_old_versions(self, dataset: Any) -> None:
        """All but the newest _KEPT_VERSIONS versions (they keep replaced files alive), unless an upkeep or a
        check of the whole store runs. Those read the files of the version they began on, and the upkeep's
        rewrite learns what was deleted or replaced meanwhile from the versions since: with those dropped,
        Lance committed its rewrite with forgotten rows back in. The upkeep drops them itself when done."""
        try:
            with upkeep.upkeep_lock(self.root, wait_seconds=0):
                dataset.cleanup_old_versions(retain_versions=_KEPT_VERSIONS)
        except WriterBusy:
            log.debug("old versions kept: an upkeep or a check of the store is running")

    def build_indexes(self, vector_min_rows: int | None = None) -> list[str]:
        """Scalar indexes for the filters, and the ANN vector index once the table is big
        enough for exact search to be slow. Safe to call often; returns what it built."""
        from lancedb.index import BTree, Bitmap, IvfHnswSq

        threshold = self.vector_index_min_rows if vector_min_rows is None else vector_min_rows
        built = []
        with self._lock.held():
            names = {i.columns[0] for i in self.table.list_indices()}
            rows = self.table.count_rows()
            for column, config in (("time_us", BTree()), ("id", BTree()), ("kind", Bitmap()), ("app_tag", BTree())):
                if column not in names and rows:
                    self.table.create_index(column, config=config)
                    built.append(column)
            if "vector" not in names and rows >= threshold:
                # IVF_HNSW_SQ: recall 0.97 at ~7 ms on 100k real-like vectors here (STACK.md).
                partitions = max(1, int(np.sqrt(rows) / 2))
                self.table.create_index("vector", config=IvfHnswSq(distance_type="l2", num_partitions=partitions))
                built.append("vector")
            if not built:
                self._merge_small_pieces(force=True)
        return built

    def rebuild_indexes(self, vector: bool) -> list[str]:
        """Every index built again from the data, after a repair dropped them (storage/repair.py); the
        vector index too when there was one, whatever the table's size. Returns what it built."""
        with self._lock.held():
            if not self.table.count_rows():
                return []
            self.table.create_index("tokens", config=keyword_index_config(), replace=True)
            return ["tokens", *self.build_indexes(vector_min_rows=0 if vector else None)]

    def writes_held(self) -> Any:
        """A context in which no process writes to the store (for a consistent copy of its files)."""
        return self._lock.held()

    def close(self) -> None:
        self.rendered.clear()
        self.vault.lock()


def _read_meta(meta_path: Path) -> dict[str, Any]:
    """The store's meta file; one that does not read is put back from the copy kept beside it (it holds
    nothing a repair could rebuild: the schema version, the store id and key check). A store from before the
    copy gets it now."""
    backup = meta_path.with_name(meta_path.name + ".bak")
    try:
        meta = _parsed_meta(meta_path)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        try:
            meta = _parsed_meta(backup)
        except (OSError, ValueError, KeyError, TypeError):
            raise StoreError(f"{meta_path} is damaged ({exc}) and its copy {backup.name} is missing or damaged "
                             "too; the store was not opened. Restore an export (`engram export` makes one).") from None
        log.warning("the store's meta file was damaged: put back from its copy")
        write_json_atomically(meta_path, meta)
        return meta
    if not backup.exists():
        write_json_atomically(backup, meta)
    return meta


def _parsed_meta(path: Path) -> dict[str, Any]:
    meta = json.loads(path.read_text(encoding="utf-8"))
    int(meta["schema_version"])  # raises for a meta without one
    return dict(meta)


def _write_meta(meta_path: Path, meta: dict[str, Any]) -> None:
    """The meta file, then its copy: a crash between leaves a meta that reads."""
    write_json_atomically(meta_path, meta)
    write_json_atomically(meta_path.with_name(meta_path.name + ".bak"), meta)


def _raise_open_file_limit() -> None:
    """LanceDB keeps index files open per table version (a known leak, see the closing
    notes): allow this process as many open files as the system permits (soft limit up to
    the hard one), which moves the failure far past any real store's lifetime per process."""
    try:
        import resource
    except ImportError:  # Windows: no such limit to raise
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard if hard != resource.RLIM_INFINITY else max(soft, 1 << 16)
    if soft < target:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        except (ValueError, OSError):
            pass


def _unindexed(table: Any, index_name: str) -> int:
    stats = table.index_stats(index_name)
    return int(stats.num_unindexed_rows) if stats is not None else 0


def keyword_index_config() -> Any:
    """LanceDB full-text settings for blind tokens: they are already normalised and
    hashed, so LanceDB must only split on spaces (no stemming, stop words or folding)."""
    from lancedb.index import FTS

    return FTS(base_tokenizer="whitespace", stem=False, remove_stop_words=False, lower_case=False,
               ascii_folding=False, with_position=False, max_token_length=None)


def _one_per_id(memories: Sequence[Memory]) -> list[Memory]:
    """The last memory given for each id, in the order the ids first appear."""
    return list({m.id: m for m in memories}.values())


def _is_id(value: str) -> bool:
    return len(value) == 32 and all(c in "0123456789abcdef" for c in value)


def _undigested(kinds: Sequence[str]) -> str:
    return f"digested_us IS NULL AND text_ready_us IS NOT NULL AND {_kind_filter(kinds)}"


def _kind_filter(kinds: Sequence[str]) -> str:
    unknown = [k for k in kinds if k not in KINDS]
    if unknown:
        raise StoreError(f"unknown memory type(s): {', '.join(unknown)}; one of: {', '.join(KINDS)}")
    return f"kind IN ({', '.join(repr(k) for k in kinds)})"


def _time_filter(since: datetime | None, until: datetime | None) -> str:
    clauses = []
    if since:
        clauses.append(f"time_us >= {to_us(since)}")
    if until:
        clauses.append(f"time_us < {to_us(until)}")
    return " AND ".join(clauses) or "true"


def _ids_in(ids: Iterable[str]) -> str:
    """A filter for the rows with these ids (ids are hex: nothing to escape)."""
    return f"id IN ({', '.join(repr(i) for i in ids)})"
