import json
import zlib

from storage.memory import Memory
from storage.store import MemoryStore
from storage.word_boxes import pack_boxes, unpack_boxes

PAGE = [[word, 20 + 60 * col, 30 + 24 * row, 8 * len(word), 18] for row in range(40)
        for col, word in enumerate(f"line {row} of the quarterly report draft".split())]


def test_boxes_round_trip_in_reading_order_with_masked_words_and_going_back_up() -> None:
    boxes = [["Total", 400, 300, 50, 18], ["", 460, 300, 90, 18], ["menu", 10, 4, 40, 16], ["x", 0, 0, 0, 0]]
    assert unpack_boxes(pack_boxes(boxes)) == boxes
    assert unpack_boxes(pack_boxes(PAGE)) == PAGE
    assert unpack_boxes(pack_boxes([])) == [] and unpack_boxes(None) == []


def test_a_word_with_a_newline_keeps_the_plain_list_which_still_reads() -> None:
    boxes = [["two\nlines", 1, 2, 3, 4]]
    assert pack_boxes(boxes) == boxes and unpack_boxes(boxes) == boxes


def test_the_stored_form_is_smaller_once_deflated() -> None:
    def size(value):
        return len(zlib.compress(json.dumps(value).encode()))
    assert size(pack_boxes(PAGE)) < 0.8 * size(PAGE)


def test_a_frames_boxes_come_back_from_the_store(store: MemoryStore) -> None:
    frame = Memory("frame", "line 0 of the quarterly report draft", {"monitor": 0, "boxes": PAGE})
    store.add([frame])
    assert store.get(frame.id).fields["boxes"] == PAGE
    assert store.search("quarterly").hits[0].id == frame.id
