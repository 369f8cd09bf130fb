"""Store upkeep, run by the hourly job: forgotten rows erased from disk, small files and index pieces merged,
and the rows checked against the row ledger (storage/ledger.py).

A delete only marks rows deleted (a deletion file beside the data file): they are gone from every read at
once, but their ciphertext is still in the data file, and old table versions still list it. Upkeep rewrites
the data files that hold deleted rows (with the small files beside them, merged into larger ones) and then
drops every old version, so the ciphertext is gone from disk.

Why not in the delete itself: rewriting a data file makes Lance remap every index onto the new rows, and the
vector index's remap rebuilds its graphs (at 100k rows, 27 of the 29 s of a one-frame delete; bench
`store_upkeep`), whatever the number of rows deleted. Paid once an hour it is affordable; paid per forget it
froze the app.

Contract:
- The writer lock (which capture's writes need) is held only for the last step, removing files no
  version names, which takes well under a second. The rewrite is committed without it: Lance lets a rewrite commit over
  appends made meanwhile, and refuses it ("preempted") when a delete or update touched a file it rewrote,
  so a merge never brings a deleted row back. A refused rewrite is planned and tried again.
- One upkeep at a time, per store, across processes (`.upkeep.lock`); `purge()` and an immediate erase
  take the same lock, because dropping old versions also deletes the files of a rewrite not yet committed.
- Nothing of the content reaches the log: counts, bytes and seconds only.
"""
from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from storage.lance_apart import optimize
from storage.locking import WriterBusy, WriterLock

log = logging.getLogger(__name__)

# Upkeep merges data files into files of up to this many rows (capture writes files of one to a few rows,
# the write path merges those into files of up to 2,000 rows, storage/store.py _FRAGMENT_ROWS).
MERGED_ROWS = 25_000
# Files smaller than MERGED_ROWS already covered by an index are merged only with a rewrite that is due
# anyway (deleted rows), or once there are more than this many: each such merge remaps every index.
MAX_SMALL_INDEXED = 16
# Rows rewritten in one cycle beyond those holding deleted rows (which are always rewritten): the first
# upkeep of a large capture-filled store spreads its merging over several hours.
MERGE_BUDGET_ROWS = 200_000
# Plans tried in one cycle while writes keep touching the files being rewritten (then: the next cycle).
_ATTEMPTS = 3


@dataclass
class UpkeepReport:
    files_rewritten: int = 0     # data files read and written again (merged, or without their deleted rows)
    files_written: int = 0
    rows_erased: int = 0         # deleted rows whose ciphertext left the data files
    index_pieces_merged: int = 0
    bytes_freed: int = 0
    seconds: float = 0.0
    writes_held_seconds: float = 0.0   # the longest time capture's writes had to wait for upkeep
    erased: bool = True          # False: rows deleted before this cycle are still in a data file
    skipped: str = ""            # why nothing was done (another upkeep was running)
    rows_changed: tuple[str, ...] = ()   # what the row ledger's check found (storage/ledger.py): kinds, counts

    def summary(self) -> str:
        if self.skipped:
            return f"upkeep skipped: {self.skipped}"
        return (f"upkeep: {self.files_rewritten} data files rewritten into {self.files_written}, "
                f"{self.rows_erased} deleted or replaced rows erased, {self.index_pieces_merged} index pieces merged, "
                f"{self.bytes_freed / 1e6:.1f} MB freed in {self.seconds:.1f} s "
                f"(writes held {self.writes_held_seconds:.2f} s)"
                + ("" if self.erased else "; some deleted rows wait for the next cycle (the store was busy)")
                + (f"; ROWS CHANGED OUTSIDE ENGRAM: {'; '.join(self.rows_changed)}" if self.rows_changed else ""))


@contextmanager
def upkeep_lock(root: Path, wait_seconds: float, on_wait: Callable[[str], None] = lambda _: None) -> Iterator[None]:
    lock = WriterLock(root / ".upkeep.lock", wait_seconds, on_wait=on_wait)
    with lock.held():
        yield


