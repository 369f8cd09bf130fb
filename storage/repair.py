"""Damaged store files: what is damaged, what saving the rest costs, and the repair (issue 20.4).

A LanceDB table is a chain of versions (one small version file each) over data files and index files,
with no checksums of its own: a flipped byte, a truncated or a missing file fails every read that
touches it. What a repair does, once the user has been told and said yes:
- a version file that does not load: the table goes back to the newest version that does; what the
  newer writes added or changed is lost, and said to be before anything is done;
- a data file that cannot be read whole: its rows leave the table (how many is said first), the rest stays;
- indexes are built again from the data (nothing is lost), after any repair or when one fails to read.
Version files taken out are moved to `damaged/<time>/` beside the store and damaged data files copied
there, with a note of what was done; nothing is deleted by the repair itself. A sealed field damaged
inside a readable file is another matter: the codec reports it per memory (storage/codec.py).
Needs no key: only layout is read, never content.
"""
from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from storage import lance_import
from storage.codec import TABLE
from storage.locking import DEFAULT_WAIT_SECONDS, WriterBusy, WriterLock, say_on_stderr
from storage.upkeep import upkeep_lock

_V2_NAMES = 1 << 63  # version files named u64::MAX - version (LanceDB's newer naming) are above this


def is_damage(exc: BaseException) -> bool:
    """Whether an exception from LanceDB or Arrow says a store file could not be read (not a bug of ours)."""
    name, text = type(exc).__name__, str(exc)
    return (name == "PanicException"  # a Rust panic on a file whose offsets point nowhere
            or (isinstance(exc, (RuntimeError, OSError)) and text.lower().startswith("lance error"))
            or (isinstance(exc, ValueError) and text.startswith("Invalid input, "))
            or (name.startswith("Arrow") and type(exc).__module__.startswith("pyarrow")))


def damage_message(exc: BaseException) -> str:
    return (f"the store's files are damaged ({short_error(exc)}); nothing was changed. "
            "`engram repair` says what is damaged and what repairing costs, and saves the rest.")


@dataclass(frozen=True)
class LostVersion:
    version: int
    written: datetime


@dataclass(frozen=True)
class BadFragment:
    fragment_id: int
    rows: int
    files: tuple[str, ...]   # relative to the table's data/ folder
    reason: str


@dataclass
class Diagnosis:
    back_to: int | None = None                                  # the version the table goes back to
    lost_versions: list[LostVersion] = field(default_factory=list)
    old_versions: list[int] = field(default_factory=list)       # damaged history older than back_to
    bad_manifests: list[Path] = field(default_factory=list)
    fragments: list[BadFragment] = field(default_factory=list)
    indexes: list[str] = field(default_factory=list)            # indexes that failed to read
    unusable: str = ""                                          # no version loads at all

    @property
    def damaged(self) -> bool:
        return bool(self.bad_manifests or self.fragments or self.indexes or self.unusable)

    @property
    def rows_lost(self) -> int:
        return sum(f.rows for f in self.fragments)

    def lines(self) -> list[str]:
        """What is damaged and what repairing it costs, in the user's words."""
        out = []
        if self.unusable:
            out.append(f"No version of the table can be read ({self.unusable}): it cannot be repaired here; "
                       "restore an export (`engram export` makes one).")
        if self.lost_versions:
            newest = self.lost_versions[0]
            out.append(f"The newest version of the store ({newest.version}, written {_when(newest.written)}) cannot "
                       f"be read: it goes back to version {self.back_to}, and what the last "
                       f"{_n(len(self.lost_versions), 'write')} added or changed is lost.")
        if self.old_versions:
            out.append(f"{_n(len(self.old_versions), 'older version file')} cannot be read: only that history is "
                       "lost, no memory.")
        for bad in self.fragments:
            out.append(f"A data file holding {_n(bad.rows, 'memory', 'memories')} cannot be read ({bad.reason}): "
                       f"those {_n(bad.rows, 'memory', 'memories')} are lost (with the pictures of any screens "
                       "among them), the rest stays.")
        if self.indexes:
            out.append(f"Search index{'es' if len(self.indexes) > 1 else ''} {', '.join(self.indexes)} cannot be "
                       "read: built again from the data (nothing is lost).")
        elif self.damaged and not self.unusable:
            out.append("The search indexes are built again from the data afterwards (nothing is lost).")
        return out


