"""Scrolls stored as a move plus the strip that scrolled in (app/capture/scroll.py)."""
from datetime import datetime, timedelta, timezone

import numpy as np
import pytest
from PIL import Image, ImageDraw

from app.capture.frame_filter import CaptureRules, FrameFilter
from app.capture.recorder import CaptureSettings, Recorder
from app.capture.screen import ReplayScreen
from app.capture.scroll import find_scroll
from app.capture.windows import ReplayWindows
from storage.frame_pictures import picture
from app.capture.ocr import OcrResult
from storage.store import MemoryStore
from tests.locate import where

NOW = datetime(2026, 11, 25, 15, 30, tzinfo=timezone.utc)
DOCUMENT = Image.new("RGB", (760, 3000), "white")
_draw = ImageDraw.Draw(DOCUMENT)
for _row in range(140):
    _draw.text((12, 8 + 21 * _row), f"{_row:03d} the minutes of the meeting, item {_row * 7 % 31}: budget and travel",
               fill="black")


def view(offset: int) -> Image.Image:
    """A reader at `offset` pixels down the document: a title bar, the page, a sidebar that stays."""
    screen = Image.new("RGB", (1000, 640), "#e8e8e8")
    ImageDraw.Draw(screen).rectangle((0, 0, 1000, 30), fill="#303030")
    ImageDraw.Draw(screen).text((10, 60), "Contents\nMinutes\nBudget", fill="black")
    screen.paste(DOCUMENT.crop((0, offset, 760, offset + 600)), (220, 36))
    return screen


def test_a_scroll_is_found_with_its_rows_and_distance() -> None:
    box = (200, 30, 800, 610)
    assert find_scroll(view(63), view(0), box) == (200, 99, 800, 537, -63)   # read down: the page moved up 63
    assert find_scroll(view(0), view(63), box) == (200, 36, 800, 537, 63)    # (the title bar above stays)
    assert find_scroll(view(0), view(0), box) is None                          # nothing moved
    other = Image.fromarray(np.random.default_rng(1).integers(0, 255, (640, 1000, 3), dtype=np.uint8))
    assert find_scroll(other, view(0), box) is None


def recorded(store: MemoryStore, offsets: list[int]) -> list:
    screens = [view(o) for o in offsets]
    recorder = Recorder(store, ReplayScreen(screens), ReplayWindows(), FrameFilter(CaptureRules()),
                        CaptureSettings(min_free_disk_mb=1))
    assert [recorder.tick(NOW + timedelta(seconds=3 * i)) for i in range(len(screens))] == ["kept"] * len(screens)
    return store.list_range(kinds=["frame"])


def exact(a: Image.Image, b: Image.Image) -> bool:
    return np.array_equal(np.asarray(a.convert("RGB")), np.asarray(b.convert("RGB")))


def test_rows_that_line_up_without_any_column_moving_with_them_are_no_scroll() -> None:
    # Under filterwarnings = error: the columns' means were taken over an empty run ("Mean of empty slice").
    noise = np.random.default_rng(3)
    before = noise.integers(0, 256, (200, 200), dtype=np.uint8)
    now = noise.integers(0, 256, (200, 200), dtype=np.uint8)
    now[:80] = before[10:90]  # 40% of the rows moved up by 10, every column mostly new
    assert find_scroll(Image.fromarray(now), Image.fromarray(before), (0, 0, 200, 200)) is None


def test_reading_down_a_page_stores_moves_and_small_strips_that_rebuild_every_screen(store: MemoryStore) -> None:
    offsets = [0, 63, 126, 200, 263, 180, 243]                      # down, down, down, down, back up, down
    frames = recorded(store, offsets)
    scrolled = [f for f in frames if f.fields.get("moves")]
    assert len(scrolled) >= 4 and all(f.fields.get("moves") for f in frames if f.fields.get("key"))
    key = len(store.blobs.get(frames[0].fields["image_id"]))
    assert all(len(store.blobs.get(f.fields["image_id"])) < key / 3 for f in scrolled)  # the chain ends at its budget
    for order in (frames[::-1], frames):                             # from the newest back, then forward
        store.rendered.clear()
        for frame in order:
            assert exact(picture(store, frame), view(offsets[frames.index(frame)]))


def test_forgetting_a_scrolled_screen_makes_the_next_one_whole(store: MemoryStore) -> None:
    offsets = [0, 63, 126, 189]
    frames = recorded(store, offsets)
    assert store.delete([frames[1].id]) == 1
    after = store.get(frames[2].id)
    assert "key" not in after.fields and "moves" not in after.fields
    store.rendered.clear()
    for frame, offset in ((after, 126), (store.get(frames[3].id), 189)):
        assert exact(picture(store, frame), view(offset))


class DocumentOcr:
    """Reads the row numbers of the document: finds where the image it is given sits on one of the
    reader's screens (exactly: drawn screens are stored losslessly) and names the rows inside it."""

    def __init__(self, offsets: list[int]) -> None:
        self.views = {o: np.asarray(view(o).convert("L")) for o in offsets}
        self.heights: list[int] = []

    def read(self, image: Image.Image) -> OcrResult:
        from app.capture.ocr import OcrResult, OcrWord

        self.heights.append(image.height)
        crop = np.asarray(image.convert("L"))
        h, w = crop.shape
        for offset, screen in self.views.items():
            left, top = where(crop, screen)
            if np.array_equal(screen[top:top + h, left:left + w], crop):
                words = []
                for row in range(140):
                    y = 36 + 8 + 21 * row - offset                           # the row's place on the screen
                    if (36 <= y and y + 12 <= 636 and top <= y and y + 12 <= top + h
                            and left <= 232 and 252 <= left + w):
                        words.append(OcrWord(f"{row:03d}", (232 - left, y - top, 20, 12), 0.99))
                return OcrResult(" ".join(w.text for w in words), words)
        raise AssertionError("the OCR was given a picture that is on none of the screens")


def visible_rows(offset: int) -> set[str]:
    return {f"{row:03d}" for row in range(140) if 36 <= 44 + 21 * row - offset and 56 + 21 * row - offset <= 636}


def test_after_a_scroll_only_the_strip_that_scrolled_in_is_read(store: MemoryStore) -> None:
    from app.capture.ocr_worker import OcrWorker

    offsets = [0, 63, 126, 189]
    frames = recorded(store, offsets)
    assert all(f.fields.get("moves") for f in frames[1:])
    ocr = DocumentOcr(offsets)
    assert OcrWorker(store, ocr).drain() == len(frames)
    for frame, offset in zip(frames, offsets):
        assert set(store.get(frame.id).text.split()) == visible_rows(offset)
    assert ocr.heights[0] == 640 and max(ocr.heights[1:]) < 200    # the first whole, then strips


@pytest.mark.slow  # a page scrolled by part of a line at a time through the recorder, screen after screen
def test_scrolling_by_part_of_a_line_reads_every_line_wholly_on_screen(store: MemoryStore) -> None:
    from app.capture.ocr_worker import OcrWorker

    offsets = [0, 50, 100, 150, 190]                                 # rows cut at the top and bottom edges
    frames = recorded(store, offsets)
    assert all(f.fields.get("moves") for f in frames[1:])
    OcrWorker(store, DocumentOcr(offsets)).drain()
    assert [set(store.get(f.id).text.split()) for f in frames] == [visible_rows(o) for o in offsets]
