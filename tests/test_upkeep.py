"""The hourly upkeep on a real store: forgotten rows leave every read at once and the disk at the next
cycle; merging small files loses nothing and brings nothing deleted back; open files stay flat."""
from __future__ import annotations

import os
import subprocess
import threading
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from storage import upkeep
from storage.locking import WriterBusy, WriterLock
from storage.memory import Memory
from storage.search import SearchOptions
from storage.store import MemoryStore

from conftest import PASSPHRASE
from fakes import HashEmbedder
from test_canary import leaks

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)
KEYWORD = SearchOptions(mode="keyword", k=50)


def screen(i: int, word: str = "") -> Memory:
    return Memory("frame", f"screen {i} of the budget report {word}".strip(), {"monitor": 0},
                  time=T0 + timedelta(seconds=3 * i), app="Firefox", title=f"Budget {i} - Mozilla Firefox")


def captured(store: MemoryStore, count: int, first: int = 0) -> list[Memory]:
    """Frames written the way capture writes them: one at a time, then again once their text is read."""
    frames = []
    for i in range(first, first + count):
        picture = store.blobs.put(f"pixels of screen {i}".encode() * 20)
        frame = screen(i)
        frame.fields["image_id"] = picture
        frame.text_pending = True
        store.add([frame])
        frame.text, frame.text_pending = f"screen {i} of the budget report", False
        store.save([frame])
        frames.append(frame)
    return frames


def sealed_probes(store: MemoryStore, memory_id: str) -> list[bytes]:
    """24 bytes from inside each sealed field of one row: found on disk while its ciphertext is there."""
    row = store.table.search().where(f"id = '{memory_id}'").limit(1).to_arrow().to_pylist()[0]
    return [row[c][13:37] for c in ("text", "title", "body") if row[c] and len(row[c]) >= 40]


def tokens_on_disk(store: MemoryStore, word: str) -> int:
    """Rows holding this word's blind token, in any table version on disk (old versions included)."""
    token = store.codec.index.token(word)
    dataset = store.table.to_lance()
    return sum(token in (t or "").split()
               for v in dataset.versions()
               for t in dataset.checkout_version(v["version"]).to_table(columns=["tokens"]).column("tokens").to_pylist())


def keyword_ids(store: MemoryStore, query: str) -> list[str]:
    return [h.id for h in store.search(query, KEYWORD).hits]


def test_a_forgotten_screen_leaves_every_read_at_once_and_the_disk_at_the_next_upkeep(
        store: MemoryStore, home: Path) -> None:
    frames = [screen(i, "wombat" if i == 7 else "") for i in range(40)]
    for start in range(0, 40, 10):  # four data files
        store.add(frames[start:start + 10])
    store.build_indexes(vector_min_rows=1)  # every index, the vector one too: the upkeep remaps them
    doomed = frames[7]
    probes = sealed_probes(store, doomed.id)
    assert keyword_ids(store, "wombat") == [doomed.id] and leaks(home, probes)

    assert store.delete([doomed.id]) == 1

    assert store.get(doomed.id) is None                              # gone from every read now
    assert keyword_ids(store, "wombat") == []                        # its blind tokens bring nothing back
    assert doomed.id not in {h.id for h in store.search(doomed.text, SearchOptions(mode="vector", k=50)).hits}
    assert doomed.id not in {m.id for m in store.list_range(kinds=["frame"], limit=100)}
    assert upkeep.pending_erase(store) == 1 and leaks(home, probes)  # its ciphertext waits for the upkeep

    report = upkeep.run_upkeep(store)

    assert report.rows_erased == 1 and report.erased and report.bytes_freed > 0
    assert not leaks(home, probes) and tokens_on_disk(store, "wombat") == 0
    assert upkeep.pending_erase(store) == 0 and len(store.table.list_versions()) == 1
    reopened = MemoryStore.open(PASSPHRASE, home=home, embedder=HashEmbedder())
    assert reopened.get(doomed.id) is None and keyword_ids(reopened, "wombat") == []
    assert reopened.count("frame") == 39
    assert all(reopened.get(f.id).text == f.text for f in frames if f is not doomed)