def diagnose(store_dir: Path) -> Diagnosis:
    """Read every version file and data file of the table, and every index's files (a long job on a big
    store: it reads all of it). Changes nothing."""
    lance_import.load()
    import lance

    uri = store_dir / f"{TABLE}.lance"
    if not uri.exists():
        return Diagnosis()
    # The app's writes drop old versions and the files only they name: not while this reads them (it would
    # find them gone and call that damage). An upkeep running meanwhile is waited for, and the wait is said.
    try:
        with upkeep_lock(store_dir, wait_seconds=DEFAULT_WAIT_SECONDS, on_wait=say_on_stderr):
            return _diagnose(lance, uri)
    except WriterBusy as busy:  # a check writes nothing: say what it did not do
        raise WriterBusy(busy.waited, "the store was not checked") from None


def _diagnose(lance: Any, uri: Path) -> Diagnosis:
    found = Diagnosis()
    versions = _version_files(uri)
    dataset = None
    for version in sorted(versions, reverse=True):
        try:
            candidate = lance.dataset(str(uri), version=version)
        except BaseException as exc:  # noqa: B036 - a Rust panic is a BaseException
            _reraise_interrupts(exc)
            found.bad_manifests.append(versions[version])
            if dataset is None:  # newer than any that loads: going back loses it
                written = datetime.fromtimestamp(versions[version].stat().st_mtime, timezone.utc)
                found.lost_versions.append(LostVersion(version, written))
            else:
                found.old_versions.append(version)
            continue
        if dataset is None:
            dataset, found.back_to = candidate, version
    if dataset is None:
        found.unusable = "every version file is damaged" if versions else "no version file"
        return found
    if not found.lost_versions:
        found.back_to = None  # the newest loads: nothing to go back from
    found.fragments = [bad for fragment in dataset.get_fragments() if (bad := _unreadable(fragment)) is not None]
    if not found.fragments:  # else an index read fails on the data anyway, and all are built again
        found.indexes = _unreadable_indexes(uri, dataset)
    return found


def repair(store_dir: Path, found: Diagnosis, aside: Path, wait_seconds: float) -> tuple[list[str], bool]:
    """Do what `found.lines()` said, holding the writer lock. Returns what was done and whether the store
    had a vector index (the caller builds the indexes again with the store open: they need its settings)."""
    lance_import.load()
    import lance
    import lancedb

    uri = store_dir / f"{TABLE}.lance"
    done: list[str] = []
    aside.mkdir(parents=True, exist_ok=True)
    with WriterLock(store_dir / ".writer.lock", wait_seconds).held():
        for path in found.bad_manifests:  # moved, not deleted: the newest good version becomes the latest
            (aside / "_versions").mkdir(exist_ok=True)
            shutil.move(str(path), aside / "_versions" / path.name)
            done.append(f"moved the damaged version file {path.name} to {aside}")
        dataset = lance.dataset(str(uri))
        if found.fragments:
            for bad in found.fragments:
                for name in bad.files:
                    source = uri / "data" / name
                    if source.exists():
                        (aside / "data").mkdir(exist_ok=True)
                        shutil.copy2(source, aside / "data" / name)
            drop = lance.LanceOperation.Delete(updated_fragments=[], deleted_fragment_ids=[f.fragment_id for f in found.fragments],
                                               predicate="false")
            lance.LanceDataset.commit(str(uri), drop, read_version=dataset.version)
            done.append(f"took {_n(found.rows_lost, 'memory', 'memories')} in damaged data files out of the store "
                        f"(the files are copied to {aside})")
        table = lancedb.connect(str(store_dir)).open_table(TABLE)
        had_vector = False
        for index in table.list_indices():
            had_vector = had_vector or index.columns == ["vector"]
            table.drop_index(index.name)
        done.append("dropped the search indexes, to build them again from the data")
    (aside / "REPAIR.txt").write_text("\n".join([*found.lines(), "", *done, ""]), encoding="utf-8")
    return done, had_vector


