"""The capture pipeline's logic: tick -> filter -> encrypted frame -> OCR backlog -> searchable.

A real store, real image encoding and the real frame filter; the screen is replayed and the OCR is
a scripted fake here (the real engine is exercised in test_capture_e2e.py and test_ocr.py).
"""
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

from app.capture import pause
from app.capture.frame_filter import CaptureRules, FrameFilter
from app.capture.ocr_worker import OcrWorker, assemble_text
from app.capture.recorder import CaptureSettings, Recorder
from app.capture.retention import RetentionPolicy, enforce
from app.capture.screen import ReplayScreen
from app.capture.windows import NullWindows, WindowInfo
from app.capture.ocr import OcrResult, OcrWord
from storage.memory import Memory, Trust
from storage.search import SearchOptions
from storage.store import MemoryStore
from tests.locate import where

NOW = datetime(2026, 11, 25, 15, 30, tzinfo=timezone.utc)


def screen_with(lines: list[str], size=(800, 600)) -> Image.Image:
    image = Image.new("RGB", size, "white")
    draw = ImageDraw.Draw(image)
    for i, line in enumerate(lines):
        draw.text((20, 20 + 40 * i), line, fill="black")
    return image


def drawn_words(lines: list[str]) -> list[tuple[str, int, int, int, int]]:
    """Where screen_with() drew each word: (word, x, y, w, h)."""
    draw = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    out = []
    for i, line in enumerate(lines):
        at = 0
        for word in line.split():
            at = line.index(word, at)
            x = 20 + round(draw.textlength(line[:at]))
            out.append((word, x, 20 + 40 * i, round(draw.textlength(word)), 12))
            at += len(word)
    return out


class ScriptedOcr:
    """Knows which lines screen_with() drew where, finds where the image it is given sits on that
    screen (a crop, and lossy WebP, so by least difference) and 'reads' the lines inside it."""

    def __init__(self) -> None:
        self.calls: list[tuple[int, int]] = []
        self.lines: list[str] = []
        self.released = 0

    def release(self) -> None:
        self.released += 1

    def read(self, image: Image.Image) -> OcrResult:
        self.calls.append(image.size)
        crop = np.asarray(image.convert("L"))
        left, top = where(crop, np.asarray(screen_with(self.lines).convert("L")))
        words = []
        for word, x, y, w, h in drawn_words(self.lines):
            # Words wholly inside the crop are read; one cut by its edge is not (a real OCR garbles it).
            if left <= x and x + w <= left + crop.shape[1] and top <= y and y + h <= top + crop.shape[0]:
                words.append(OcrWord(word, (x - left, y - top, w, h), 0.99))
        return OcrResult(assemble_text(words), words)


class FakeWindows:
    def __init__(self) -> None:
        self.focus: WindowInfo | None = None
        self.others: list[WindowInfo] = []
        self.idle: float | None = 0.0
        self.locked = False

    def focused(self):
        return self.focus

    def visible(self):
        return ([self.focus] if self.focus else []) + self.others

    def idle_seconds(self):
        return self.idle

    def screen_locked(self):
        return self.locked


@pytest.fixture
def windows() -> FakeWindows:
    return FakeWindows()


def recorder_for(store: MemoryStore, images, windows) -> Recorder:
    return Recorder(store, ReplayScreen(images), windows, FrameFilter(CaptureRules()),
                    CaptureSettings(min_free_disk_mb=1))


def test_unchanged_screen_for_20_ticks_keeps_one_frame(store: MemoryStore, windows: FakeWindows) -> None:
    image = screen_with(["quarterly report draft"])
    recorder = recorder_for(store, [image] * 20, windows)
    outcomes = [recorder.tick(NOW) for _ in range(20)]
    assert outcomes.count("kept") == 1 and outcomes.count("duplicate") == 19
    assert store.count("frame") == 1


def test_kept_frame_is_encrypted_and_findable_after_ocr(store: MemoryStore, windows: FakeWindows, home: Path) -> None:
    lines = ["Flight confirmation ZXQ77", "Gate B12 boarding 14:05"]
    windows.focus = WindowInfo("thunderbird", "Inbox - Thunderbird", (0, 0, 800, 600))
    recorder_for(store, [screen_with(lines)], windows).tick(NOW)
    (frame,) = store.pending_text()
    assert frame.app == "thunderbird" and frame.title == "Inbox - Thunderbird" and frame.text_pending
    assert all(b"Thunderbird" not in p.read_bytes() for p in home.rglob("*") if p.is_file())
    ocr = ScriptedOcr()
    ocr.lines = lines
    assert OcrWorker(store, ocr).drain() == 1
    hit = store.search("flight confirmation", SearchOptions(k=1)).hits[0]
    assert hit.id == frame.id and hit.frame_id == frame.id and "ZXQ77" in store.get(frame.id).text
    assert store.get(frame.id).fields["boxes"][0][0] == "Flight"