def test_a_forgotten_vault_entry_is_erased_from_disk_before_delete_returns(store: MemoryStore, home: Path) -> None:
    store.add([screen(i) for i in range(10)])
    entry = Memory("vault", "Passport number", {"entry_type": "id"}, secret="X1234567 passport of a secret")
    store.add([entry])
    store.build_indexes(vector_min_rows=1)
    row = store.table.search().where(f"id = '{entry.id}'").limit(1).to_arrow().to_pylist()[0]
    probes = [row["secret"][13:37], *sealed_probes(store, entry.id)]
    assert leaks(home, probes)

    store.delete([entry.id])

    assert not leaks(home, probes) and upkeep.pending_erase(store) == 0


@pytest.mark.slow  # 180 capture writes, the indexes and the upkeep
def test_upkeep_merges_what_capture_wrote_and_loses_nothing(store: MemoryStore, home: Path) -> None:
    frames = captured(store, 60)
    store.build_indexes(vector_min_rows=1)
    frames += captured(store, 30, first=60)      # rows after the indexes: in no index yet
    forgotten = frames[5]
    store.delete([forgotten.id])
    files_before = len(store.table.to_lance().get_fragments())

    report = upkeep.run_upkeep(store)

    assert report.files_rewritten >= 2 and len(store.table.to_lance().get_fragments()) < files_before
    reopened = MemoryStore.open(PASSPHRASE, home=home, embedder=HashEmbedder())
    for frame in frames:
        if frame is forgotten:
            assert reopened.get(frame.id) is None
            continue
        kept = reopened.get(frame.id)
        assert kept is not None and kept.text == frame.text and not kept.text_pending
        assert reopened.blobs.get(kept.fields["image_id"]) == f"pixels of screen {frames.index(frame)}".encode() * 20
    assert keyword_ids(reopened, "screen 42")[0] == frames[42].id
    assert keyword_ids(reopened, "screen 75")[0] == frames[75].id
    assert reopened.count("frame") == 89