def damaged_pictures(store: Any) -> dict[str, str]:
    """The frames whose picture or thumbnail file fails its integrity check ("damaged") or is gone while the
    frame still names it ("missing"), by frame id (reads every picture). Only said: the frame keeps its text,
    and the files stay as they are."""
    from storage.blobs import TamperedBlob
    from storage.memory import EARLIEST, LATEST

    bad: dict[str, str] = {}
    for frame_id, fields in store.frame_fields(EARLIEST, LATEST):
        for key in ("image_id", "thumb_id"):
            try:
                if fields.get(key):
                    store.blobs.get(fields[key])
            except TamperedBlob:
                bad[frame_id] = "damaged"
                break
            except (KeyError, OSError):
                # Forget deletes the frame and retention clears its picture fields before the files go: a
                # file the frame still names is lost, unless one of them ran meanwhile (the frame read again).
                now = store.get(frame_id)
                if now is not None and now.fields.get(key) == fields[key]:
                    bad[frame_id] = "missing"
                    break
    return bad


def _version_files(uri: Path) -> dict[int, Path]:
    out = {}
    for path in (uri / "_versions").glob("*.manifest"):
        try:
            number = int(path.stem)
        except ValueError:
            continue
        out[(1 << 64) - 1 - number if number > _V2_NAMES else number] = path
    return out


def _unreadable(fragment: Any) -> BadFragment | None:
    try:
        for _ in fragment.to_batches(batch_size=1024):
            pass
        return None
    except BaseException as exc:  # noqa: B036 - a Rust panic is a BaseException
        _reraise_interrupts(exc)
        meta = fragment.metadata
        files = tuple(f.path for f in meta.files)
        return BadFragment(fragment.fragment_id, int(meta.physical_rows or 0), files, short_error(exc))


def _unreadable_indexes(uri: Path, dataset: Any) -> list[str]:
    """Indexes with a file that does not read whole (each index file is a Lance file), or whose keyword
    search fails on a word the table holds."""
    from lance.file import LanceFileReader

    bad = []
    for index in dataset.describe_indices():
        try:
            for segment in index.segments:  # an index merged from deltas or not: a folder each
                folder = uri / "_indices" / str(segment.uuid)
                if not folder.is_dir():
                    raise FileNotFoundError(str(folder))
                for path in folder.glob("*.lance"):
                    LanceFileReader(str(path)).read_all()
            if index.index_type == "Inverted" or "tokens" in index.field_names:
                _probe_keyword_index(dataset)
        except BaseException as exc:  # noqa: B036
            _reraise_interrupts(exc)
            bad.append(str(index.name))
    return bad


def unreadable_indexes(dataset: Any, uri: Path) -> list[str] | None:
    """The indexes that cannot be read, if every data file can (None: a data file cannot, so rebuilding
    indexes would not help). Reads every data and index file: for after a read failed, not routinely."""
    if any(_unreadable(fragment) is not None for fragment in dataset.get_fragments()):
        return None
    return _unreadable_indexes(uri, dataset)


def _probe_keyword_index(dataset: Any) -> None:
    rows = dataset.to_table(columns=["tokens"], limit=1).column("tokens").to_pylist()
    word = (rows[0] or "x").split(" ")[0] if rows else "x"
    dataset.to_table(full_text_query=word, columns=["id", "_score"], limit=1)  # _score named: Lance warns without it


def _reraise_interrupts(exc: BaseException) -> None:
    if isinstance(exc, (KeyboardInterrupt, SystemExit, MemoryError)):
        raise exc


def short_error(exc: BaseException) -> str:
    """LanceDB's message without the Rust source paths it appends."""
    text = " ".join(str(exc).split())
    for cut in (", /root/", ", /rustc/", ", /home/", " at /"):
        text = text.split(cut, 1)[0]
    return text[:160] or type(exc).__name__


def _when(moment: datetime) -> str:
    return moment.astimezone().strftime("%Y-%m-%d %H:%M")


def _n(count: int, one: str, many: str | None = None) -> str:
    return f"{count} {one if count == 1 else (many or one + 's')}"