def run_upkeep(store: Any) -> UpkeepReport:
    """The hourly cycle: erase deleted rows, merge small files and index pieces, drop old versions.

    Returns at once (report.skipped) when another upkeep of this store is running."""
    started = time.perf_counter()
    report = UpkeepReport()
    try:
        with upkeep_lock(store.root, wait_seconds=0):
            _rewrite(store, report, merge=True)
            _merge_index_pieces(store, report)
            _drop_old_versions(store, report)
            # The whole table is read once an hour anyway: whether its rows are those Engram wrote.
            report.rows_changed = tuple(store.check_rows().lines())
    except WriterBusy:
        report.skipped = "another upkeep of this store is running"
    report.seconds = time.perf_counter() - started
    (log.warning if report.rows_changed else log.info)(report.summary())
    return report


def erase_now(store: Any) -> UpkeepReport:
    """Erase deleted rows from disk right away (a forgotten vault entry): only the files holding them
    are rewritten. Waits for a running upkeep rather than skipping, since the caller promised it."""
    started = time.perf_counter()
    report = UpkeepReport()
    with upkeep_lock(store.root, wait_seconds=store.writer_wait_seconds):
        _rewrite(store, report, merge=False)
        _drop_old_versions(store, report)
    report.seconds = time.perf_counter() - started
    log.info("erased now: %s", report.summary())
    return report


def pending_erase(store: Any) -> int:
    """Deleted rows whose ciphertext is still in a data file of the newest version."""
    return sum(_deleted(f) for f in store.table.to_lance().get_fragments())


def _deleted(fragment: Any) -> int:
    deletion = fragment.metadata.deletion_file
    return int(deletion.num_deleted_rows or 0) if deletion is not None else 0


def _rewrite(store: Any, report: UpkeepReport, merge: bool) -> None:
    done = optimize(store.table, store.has_vector_index(), "storage.upkeep:rewrite_files", merge=merge)
    store.table.checkout_latest()
    report.files_rewritten += done["files_rewritten"]
    report.files_written += done["files_written"]
    report.rows_erased += done["rows_erased"]
    report.erased = done["erased"]


def rewrite_files(dataset: Any, merge: bool) -> dict[str, Any]:
    """Rewrite the data files holding deleted rows (and, with `merge`, merge small ones); planned again over the
    newer version when a write touched a file meanwhile. In a child process once the table has a vector index
    (storage/lance_apart.py): Lance's commit remaps the indexes and keeps the files it read open."""
    import lance
    from lance.optimize import Compaction

    options: Any = {"materialize_deletions": True, "materialize_deletions_threshold": 0.0,
                    "target_rows_per_fragment": MERGED_ROWS}
    done = {"files_rewritten": 0, "files_written": 0, "rows_erased": 0, "erased": False}
    for _ in range(_ATTEMPTS):
        tasks = _chosen_tasks(dataset, Compaction.plan(dataset, options).tasks, merge)
        if not tasks:
            done["erased"] = True
            return done
        erasing = sum(_deleted_in(t) for t in tasks)
        try:
            rewrites = [task.execute(dataset) for task in tasks]
            metrics = Compaction.commit(dataset, rewrites, options)
        except OSError as exc:
            if not is_conflict(exc):
                raise
            # A write touched a file being rewritten: plan again over the newer version.
            log.info("upkeep: a write touched a file being merged; planning again")
            done["erased"] = False
            dataset = lance.dataset(dataset.uri)
            continue
        done["files_rewritten"] += metrics.fragments_removed
        done["files_written"] += metrics.fragments_added
        done["rows_erased"] += erasing
        dataset = lance.dataset(dataset.uri)
        done["erased"] = not any(_deleted(f) for f in dataset.get_fragments())
        if done["erased"] or not merge:
            return done
    return done


def is_conflict(exc: OSError) -> bool:
    """Lance refused a commit because another one changed the same files meanwhile (it says "retry")."""
    text = str(exc).lower()
    return "conflict" in text or "preempted" in text


def _deleted_in(task: Any) -> int:
    return sum(int(f.deletion_file.num_deleted_rows or 0) for f in task.fragments if f.deletion_file is not None)