def test_a_merge_never_brings_back_a_row_deleted_while_it_ran(store: MemoryStore, home: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    from lance.optimize import Compaction

    frames = [screen(i, "quokka" if i == 3 else "") for i in range(20)]
    store.add(frames[:10])
    store.add(frames[10:])
    store.build_indexes(vector_min_rows=1)
    store.delete([frames[1].id])
    late = frames[3]
    probes = sealed_probes(store, late.id)
    commit = Compaction.commit
    deleted_meanwhile = []

    def commit_after_a_forget(dataset, rewrites, options=None):  # type: ignore[no-untyped-def]
        if not deleted_meanwhile:  # the user forgets a row of a file being rewritten, before the commit
            deleted_meanwhile.append(store.delete([late.id]))
        return commit(dataset, rewrites, options)

    # The rewrite's commit is patched in this process: the rewrite runs here, not in its child (the same code).
    monkeypatch.setattr("storage.lance_apart.apart", lambda vector_indexed: False)
    monkeypatch.setattr(Compaction, "commit", staticmethod(commit_after_a_forget))
    report = upkeep.run_upkeep(store)

    assert deleted_meanwhile == [1] and report.erased and report.rows_erased == 2
    assert store.get(late.id) is None and keyword_ids(store, "quokka") == []
    assert not leaks(home, probes) and upkeep.pending_erase(store) == 0
    assert store.count() == 18


def test_upkeep_lets_capture_write_while_it_rewrites(store: MemoryStore, home: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    from lance.optimize import Compaction

    frames = [screen(i) for i in range(20)]
    store.add(frames[:10])
    store.add(frames[10:])
    store.build_indexes(vector_min_rows=1)
    store.delete([frames[2].id])
    commit = Compaction.commit
    written: list[list[str]] = []

    def commit_beside_a_capture(dataset, rewrites, options=None):  # type: ignore[no-untyped-def]
        if not written:  # another thread takes the writer lock without waiting, and writes a screen
            worker = threading.Thread(target=lambda: written.append(writer.add([screen(99, "platypus")])))
            worker.start()
            worker.join()
        return commit(dataset, rewrites, options)

    writer = MemoryStore.open(PASSPHRASE, home=home, embedder=HashEmbedder())
    writer._lock.wait_seconds = 0   # a write that would have to wait fails instead (WriterBusy)
    # The rewrite's commit is patched in this process: the rewrite runs here, not in its child (the same code).
    monkeypatch.setattr("storage.lance_apart.apart", lambda vector_indexed: False)
    monkeypatch.setattr(Compaction, "commit", staticmethod(commit_beside_a_capture))
    report = upkeep.run_upkeep(store)

    assert len(written) == 1 and report.erased and upkeep.pending_erase(store) == 0
    assert keyword_ids(store, "platypus") == written[0] and store.count() == 20


def test_the_hourly_job_erases_what_retention_removed(store: MemoryStore, home: Path) -> None:
    from app.capture.retention import RetentionPolicy
    from app.capture.service import hourly_upkeep

    old = captured(store, 5)
    store.add([Memory("frame", "this week's screen", {"monitor": 0}, time=T0 + timedelta(days=30))])
    probes = [p for frame in old for p in sealed_probes(store, frame.id)]
    pictures = [f.fields["image_id"] for f in old]

    retained, report = hourly_upkeep(store, RetentionPolicy(max_age_days=7), now=T0 + timedelta(days=31))

    assert retained.frames_removed == 5 and report.erased and not report.skipped
    assert not leaks(home, probes) and not set(pictures) & store.blobs.ids()
    assert [m.text for m in store.list_range(kinds=["frame"])] == ["this week's screen"]


def test_the_agents_erase_what_was_forgotten_for_someone_who_turned_capture_off(store: MemoryStore,
                                                                                 home: Path) -> None:
    from app.agent_service import AgentService, build_digester

    said = Memory("semantic", "the spare key is under the blue flowerpot by the back door")
    store.add([said, Memory("semantic", "the bins go out on Tuesday evenings")])
    probes = sealed_probes(store, said.id)
    store.delete([said.id])
    assert upkeep.pending_erase(store) == 1 and leaks(home, probes)
    service = AgentService(build_digester(store))  # what the app runs whether or not it captures screens
    # Its hourly job, run now in a thread of its own as the scheduler runs it: the job lowers its thread's
    # priority for good, which on this test's thread slowed every later test of the process (and failed one).
    job = threading.Thread(target=service._scheduler.get_job("upkeep").func)
    job.start()
    job.join(60)
    assert upkeep.pending_erase(store) == 0 and not leaks(home, probes)


def test_idle_agents_look_for_work_again_only_once_something_was_written(store: MemoryStore,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """Every 30 s the agents looked for rows to digest, a LanceDB query that kept ~100 MB of LanceDB's pages
    in the idle app's memory; with nothing written since they found nothing, they look only now and then."""
    from app import agent_service
    from app.agent_service import AgentService, build_digester

    service = AgentService(build_digester(store))
    runs = []
    run = service.digester.run
    monkeypatch.setattr(service.digester, "run", lambda **kw: runs.append(kw) or run(**kw))

    def digest() -> None:   # on a thread of its own, as the scheduler runs it (the job lowers its priority)
        job = threading.Thread(target=service._digest)
        job.start()
        job.join(60)

    store.add([Memory("message", "Ana: the boat leaves at nine", {"speaker": "Ana"})])
    digest()
    assert len(runs) == 1 and store.count_undigested() == 0
    digest()                                   # it wrote (digested): it looks again, and finds nothing
    digest()
    digest()
    assert len(runs) == 2
    store.add([Memory("message", "Rui: the cabin wifi is BlueFjord", {"speaker": "Rui"})])
    digest()
    assert len(runs) == 3 and store.count_undigested() == 0
    monkeypatch.setattr(agent_service, "LOOK_ANYWAY_SECONDS", 1e-6)         # another process may have written
    digest()
    assert len(runs) == 4


def test_one_upkeep_at_a_time(store: MemoryStore) -> None:
    store.add([screen(i) for i in range(3)])
    with WriterLock(store.root / ".upkeep.lock", 0).held():
        assert upkeep.run_upkeep(store).skipped
        with pytest.raises(WriterBusy):
            with upkeep.upkeep_lock(store.root, wait_seconds=0):
                pass


def open_files() -> int:
    return len(os.listdir("/proc/self/fd"))


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="counts open files through /proc")
def test_open_files_stay_flat_over_thousands_of_writes_and_hundreds_of_searches(store: MemoryStore) -> None:
    """2,400 capture writes (each a table version), 240 searches and two upkeeps: what once grew per table
    version would be hundreds of files here. The year-of-use fill counts its own open files over tens of
    thousands of writes (`year.fill.open_files_growth`); this is the check the suite can afford."""
    captured(store, 200)   # past the first index builds and merges
    store.search("screen 3 budget")
    baseline = open_files()
    counts = []
    for step in range(6):
        first = 200 + step * 200
        captured(store, 200, first=first)              # 400 writes: 200 frames, each written twice
        for query in range(40):
            store.search(f"screen {first + query * 5} budget report")
        if step % 3 == 2:
            upkeep.run_upkeep(store)
        counts.append(open_files())
    # Lance keeps a few files open per index it has read; what grew per table version once is flat now.
    assert max(counts) <= baseline + 40, (baseline, counts)
    assert counts[-1] <= max(counts[:3]) + 10, (baseline, counts)


def open_index_files(store: MemoryStore) -> list[str]:
    """This process's open files inside the store's indexes ("(deleted)" when gone from disk); other tests'
    stores in this process are theirs."""
    named = []
    for fd in os.listdir("/proc/self/fd"):
        try:
            named.append(os.readlink(f"/proc/self/fd/{fd}"))
        except OSError:  # closed meanwhile
            continue
    return [name for name in named if name.startswith(str(store.root)) and "/_indices/" in name]


@pytest.mark.slow  # each fold, merge and compaction of a vector-indexed table starts a child (~1 s)
@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="counts open files through /proc")
def test_a_vector_indexed_store_keeps_no_index_file_open_as_it_folds_merges_compacts_upkeeps_and_forgets(
        store: MemoryStore) -> None:
    """Lance 9's index optimisation and compaction leave the vector index files they read open, deleted
    ones too (18 per 1,000 screens on the year-of-use store, for the life of the process): they run in a
    child once the table has a vector index (storage/lance_apart.py); in-process, this finds them."""
    store.vector_index_min_rows = 300
    frames = []
    for batch in range(60):                           # ~2 folds of new rows, merges and compactions
        frames += [screen(batch * 30 + i) for i in range(30)]
        store.add(frames[-30:])
    assert store.has_vector_index()
    store.delete([f.id for f in frames[::9]])
    children = []
    run = subprocess.run
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(subprocess, "run", lambda *a, **kw: children.append(a) or run(*a, **kw))
        report = upkeep.run_upkeep(store)             # the hourly rewrite of files holding deleted rows
    # One child rewrites, one merges every index's pieces (one per index before: ~1 s each).
    assert len(children) == 2 and report.index_pieces_merged > 2, (children, report)
    assert all(store.table.index_stats(i.name).num_indices == 1 for i in store.table.list_indices())
    store.delete([f.id for f in frames[1::9]])
    store.purge()                                     # what forgetting ends with: every file rewritten
    assert open_index_files(store) == []
    assert store.search("screen 42 budget").hits     # the indexes the children wrote are whole


@pytest.mark.slow  # a vector index built, then 80 screens written as capture writes them
def test_capture_writes_to_a_vector_indexed_store_merge_their_files_without_a_child_or_an_open_index_file(
        store: MemoryStore, monkeypatch: pytest.MonkeyPatch) -> None:
    """Merging files a vector index covers must run in a child (~1 s to start); capture's writes merge only
    what was written since the last fold, in-process (a child every ~16 screens before), and leave the
    indexed ones to the hourly upkeep."""
    import subprocess

    from storage import store as store_module

    store.vector_index_min_rows = 300
    for batch in range(11):
        store.add([screen(batch * 30 + i) for i in range(30)])
    assert store.has_vector_index()
    children = []
    run = subprocess.run
    monkeypatch.setattr(subprocess, "run", lambda *a, **kw: children.append(a) or run(*a, **kw))
    frames = captured(store, 80, first=1_000)
    assert children == []
    unindexed = [f for f in store.table.to_lance().get_fragments()
                 if f.fragment_id not in upkeep.indexed_fragment_ids(store.table.to_lance())]
    assert len(unindexed) <= store_module._MAX_SMALL_FRAGMENTS + store_module._MERGE_EVERY, len(unindexed)
    assert open_index_files(store) == []
    assert store.search("screen 1042 budget", KEYWORD).hits[0].id == frames[42].id
    assert all(store.get(f.id).text == f.text for f in frames[::9])


def test_a_read_that_meets_files_the_upkeep_just_replaced_reads_again_and_real_damage_is_still_said(
        store: MemoryStore, monkeypatch: pytest.MonkeyPatch) -> None:
    """The upkeep drops old versions and their files the moment it has merged (forgotten text must leave the
    disk): a search or timeline read that began on the version before fails on a file that is gone. The
    error is Lance's own, taken from a reader that held the old version across a real upkeep."""
    from storage.store import StoreError

    frames = captured(store, 30)
    store.delete([f.id for f in frames[::7]])
    held = store.table.to_lance()
    upkeep.run_upkeep(store)
    with pytest.raises(Exception, match="Not found") as gone:  # noqa: PT011 - Arrow's error type varies
        held.to_table()
    search = store.table.search
    failures = {"left": 0}

    def meeting_replaced_files(*args, **kwargs):  # type: ignore[no-untyped-def]
        if failures["left"]:
            failures["left"] -= 1
            raise gone.value
        return search(*args, **kwargs)

    monkeypatch.setattr(store.table, "search", meeting_replaced_files)
    for read in (lambda: store.get(frames[1].id).text, lambda: len(store.list_range(kinds=["frame"], limit=100)),
                 lambda: store.search("screen 3 budget", KEYWORD).hits[0].id):
        failures["left"] = 1
        assert read() in (frames[1].text, 25, frames[3].id)
        assert failures["left"] == 0
    failures["left"] = 10                                   # a file that stays missing: said, as before
    with pytest.raises(StoreError, match="damaged"):
        store.search("screen 3 budget", KEYWORD)


@pytest.mark.slow  # a 2,100-row file rewritten while 120 screens are written
def test_a_screen_forgotten_while_the_upkeep_merges_stays_forgotten_however_much_is_written_meanwhile(
        store: MemoryStore, monkeypatch: pytest.MonkeyPatch) -> None:
    """The upkeep rewrites files as the version it began on holds them, and Lance learns what was forgotten
    or replaced meanwhile from the versions since: the write path keeps them while an upkeep runs (dropped,
    Lance committed the rewrite with the forgotten screen back in)."""
    import lance.optimize

    frames = [screen(i) for i in range(2_100)]
    store.add(frames)                 # one file too large for the write path's merging, as an import leaves
    store.delete([frames[0].id])      # something for the upkeep to erase from it
    doomed, planned, commit = frames[5], lance.optimize.Compaction.plan, lance.optimize.Compaction.commit
    meanwhile = []

    class Compaction:
        plan = staticmethod(planned)

        @staticmethod
        def commit(dataset, rewrites, options):  # type: ignore[no-untyped-def]
            if not meanwhile:                     # while the upkeep's rewrite is in flight
                store.delete([doomed.id])
                meanwhile.extend(captured(store, 120, first=1000))  # more commits than the write path keeps
            return commit(dataset, rewrites, options)

    monkeypatch.setattr(lance.optimize, "Compaction", Compaction)
    upkeep.run_upkeep(store)
    monkeypatch.undo()

    assert len(meanwhile) == 120
    assert store.get(doomed.id) is None and store.get(frames[0].id) is None
    assert store.count() == 2_100 - 2 + 120 and store.check_rows().ok


def test_a_check_of_the_whole_store_waits_for_a_running_upkeep_and_says_so(
        store: MemoryStore, capfd: pytest.CaptureFixture[str]) -> None:
    """`engram repair` reads every file of the store: not while an upkeep (or, through the same lock, the
    write path's dropping of old versions) could take files from under it and make that look like damage."""
    from storage.repair import diagnose

    captured(store, 20)
    held, release = threading.Event(), threading.Event()

    def upkeep_running() -> None:
        with upkeep.upkeep_lock(store.root, wait_seconds=0):
            held.set()
            release.wait(30)

    running = threading.Thread(target=upkeep_running)
    running.start()
    assert held.wait(10)
    threading.Timer(1.0, release.set).start()
    found = diagnose(store.root)
    running.join()
    assert not found.damaged and "waiting" in capfd.readouterr().err


def test_a_check_that_waited_in_vain_says_it_did_not_check(store: MemoryStore, monkeypatch: pytest.MonkeyPatch) -> None:
    from storage.locking import WriterBusy
    from storage.repair import diagnose

    captured(store, 3)
    monkeypatch.setattr("storage.repair.DEFAULT_WAIT_SECONDS", 0.2)
    with upkeep.upkeep_lock(store.root, wait_seconds=0):   # an upkeep that runs on (from this thread: flock is per open file)
        with pytest.raises(WriterBusy, match="so the store was not checked; try again"):
            diagnose(store.root)