def test_only_the_changed_rows_are_read_again(store: MemoryStore, windows: FakeWindows) -> None:
    before = ["a line that will change", "", "", "", "", "", "", "", "", "", "last line stays"]
    after = ["another, much longer line of text took its place entirely"] + before[1:]
    ocr = ScriptedOcr()
    recorder = recorder_for(store, [screen_with(before), screen_with(after)], windows)
    recorder.tick(NOW)
    ocr.lines = before
    OcrWorker(store, ocr).drain()
    recorder.tick(NOW + timedelta(seconds=3))
    ocr.lines = after
    OcrWorker(store, ocr).drain()
    assert ocr.calls[0] == (800, 600) and ocr.calls[1][1] < 200  # a band, not the whole screen
    latest = store.list_range(kinds=["frame"])[-1]
    assert latest.text == "another, much longer line of text took its place entirely\nlast line stays"
    # Carried and newly read words are stored in the text's order, so their words are not stored twice.
    assert [box[0] for box in latest.fields["boxes"]] == latest.text.split()
    row = store.table.search().where(f"id = '{latest.id}'").to_arrow().to_pylist()[0]
    assert '"gaps"' in store.codec.open_field(row, "body", []) and '"words"' not in store.codec.open_field(row, "body", [])


def test_a_word_typed_is_read_around_where_it_was_typed(store: MemoryStore, windows: FakeWindows) -> None:
    before = ["Dear Anna,", "the invoice for the garden works is", "", "Best, Tom"]
    after = ["Dear Anna,", "the invoice for the garden works is overdue since May", "", "Best, Tom"]
    ocr = ScriptedOcr()
    recorder = recorder_for(store, [screen_with(before), screen_with(after)], windows)
    for i, lines in enumerate((before, after)):
        assert recorder.tick(NOW + timedelta(seconds=3 * i)) == "kept"
        ocr.lines = lines
        OcrWorker(store, ocr).drain()
    width, height = ocr.calls[1]
    assert width < 400 and height < 100      # not the whole line across the screen: the new words and their neighbours
    assert store.list_range(kinds=["frame"])[-1].text == "\n".join(line for line in after if line)


def test_an_idle_ocr_worker_asks_the_store_again_only_once_something_was_written(
        store: MemoryStore, windows: FakeWindows, monkeypatch: pytest.MonkeyPatch) -> None:
    """It looks for frames to read every second: at idle each look was a LanceDB query, which kept ~100 MB of
    LanceDB's pages in the app's memory (app/idle_pages.py lets them go)."""
    ocr = ScriptedOcr()
    ocr.lines = ["some text"]
    worker = OcrWorker(store, ocr)
    asked = []
    pending = store.pending_text
    monkeypatch.setattr(store, "pending_text", lambda **kw: asked.append(kw) or pending(**kw))
    assert worker.drain() == 0 and len(asked) == 1
    assert worker.drain() == 0 and worker.drain() == 0 and len(asked) == 1    # nothing written since
    recorder_for(store, [screen_with(ocr.lines)], windows).tick(NOW)          # capture writes a frame
    assert worker.drain() == 1 and store.list_range(kinds=["frame"])[0].text == "some text"