def _chosen_tasks(dataset: Any, tasks: list[Any], merge: bool) -> list[Any]:
    """Every task that erases deleted rows; merges of small files too when they cost no index remap of
    their own (a rewrite is due anyway, or the files are not indexed yet) or small files have piled up."""
    erasing = [t for t in tasks if _deleted_in(t)]
    if not merge:
        return erasing
    indexed = indexed_fragment_ids(dataset)
    merging = [t for t in tasks if not _deleted_in(t)]
    small_indexed = sum(1 for t in merging for f in t.fragments if f.id in indexed)
    if not erasing and small_indexed <= MAX_SMALL_INDEXED:
        merging = [t for t in merging if not any(f.id in indexed for f in t.fragments)]
    chosen, budget = list(erasing), MERGE_BUDGET_ROWS
    for task in merging:
        rows = sum(f.physical_rows for f in task.fragments)
        if rows <= budget:
            chosen.append(task)
            budget -= rows
    return chosen


def merge_files(dataset: Any, options: Any, leaving: set[int]) -> None:
    """Lance's compaction with `options`, in this process, of the files it would merge that are not among
    `leaving` (fragment ids): merging no file an index covers, it reads no index file and leaves none open."""
    from lance.optimize import Compaction

    tasks = [t for t in Compaction.plan(dataset, options).tasks if not any(f.id in leaving for f in t.fragments)]
    if tasks:
        Compaction.commit(dataset, [task.execute(dataset) for task in tasks], options)


def indexed_fragment_ids(dataset: Any) -> set[int]:
    ids: set[int] = set()
    for index in dataset.describe_indices():
        for segment in index.segments:
            ids.update(segment.fragment_ids or ())
    return ids


def _merge_index_pieces(store: Any, report: UpkeepReport) -> None:
    """Each index's deltas (one per fold of new rows) merged into its base: many pieces slow every query.
    All in one step (one child process for a vector-indexed table, not one per index: ~1 s each)."""
    pieces = {i.name: count for i in store.table.list_indices() if (count := index_pieces(store.table, i.name)) > 1}
    if pieces:
        report.index_pieces_merged += optimize(store.table, store.has_vector_index(),
                                               "storage.upkeep:merge_index_pieces", pieces=pieces)
    store.table.checkout_latest()


def index_pieces(table: Any, index_name: str) -> int:
    """How many pieces (base + deltas) an index is in."""
    stats = table.index_stats(index_name)
    return int(stats.num_indices) if stats is not None and stats.num_indices else 1


def merge_index_pieces(dataset: Any, pieces: dict[str, int]) -> int:
    """Merge each named index's `pieces[name]` pieces into one; returns how many pieces were merged. An index
    whose new rows were being folded in meanwhile (a commit conflict) is left for the next cycle."""
    import lance

    merged = 0
    for name, count in pieces.items():
        try:
            dataset.optimize.optimize_indices(num_indices_to_merge=count, index_names=[name])
        except OSError as exc:
            if not is_conflict(exc):
                raise
            log.info("upkeep: index merge deferred: new rows were being folded in")  # merged next cycle
            dataset = lance.dataset(dataset.uri)
            continue
        merged += count
    return merged


def _drop_old_versions(store: Any, report: UpkeepReport) -> None:
    """Old versions and the files only they name first, beside capture's writes (the write path's
    merging keeps the newest ~100: storage/store.py _KEPT_VERSIONS); then, under the writer lock, files no
    version names (a refused rewrite's), which would otherwise include those of a write in flight."""
    dropped = store.table.to_lance().cleanup_old_versions(older_than=timedelta(0), delete_unverified=False)
    with store.writes_held():
        held = time.perf_counter()
        unnamed = store.table.to_lance().cleanup_old_versions(older_than=timedelta(0), delete_unverified=True)
        store.table.checkout_latest()
        report.writes_held_seconds = max(report.writes_held_seconds, time.perf_counter() - held)
    report.bytes_freed += int(dropped.bytes_removed) + int(unnamed.bytes_removed)
