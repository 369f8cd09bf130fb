import json
import zlib

from storage.memory import Memory
from storage.store import MemoryStore
from storage.word_boxes import pack_boxes, unpack_boxes

PAGE = [[word, 20 + 60 * col, 30 + 24 * row, 8 * len(word), 18] for row in range(40)
        for col, word in enumerate(f"line {row} of the quarterly report draft".split())]
PAGE_TEXT = "\n".join(f"line {row} of the quarterly report draft" for row in range(40))


def test_boxes_round_trip_in_reading_order_with_masked_words_and_going_back_up() -> None:
    boxes = [["Total", 400, 300, 50, 18], ["", 460, 300, 90, 18], ["menu", 10, 4, 40, 16], ["x", 0, 0, 0, 0]]
    assert unpack_boxes(pack_boxes(boxes, "Total •••• menu x"), "Total •••• menu x") == boxes
    assert unpack_boxes(pack_boxes(PAGE, ""), "") == PAGE
    assert unpack_boxes(pack_boxes([], ""), "") == [] and unpack_boxes(None, "") == []


def test_words_that_are_the_text_are_not_stored_twice() -> None:
    stored = pack_boxes(PAGE, PAGE_TEXT)
    assert "words" not in stored
    assert unpack_boxes(stored, PAGE_TEXT) == PAGE
    # Text that no longer matches the steps (damaged) gives no boxes rather than misplaced ones.
    assert unpack_boxes(stored, PAGE_TEXT + " more") == []


def test_boxes_stored_in_the_previous_form_still_read() -> None:
    stored = {"words": "Total\ndue", "steps": [400, 300, 50, 18, 60, 0, 30, 0]}   # steps from the box before
    assert unpack_boxes(stored, "Total due") == [["Total", 400, 300, 50, 18], ["due", 460, 300, 80, 18]]


def test_a_word_with_a_newline_keeps_the_plain_list_which_still_reads() -> None:
    boxes = [["two\nlines", 1, 2, 3, 4]]
    assert pack_boxes(boxes, "two lines") == boxes and unpack_boxes(boxes, "two lines") == boxes


def test_the_stored_form_is_smaller_once_deflated() -> None:
    def size(value):
        return len(zlib.compress(json.dumps(value).encode()))
    assert size(pack_boxes(PAGE, "")) < 0.8 * size(PAGE)
    assert size(pack_boxes(PAGE, PAGE_TEXT)) < 0.6 * size(pack_boxes(PAGE, ""))


def test_a_frames_boxes_come_back_from_the_store(store: MemoryStore) -> None:
    frame = Memory("frame", PAGE_TEXT, {"monitor": 0, "boxes": PAGE})
    masked = Memory("frame", "card •••• expires", {"monitor": 0, "boxes": [["card", 1, 1, 9, 9], ["", 12, 1, 30, 9],
                                                                          ["expires", 44, 1, 20, 9]]})
    store.add([frame, masked])
    assert store.get(frame.id).fields["boxes"] == PAGE
    assert store.get(masked.id).fields["boxes"] == masked.fields["boxes"]
    assert store.search("quarterly").hits[0].id == frame.id