def test_the_ocr_models_are_dropped_only_after_a_quiet_spell(store: MemoryStore, windows: FakeWindows,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    import app.capture.ocr_worker as ocr_worker

    clock = [1000.0]
    monkeypatch.setattr(ocr_worker.time, "monotonic", lambda: clock[0])
    ocr = ScriptedOcr()
    ocr.lines = ["some text"]
    worker = OcrWorker(store, ocr)
    recorder_for(store, [screen_with(ocr.lines)], windows).tick(NOW)
    assert worker.drain() == 1 and ocr.released == 0
    frame_id = store.list_range(kinds=["frame"])[0].id
    assert store.rendered.get(frame_id) is not None            # kept for the next frame, stored over it
    clock[0] += ocr_worker.RELEASE_AFTER_SECONDS - 1
    assert worker.drain() == 0 and ocr.released == 0          # a short lull: keep the models
    clock[0] += 2
    assert worker.drain() == 0 and ocr.released == 1          # a quiet minute: give the memory back
    assert store.rendered.get(frame_id) is None
    clock[0] += 5
    assert worker.drain() == 0 and ocr.released == 1          # once a quiet spell, not every second after
    recorder_for(store, [screen_with(["other text"])], windows).tick(NOW + timedelta(seconds=3))
    assert worker.drain() == 1
    clock[0] += ocr_worker.RELEASE_AFTER_SECONDS + 1
    assert worker.drain() == 0 and ocr.released == 2          # the next quiet spell lets go again


def test_focused_private_window_stores_nothing(store: MemoryStore, windows: FakeWindows, home: Path) -> None:
    windows.focus = WindowInfo("firefox", "Secret Canary Page — Mozilla Firefox Private Browsing", (0, 0, 800, 600))
    recorder = recorder_for(store, [screen_with(["Canary42 secret"])], windows)
    assert recorder.tick(NOW) == "excluded"
    assert store.count() == 0 and not (home / "blobs").exists() or not any((home / "blobs").rglob("*"))


def test_visible_excluded_window_is_blacked_out_in_the_stored_image(store: MemoryStore, windows: FakeWindows) -> None:
    from storage.frame_pictures import picture

    windows.focus = WindowInfo("gedit", "notes.txt", (0, 0, 400, 600))
    windows.others = [WindowInfo("keepassxc", "Passwords.kdbx - KeePassXC", (400, 0, 400, 300))]
    recorder_for(store, [screen_with(["left side text"] * 12)], windows).tick(NOW)
    (frame,) = store.list_range(kinds=["frame"])
    stored = picture(store, frame).convert("L")
    assert stored.crop((405, 5, 795, 295)).getextrema() == (0, 0) or stored.crop((405, 5, 795, 295)).getextrema()[1] < 8
    assert stored.crop((405, 305, 795, 595)).getextrema()[1] > 200  # below it: untouched


@pytest.mark.parametrize("state, expected", [("idle", "idle"), ("locked", "locked"), ("paused", "paused")])
def test_no_capture_when_away_locked_or_paused(store: MemoryStore, windows: FakeWindows, home: Path,
                                               state: str, expected: str) -> None:
    windows.idle = 3600.0 if state == "idle" else 1.0
    windows.locked = state == "locked"
    if state == "paused":
        pause.pause(15)
    recorder = recorder_for(store, [screen_with(["x"])] * 2, windows)
    assert recorder.tick() == expected and store.count() == 0
    pause.resume()
    windows.idle, windows.locked = 0.0, False
    assert recorder.tick() == "kept"


def test_pause_expires_and_survives_in_a_file(home: Path) -> None:
    pause.pause(15)
    assert isinstance(pause.paused_until(), datetime)
    assert pause.paused_until(datetime.now(timezone.utc) + timedelta(minutes=16)) is None
    pause.pause(None)
    assert pause.paused_until() == pause.FOREVER
    pause.resume()
    assert pause.paused_until() is None


def test_without_window_information_nothing_is_captured_unless_allowed(store: MemoryStore) -> None:
    image = screen_with(["a private window could be on this screen"])
    refusing = Recorder(store, ReplayScreen([image]), NullWindows(), settings=CaptureSettings(min_free_disk_mb=1))
    assert refusing.tick() == "no window info" and "exclusions" in refusing.stopped_reason
    assert store.count() == 0
    allowed = Recorder(store, ReplayScreen([image]), NullWindows(),
                       settings=CaptureSettings(min_free_disk_mb=1, allow_without_window_info=True))
    assert allowed.tick() == "kept"


def test_low_disk_stops_capture_with_a_reason(store: MemoryStore, windows: FakeWindows) -> None:
    recorder = Recorder(store, ReplayScreen([screen_with(["x"])]), windows,
                        settings=CaptureSettings(min_free_disk_mb=10**12))
    assert recorder.tick() == "low disk" and "disk almost full" in recorder.stopped_reason
    assert store.count() == 0


def test_retention_removes_oldest_frames_first_and_their_files(store: MemoryStore, windows: FakeWindows,
                                                               home: Path) -> None:
    images = [screen_with([f"screen {i} " + "lorem ipsum " * (2 * i + 1)] * 12) for i in range(6)]
    recorder = recorder_for(store, images, windows)
    assert [recorder.tick(NOW - timedelta(days=10 - i)) for i in range(6)] == ["kept"] * 6
    newest = store.list_range(kinds=["frame"])[3:]
    budget = sum(next(home.rglob(f.fields[k])).stat().st_size for f in newest for k in ("image_id", "thumb_id"))
    report = enforce(store, RetentionPolicy(max_bytes=budget, max_age_days=0), now=NOW, batch=1)
    assert report.frames_removed == 3
    remaining = store.list_range(kinds=["frame"])
    assert [round((NOW - f.time).days) for f in remaining] == [7, 6, 5]
    assert len(store.blobs.ids()) == 6  # image + thumbnail of the 3 newest
    assert enforce(store, RetentionPolicy(max_age_days=6), now=NOW).frames_removed == 1  # exactly 6 days old stays
    assert [round((NOW - f.time).days) for f in store.list_range(kinds=["frame"])] == [6, 5]


def test_text_only_keeps_one_row_per_screen_and_every_line_it_showed(store: MemoryStore) -> None:
    def frame(minute: float, title: str, lines: list[str], digested: bool = True) -> Memory:
        blob = store.blobs.put(b"an encrypted picture")
        return Memory("frame", "\n".join(lines), {"monitor": 0, "image_id": blob, "thumb_id": store.blobs.put(b"t"),
                                                 "boxes": [[lines[0], 1, 2, 3, 4]]},
                      time=NOW - timedelta(days=9, minutes=-minute), app="writer", title=title, trust=Trust.OBSERVED,
                      digested=NOW if digested else None)

    typing = [frame(0, "letter.odt", ["Dear Anna,"]),
              frame(0.05, "letter.odt", ["Dear Anna,", "the invoice Nr 4471 is late"]),
              frame(0.1, "letter.odt", ["Dear Anna,", "the invoice is late", "Best, Tom"])]
    other = frame(0.15, "Inbox", ["Budget review moved", "Lunch on Friday"])
    waiting = frame(0.2, "Inbox", ["Budget review moved", "Lunch on Friday", "New: flight ZX77"], digested=False)
    fact = Memory("semantic", "Invoice 4471 is late", {"name": "invoice 4471"}, source_kind="screen",
                  source_ids=[f"frame:{typing[1].id}", f"frame:{typing[2].id}", f"frame:{other.id}"])
    store.add(typing + [other, waiting, fact])
    report = enforce(store, RetentionPolicy(max_age_days=0, text_only_after_days=7), now=NOW)
    assert report.images_dropped == 4
    rows = store.list_range(kinds=["frame"])
    assert [r.title for r in rows] == ["letter.odt", "Inbox", "Inbox"]
    letter = rows[0]
    # The last state first, then what only earlier screens showed (the deleted invoice number too).
    assert letter.text == "Dear Anna,\nthe invoice is late\nBest, Tom\nthe invoice Nr 4471 is late"
    assert letter.id == typing[0].id and letter.time == typing[0].time and letter.ended == typing[2].time
    assert letter.fields == {"monitor": 0, "screens": 3}
    assert rows[1].fields == {"monitor": 0, "screens": 1}
    assert rows[2].fields.get("image_id") == waiting.fields["image_id"]        # not taken in by the agents yet
    assert set(store.blobs.ids()) == {waiting.fields["image_id"], waiting.fields["thumb_id"]}
    hit = store.search("4471", SearchOptions(kinds=["frame"])).hits[0]
    assert hit.id == letter.id
    # The fact made from two merged screens now names the screen they became, once.
    assert store.get(fact.id).source_ids == [f"frame:{letter.id}", f"frame:{other.id}"]
    assert enforce(store, RetentionPolicy(max_age_days=0, text_only_after_days=7), now=NOW).images_dropped == 0


def test_text_only_merges_a_screen_read_a_little_differently_but_not_another_page() -> None:
    from app.capture.retention import merge_run, screen_runs

    def frame(second: int, text: str) -> Memory:
        return Memory("frame", text, {"monitor": 0}, time=NOW + timedelta(seconds=second), app="firefox",
                      title="Docs", trust=Trust.OBSERVED)

    page = "Release notes for version 4.2\nThe importer now reads CSV files\nFixed a crash on startup"
    # The same page read again: a letter misread, one line broken in two, one line scrolled in.
    again = ("Release notes for versi0n 4.2\nThe importer now reads\nCSV files\nFixed a crash on startup\n"
             "Known issue: proxy settings")
    other = "Pricing\nTeam plan per seat\nEnterprise contact sales"
    runs = screen_runs([frame(0, page), frame(3, again), frame(6, other)])
    assert [len(run) for run in runs] == [2, 1]
    # Every word either read stays findable, each line variant only once.
    assert merge_run(runs[0]).text == again + "\nRelease notes for version 4.2"


def test_quiet_hours_parse_and_cover_the_right_times() -> None:
    from app.capture.quiet_hours import is_quiet, parse_range, parse_schedule

    evenings = parse_schedule(["18:00-08:00"])
    thursday = datetime(2026, 11, 26, 0, 0)             # a Thursday
    assert is_quiet(evenings, thursday.replace(hour=23)) and is_quiet(evenings, thursday.replace(hour=7, minute=59))
    assert not is_quiet(evenings, thursday.replace(hour=8)) and not is_quiet(evenings, thursday.replace(hour=17, minute=59))
    weekend = parse_schedule(["Sat,Sun 00:00-24:00"])
    assert is_quiet(weekend, datetime(2026, 11, 28, 12, 0)) and not is_quiet(weekend, datetime(2026, 11, 27, 23, 59))
    friday_night = parse_range("Fri 22:00-02:00")        # belongs to Friday, ends on Saturday
    assert friday_night.covers(datetime(2026, 11, 28, 1, 0)) and not friday_night.covers(datetime(2026, 11, 27, 1, 0))
    assert parse_range("Mon-Fri 12:00-13:00").days == frozenset(range(5))
    assert parse_range("Sat-Mon 10:00-11:00").days == frozenset({5, 6, 0})
    for bad in ("18-08", "Funday 10:00-11:00", "25:00-26:00", "10:00-10:00"):
        with pytest.raises(ValueError, match="quiet hours"):
            parse_range(bad)


def test_no_frame_in_quiet_hours_or_of_a_monitor_left_out(store: MemoryStore, windows: FakeWindows) -> None:
    from app.capture.quiet_hours import parse_schedule
    from app.capture.screen import Monitor

    class TwoMonitors(ReplayScreen):
        def monitors(self):
            return [Monitor(0, 0, 0, 800, 600), Monitor(1, 800, 0, 800, 600)]

    local_noon = datetime.now().astimezone().replace(hour=12, minute=0)
    screens = [screen_with([f"screen {i}"]) for i in range(4)]
    recorder = Recorder(store, TwoMonitors(screens), windows, FrameFilter(CaptureRules()),
                        CaptureSettings(min_free_disk_mb=1, quiet_hours=parse_schedule(["11:30-12:30"]), monitors=(2,)))
    assert recorder.tick(local_noon) == "quiet hours" and recorder.quiet(local_noon)
    assert recorder.tick(local_noon.replace(hour=13)) == "kept"
    assert [f.fields["monitor"] for f in store.list_range(kinds=["frame"])] == [1]   # only the second monitor


def busy_screen(lines: list[str]) -> Image.Image:
    """A screen with texture everywhere (so a whole picture costs what a real one does) and text rows."""
    rng = np.random.default_rng(7)
    noise = rng.integers(150, 255, size=(600, 800, 3), dtype=np.uint8)
    image = Image.fromarray(noise)
    draw = ImageDraw.Draw(image)
    for i, line in enumerate(lines):
        draw.rectangle((10, 15 + 40 * i, 790, 40 + 40 * i), fill="white")
        draw.text((20, 20 + 40 * i), line, fill="black")
    return image


def difference(a: Image.Image, b: Image.Image) -> float:
    return float(np.abs(np.asarray(a.convert("L"), dtype=np.float32) - np.asarray(b.convert("L"), dtype=np.float32)).mean())


def typed_frames(store: MemoryStore, windows: FakeWindows, count: int = 3) -> tuple[list[Image.Image], list[Memory]]:
    """A busy screen whose rows are retyped one frame after another; the third frame changes two rows."""
    lines = [f"line {i} of the report" for i in range(12)]
    screens = [busy_screen(lines)]
    edits = [(3, "line 3 now says something else"), (10, "an entirely different and much longer line ten, typed now"),
             (9, "row nine was retyped from its first word to its very last"),
             (6, "six is now a long line of freshly typed words as well"),
             (8, "line eight is new and says a great deal more than before"),
             (5, "five: another sentence typed in full, word after word"),
             (7, "seven, changed into a line as long as the ones above it")]
    for i in range(1, count):
        row, text = edits[i - 1]
        lines = list(lines)
        lines[row] = text
        if i == 2:
            lines[1] = "and line one too"
        screens.append(busy_screen(lines))
    recorder = recorder_for(store, screens, windows)
    assert [recorder.tick(NOW + timedelta(seconds=3 * i)) for i in range(count)] == ["kept"] * count
    return screens, store.list_range(kinds=["frame"])


def test_small_changes_are_stored_as_patches_that_rebuild_the_screen(store: MemoryStore, windows: FakeWindows) -> None:
    from storage.frame_pictures import picture

    screens, (key, second, third) = typed_frames(store, windows)
    assert "key" not in key.fields and second.fields["key"] == key.id and third.fields["key"] == second.id
    assert len(third.fields["patches"]) == 2                       # two changed rows, not one box spanning both
    assert all(h <= 16 for _x, _y, _w, h in third.fields["patches"])  # the glyphs' rows, not the 60-pixel cells
    sizes = {f.id: len(store.blobs.get(f.fields["image_id"])) for f in (key, second, third)}
    assert sizes[second.id] < sizes[key.id] / 5 and sizes[third.id] < sizes[key.id] / 3
    store.rendered.clear()
    for frame, screen in zip((third, second, key), screens[::-1]):  # newest first: each walks its chain
        assert difference(picture(store, frame), screen) < 4       # WebP's loss only
    assert difference(picture(store, third), screens[0]) > difference(picture(store, third), screens[2])
    # The OCR worker reads the rebuilt screen: the changed row is read on the patch frame.
    ocr = ScriptedOcr()
    ocr.lines = [f"line {i} of the report" for i in range(12)]
    OcrWorker(store, ocr).drain(limit=1)
    ocr.lines = ocr.lines[:3] + ["line 3 now says something else"] + ocr.lines[4:]
    OcrWorker(store, ocr).drain(limit=1)
    assert "line 3 now says something else" in store.get(second.id).text


def test_a_chain_ends_when_its_patches_weigh_as_much_as_its_key_frame(store: MemoryStore, windows: FakeWindows,
                                                                     monkeypatch) -> None:
    from app.capture import recorder as recorder_module
    from storage.frame_pictures import picture

    screens, frames = typed_frames(store, windows, count=8)
    assert all("key" in f.fields for f in frames[1:])            # small edits: one chain at the default budget
    store.rendered.clear()
    assert difference(picture(store, frames[-1]), screens[-1]) < 4
    size = {f.id: len(store.blobs.get(f.fields["image_id"])) for f in frames}
    budget = 2.5 * max(size[f.id] for f in frames[1:]) / size[frames[0].id]   # room for two or three patches
    store.delete([f.id for f in frames])

    monkeypatch.setattr(recorder_module, "CHAIN_BYTES", budget)
    screens, frames = typed_frames(store, windows, count=8)
    size = {f.id: len(store.blobs.get(f.fields["image_id"])) for f in frames}
    chains: list[list[Memory]] = []
    for frame in frames:
        if "key" in frame.fields:
            assert frame.fields["key"] == chains[-1][-1].id
            chains[-1].append(frame)
        else:
            chains.append([frame])
    assert len(chains) >= 2
    for key, *patches in chains:
        assert sum(size[p.id] for p in patches) <= budget * size[key.id]
    for frame, screen in zip(frames, screens):
        assert difference(picture(store, frame), screen) < 4


def test_reading_a_chain_backwards_fetches_its_frames_once(store: MemoryStore, windows: FakeWindows,
                                                          monkeypatch) -> None:
    from storage.frame_pictures import picture

    screens, frames = typed_frames(store, windows, count=8)
    store.rendered.clear()
    fetched = []
    for name in ("get", "frame_fields"):
        real = getattr(store, name)
        monkeypatch.setattr(store, name, lambda *a, real=real, name=name: fetched.append(name) or real(*a))
    for frame, screen in zip(frames[::-1], screens[::-1]):
        assert difference(picture(store, frame), screen) < 4
    assert fetched == ["frame_fields"]        # one query for the chain's links, then all from memory


def test_a_stale_link_kept_in_memory_is_dropped_and_the_chain_walked_again(store: MemoryStore,
                                                                          windows: FakeWindows) -> None:
    from storage.frame_pictures import Link, picture

    screens, (key, second, third) = typed_frames(store, windows)
    store.rendered.clear()
    store.rendered.remember(Link(second.id, "0" * 32, key.id, ((0, 0, 10, 10),), (800, 600)))  # its file since replaced
    assert difference(picture(store, third), screens[2]) < 4


def test_a_chain_is_at_most_max_chain_frames_long(store: MemoryStore, windows: FakeWindows, monkeypatch) -> None:
    from app.capture import recorder as recorder_module

    monkeypatch.setattr(recorder_module, "MAX_CHAIN", 2)
    _, frames = typed_frames(store, windows, count=6)
    assert ["key" in f.fields for f in frames] == [False, True, True, False, True, True]


def test_drawn_screens_are_stored_exactly_and_photographs_lossy_whichever_is_smaller() -> None:
    import io

    from storage.frame_pictures import decode, webp

    def lossless_size(image: Image.Image) -> int:
        out = io.BytesIO()
        image.save(out, "WEBP", lossless=True, quality=50, method=4)
        return len(out.getvalue())

    text = screen_with([f"line {i}: the quarterly report, page two, is due on Friday" for i in range(14)])
    stored = webp(text, 60)
    assert np.array_equal(np.asarray(decode(stored).convert("RGB")), np.asarray(text))   # exact: OCR reads what was shown
    out = io.BytesIO()
    text.save(out, "WEBP", quality=60, method=4)
    assert len(stored) <= len(out.getvalue())
    photo = Image.fromarray(np.random.default_rng(3).integers(0, 255, size=(300, 400, 3), dtype=np.uint8))
    assert len(webp(photo, 60)) < lossless_size(photo) / 2 and not np.array_equal(
        np.asarray(decode(webp(photo, 60)).convert("RGB")), np.asarray(photo))


def test_patches_of_screens_stored_at_half_size_rebuild_them(store: MemoryStore, windows: FakeWindows) -> None:
    from storage.frame_pictures import picture

    lines = [f"line {i} of the report" for i in range(12)]
    screens = [busy_screen(lines), busy_screen(lines[:5] + ["line five was retyped from start to end"] + lines[6:])]
    recorder = Recorder(store, ReplayScreen(screens), windows, FrameFilter(CaptureRules()),
                        CaptureSettings(min_free_disk_mb=1, image_scale=0.5))
    assert [recorder.tick(NOW + timedelta(seconds=3 * i)) for i in range(2)] == ["kept", "kept"]
    key, patched = store.list_range(kinds=["frame"])
    assert patched.fields["key"] == key.id and patched.fields["size"] == [400, 300]
    store.rendered.clear()
    half = screens[1].resize((400, 300), Image.Resampling.LANCZOS)
    assert difference(picture(store, patched), half) < 4


def test_a_large_change_starts_a_new_key_frame(store: MemoryStore, windows: FakeWindows) -> None:
    screens = [busy_screen(["a"]), busy_screen([f"other screen row {i}" for i in range(14)])]
    recorder = recorder_for(store, screens, windows)
    assert [recorder.tick(NOW + timedelta(seconds=3 * i)) for i in range(2)] == ["kept"] * 2
    assert all("key" not in f.fields for f in store.list_range(kinds=["frame"]))


def forget(store: MemoryStore, frame: Memory, how: str) -> None:
    """Remove a frame's picture the way the user or retention does."""
    if how == "frame":
        assert store.delete([frame.id]) == 1
    elif how == "range":
        assert store.delete_range(frame.time, frame.time + timedelta(seconds=1), kinds=["frame"]) == 1
    else:
        read = store.get(frame.id)
        read.text, read.text_pending = "line 0 of the report", False
        store.save([read])
        store.mark_digested([frame.id])
        enforce(store, RetentionPolicy(max_age_days=0, text_only_after_days=1),
                now=frame.time + timedelta(days=1, seconds=1))
        assert store.get(frame.id) is not None and not store.get(frame.id).fields.get("image_id")


@pytest.mark.parametrize("how", ["frame", "range", "text only"])
def test_forgetting_a_key_frame_keeps_the_screens_after_it(store: MemoryStore, windows: FakeWindows,
                                                                   how: str) -> None:
    from storage.frame_pictures import picture

    screens, (key, second, third) = typed_frames(store, windows)
    key_files = {key.fields["image_id"], key.fields["thumb_id"]}
    picture(store, third)  # built and kept in memory: forgetting must drop it too
    forget(store, key, how)
    rebased = [store.get(second.id), store.get(third.id)]
    assert "key" not in rebased[0].fields and "patches" not in rebased[0].fields   # the next screen is whole now
    assert rebased[1].fields == third.fields                                       # the one after is untouched
    assert store.rendered.get(third.id) is None
    for frame, screen in zip(rebased, screens[1:]):
        assert difference(picture(store, frame), screen) < 4
    files = store.blobs.ids()
    assert not files & key_files and second.fields["image_id"] not in files     # the key's pixels are gone


@pytest.mark.parametrize("how", ["frame", "range", "text only"])
def test_forgetting_a_screen_inside_a_chain_stores_the_next_over_the_one_before(
        store: MemoryStore, windows: FakeWindows, how: str) -> None:
    from storage.frame_pictures import picture

    screens, (key, second, third, fourth) = typed_frames(store, windows, count=4)
    forget(store, second, how)
    after = store.get(third.id)
    assert after.fields["key"] == key.id                                # over the screen before the forgotten one
    assert len(after.fields["patches"]) == 3                             # its own two rows and the forgotten one's
    assert store.get(fourth.id).fields == fourth.fields
    store.rendered.clear()
    for frame, screen in ((after, screens[2]), (store.get(fourth.id), screens[3])):
        assert difference(picture(store, frame), screen) < 4
    assert second.fields["image_id"] not in store.blobs.ids() and third.fields["image_id"] not in store.blobs.ids()


def test_patches_stored_over_one_key_frame_before_chains_are_rebased_onto_the_first(store: MemoryStore) -> None:
    """Stores written before chains hold groups of frames each patched over the same key frame."""
    from storage.frame_pictures import merge_rects, pack, picture, webp

    screens = [busy_screen([f"row {i}" for i in range(12)]),
               busy_screen(["row 0", "row one changed"] + [f"row {i}" for i in range(2, 12)]),
               busy_screen(["row 0", "row one changed"] + [f"row {i}" for i in range(2, 9)] + ["nine changed", "row 10", "row 11"])]
    band = [(0, 50, 800, 40)], [(0, 50, 800, 40), (0, 370, 800, 40)]
    key = Memory("frame", "", {"monitor": 0, "image_id": store.blobs.put(webp(screens[0], 60))}, time=NOW)
    group = [Memory("frame", "", {"monitor": 0, "image_id": store.blobs.put(webp(pack(screen, merge_rects(rects)), 60)),
                                  "key": key.id, "patches": [list(r) for r in merge_rects(rects)], "size": [800, 600]},
                    time=NOW + timedelta(seconds=3 * (i + 1)))
             for i, (screen, rects) in enumerate(zip(screens[1:], band))]
    store.add([key, *group])
    assert store.delete([key.id]) == 1
    first, other = store.get(group[0].id), store.get(group[1].id)
    assert "key" not in first.fields and other.fields["key"] == first.id
    for frame, screen in ((first, screens[1]), (other, screens[2])):
        assert difference(picture(store, frame), screen) < 4


def test_changes_scattered_all_over_are_read_as_a_few_bands_across_the_screen() -> None:
    from app.capture.ocr_worker import _bands

    few = _bands([[100, 100, 30, 20], [600, 400, 30, 20]], 1920, 1080)
    assert len(few) == 2 and all(w < 200 for _x, _y, w, _h in few)       # around each change
    cells = [[60 * (i % 30), 36 * (i // 30), 20, 10] for i in range(300)]  # a sheet recalculating
    many = _bands(cells, 1920, 1080)
    assert len(many) < 30 and all((x, w) == (0, 1920) for x, _y, w, _h in many)


def test_the_moving_picture_setting_reaches_the_filter(store: MemoryStore, windows: FakeWindows) -> None:
    from app.capture.factory import build_capture
    from storage.config import Config

    screen = ReplayScreen([screen_with(["x"])])
    assert build_capture(store, screen, windows)[0].filter.moving_seconds == 60.0
    config = Config.load()
    config.set("capture.moving_picture_seconds", 0)  # every frame of a video, as before
    config.save()
    assert build_capture(store, screen, windows)[0].filter.moving_seconds == 0.0


class SlowScreen(ReplayScreen):
    """Its second grab takes until `release` is set: a tick that overruns the next ones."""

    def __init__(self, images) -> None:
        import threading

        super().__init__(images)
        self.release = threading.Event()

    def grab(self, monitor):
        if self._next >= 1:
            self.release.wait(20)
        return super().grab(monitor)


def test_ticks_skipped_while_one_runs_are_counted_not_printed(store: MemoryStore, windows: FakeWindows,
                                                               caplog, capfd) -> None:
    """Issue 21: 1,756 'maximum number of running instances reached' lines an hour on stderr, the
    dropped ticks counted nowhere. Counted and shown as capture health instead."""
    import logging
    import time

    from app.capture.service import CaptureService

    caplog.set_level(logging.INFO)
    screen = SlowScreen([screen_with(["first screen"]), screen_with(["second screen"])])
    windows.focus = WindowInfo("Writer", "notes - Writer", (0, 0, 800, 600))
    recorder = Recorder(store, screen, windows, FrameFilter(CaptureRules()), CaptureSettings(min_free_disk_mb=1))
    service = CaptureService(recorder, OcrWorker(store, ScriptedOcr()), RetentionPolicy(), interval_seconds=0.05)
    service.start()
    try:
        deadline = time.monotonic() + 20
        while service.health().dropped < 3 and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        screen.release.set()
        service.stop()
    health = service.health()
    assert health.dropped >= 3 and health.last_capture is not None and health.disk_bytes
    assert "maximum number of running instances" not in caplog.text + capfd.readouterr().err
    assert "Running job" not in caplog.text                     # nor a line per tick in the log


def _words_at(lines: list[tuple[int, int, str]], height: int = 14) -> list[OcrWord]:
    """OcrWords for lines of text drawn at (x, y), 8 px a character."""
    out = []
    for x, y, text in lines:
        at = 0
        for word in text.split():
            at = text.index(word, at)
            out.append(OcrWord(word, (x + 8 * at, y, 8 * len(word), height), 0.9))
            at += len(word)
    return out


def test_text_reads_window_by_window_and_column_by_column_but_a_table_by_rows() -> None:
    """Issue 15.9: the text of two windows side by side was interleaved line by line."""
    from app.capture.ocr_worker import reading_order

    def text(words: list[OcrWord], windows=()) -> list[str]:
        return [" ".join(w.text for w in line) for line in reading_order(words, windows)]

    left = [(20, 40 + 30 * i, line) for i, line in enumerate(["Hotel: Casa do Alecrim", "Check-in after 15:00"])]
    right = [(620, 40 + 30 * i, line) for i, line in enumerate(["async def fetch_invoices(client):", "return rows"])]
    panel = [(1200, 2, "10:14")]
    # Lines at the same heights: the windows' boxes (bottom to top, as captured) say whose a word is.
    assert text(_words_at(left + right + panel), [[600, 20, 600, 400], [0, 20, 580, 400]]) == [
        "Hotel: Casa do Alecrim", "Check-in after 15:00", "async def fetch_invoices(client):", "return rows", "10:14"]
    # No window information, lines at other heights: a gutter running the full height parts two columns.
    shifted = [(x, y + 15, line) for x, y, line in right]
    assert text(_words_at(left + shifted)) == [
        "Hotel: Casa do Alecrim", "Check-in after 15:00", "async def fetch_invoices(client):", "return rows"]
    # A table's columns share their rows: it is read row by row.
    table = [(20, 40, "Travel"), (400, 40, "3,100"), (20, 70, "Hotels"), (400, 70, "1,240"), (20, 100, "Food"),
             (400, 100, "610")]
    assert text(_words_at(table)) == ["Travel 3,100", "Hotels 1,240", "Food 610"]


def _vector(store: MemoryStore, frame_id: str) -> list[float]:
    return store.table.search().where(f"id = '{frame_id}'").limit(1).to_arrow().to_pylist()[0]["vector"]


def _embedded_texts(store: MemoryStore) -> list[str]:
    return [text for call in store.embedder.calls for text in call]


def test_a_clock_ticking_is_not_embedded_again_and_a_real_change_is(store: MemoryStore,
                                                                   windows: FakeWindows) -> None:
    """Issue 21.5: each kept frame's whole text was embedded again, though only the clock had moved."""
    page = ["Release notes for the backup command", "restore keeps every passphrase"]
    ticks = ["21:45:07", "21:45:10", "21:45:13"]
    shown = [page + [t] for t in ticks] + [page[:1] + ["quokka sightings", "21:45:16"]]
    # Every tick kept (a low threshold), to see what reading each one costs.
    recorder = Recorder(store, ReplayScreen([screen_with(lines) for lines in shown]), windows,
                        FrameFilter(threshold=0.01, ticking_seconds=0), CaptureSettings(min_free_disk_mb=1))
    ocr = ScriptedOcr()
    worker = OcrWorker(store, ocr)
    for i, lines in enumerate(shown):
        assert recorder.tick(NOW + timedelta(seconds=3 * i)) == "kept"
        ocr.lines = lines
        store.embedder.calls.clear()
        assert worker.drain() == 1
        embedded = _embedded_texts(store)
        assert embedded == ([] if i in (1, 2) else ["\n".join(lines)]), i
    first, second, third, changed = store.list_range(kinds=["frame"])
    assert _vector(store, second.id) == _vector(store, first.id) == _vector(store, third.id)
    assert _vector(store, changed.id) != _vector(store, first.id)
    # Nothing lost: each screen keeps its own text (its clock), found by keyword; the change by both.
    assert [f.text.splitlines()[-1] for f in (first, second, third, changed)] == ticks + ["21:45:16"]
    assert store.search("21:45:13", SearchOptions(k=1)).hits[0].id == third.id
    assert store.search("quokka", SearchOptions(k=1)).hits[0].id == changed.id


def test_a_ticking_screen_whose_previous_frame_is_gone_is_embedded(store: MemoryStore, windows: FakeWindows) -> None:
    page = ["Release notes for the backup command"]
    recorder = Recorder(store, ReplayScreen([screen_with(page + [t]) for t in ("21:45:07", "21:45:10")]), windows,
                        FrameFilter(threshold=0.01, ticking_seconds=0), CaptureSettings(min_free_disk_mb=1))
    ocr = ScriptedOcr()
    worker = OcrWorker(store, ocr)
    recorder.tick(NOW)
    ocr.lines = page + ["21:45:07"]
    worker.drain()
    recorder.tick(NOW + timedelta(seconds=3))
    (first,) = [f for f in store.list_range(kinds=["frame"]) if not f.text_pending]
    store.delete([first.id])  # forgotten meanwhile: its vector cannot be taken
    ocr.lines = page + ["21:45:10"]
    store.embedder.calls.clear()
    assert worker.drain() == 1
    assert _embedded_texts(store) == ["\n".join(page + ["21:45:10"])]


@pytest.mark.slow
def test_with_the_real_model_a_ticking_clock_keeps_the_meaning_of_the_screen(home: Path, windows: FakeWindows,
                                                                            real_embedder) -> None:
    from conftest import FAST_KDF, PASSPHRASE

    store, _ = MemoryStore.create(PASSPHRASE, home=home, embedder=real_embedder, kdf_seconds=FAST_KDF)
    page = ["Release notes for the backup command", "restore keeps every passphrase"]
    shown = [page + ["21:45:07"], page + ["21:45:10"], ["Lunch order for the team offsite", "21:45:13"]]
    recorder = Recorder(store, ReplayScreen([screen_with(lines) for lines in shown]), windows,
                        FrameFilter(threshold=0.01, ticking_seconds=0), CaptureSettings(min_free_disk_mb=1))
    ocr = ScriptedOcr()
    worker = OcrWorker(store, ocr)
    for i, lines in enumerate(shown):
        recorder.tick(NOW + timedelta(seconds=3 * i))
        ocr.lines = lines
        worker.drain()
    first, second, lunch = store.list_range(kinds=["frame"])
    assert _vector(store, second.id) == _vector(store, first.id) != _vector(store, lunch.id)
    # Vector search alone: the screen the clock ticked on is found as the first one is, before the lunch order.
    hits = store.search("what changed in the backup tool", SearchOptions(k=3, mode="vector", min_similarity=0.0)).hits
    assert {h.id for h in hits[:2]} == {first.id, second.id}
    store.close()


@pytest.mark.parametrize("before, after, same", [
    ("top - 21:45:09 up 5:31, load average: 0.14", "top - 21:45:12 up 5:32, load average: 0.20", True),
    ("Downloading model 45% 120 MB of 267 MB", "Downloading model 46% 123 MB of 267 MB", True),
    ("firefox S 12.0 sshd S 0.3", "sshd R 4.1 firefox S 0.2", True),         # `top` sorting its rows again
    ("Release notes for the backup command", "Release notes for the restore command", False),
    ("backup done", "backup done done", False),
])
def test_same_words_but_numbers(before: str, after: str, same: bool) -> None:
    from app.capture.same_words import same_but_numbers

    assert same_but_numbers(after, before) is same
