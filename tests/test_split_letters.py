"""Screens stored letter by letter on lines holding Chinese ("M o z i l l a F i r e f o x") get their words
back: by the gaps between the letters' boxes (storage/split_letters.py), and in stored frames by the
upgrade to schema 9, read from a real screen the way earlier versions stored it."""
import json
from pathlib import Path

import pytest
from PIL import Image

from conftest import PASSPHRASE, HashEmbedder, as_of_schema
from storage import store as store_module
from storage.memory import Memory
from storage.search import SearchOptions
from storage.split_letters import rejoined
from storage.store import MemoryStore

SCREEN = Path(__file__).parent / "data" / "screens" / "baike_firefox.jpg"


def pieces(line: str, y: int = 0, height: int = 20) -> list[list]:
    """Boxes of a line written as pieces: a space in `line` is a word gap (6 px), none a letter gap (1 px)."""
    boxes, x = [], 0
    for word in line.split(" "):
        for letter in word:
            boxes.append([letter, x, y, 9, height])
            x += 10
        x += 5
    return boxes


def test_letters_on_a_line_holding_chinese_are_joined_by_their_gaps() -> None:
    boxes = pieces("打开 Mozilla Firefox 50") + pieces("a I x", y=40)
    text = " ".join(b[0] for b in boxes[:-3]) + "\n" + "a I x"
    joined = rejoined(text, boxes)
    assert joined is not None
    new_text, new_boxes = joined
    assert new_text == "打 开 Mozilla Firefox 50\na I x"   # a line without Chinese keeps its one-letter words
    assert [b[0] for b in new_boxes] == new_text.split()
    firefox = new_boxes[new_text.split().index("Firefox")]
    assert firefox[1:] == [boxes[9][1], 0, 69, 20]      # its box spans its letters
    assert rejoined("打 开 设 置", pieces("打开设置")) is None   # nothing to join
    assert rejoined("打 → C", pieces("打→C")) is None            # toolbar icons read as characters stay apart
    assert rejoined("打 开 [secret]", pieces("打开 ab")) is None  # the words are not the text's: left alone


def _old_reading(monkeypatch: pytest.MonkeyPatch) -> tuple[str, list[list]]:
    """The screen as versions before the fix stored it: every piece RapidOCR gave a word of its own."""
    import app.capture.ocr as ocr
    from app.capture.ocr_worker import _joined, reading_order

    monkeypatch.setattr(ocr, "join_letters", lambda pieces, line: pieces)
    with Image.open(SCREEN) as img:
        lines = reading_order(ocr.RapidOcrEngine(threads=1).read(img).words)
    return _joined(lines), [[w.text, *w.box] for line in lines for w in line]


@pytest.mark.slow  # RapidOCR's reading, then the store's upgrade
def test_a_schema_8_store_gets_its_split_words_back(store: MemoryStore, home: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("rapidocr")
    text, boxes = _old_reading(monkeypatch)
    assert "M o z i l l a F i r e f o x" in text
    screen = Memory("frame", text, {"monitor": 0, "boxes": boxes}, app="Firefox")
    english = Memory("frame", "quarterly budget spreadsheet", {"monitor": 0, "boxes": [
        ["quarterly", 0, 0, 90, 20], ["budget", 100, 0, 60, 20], ["spreadsheet", 170, 0, 110, 20]]})
    store.add([screen, english])
    keyword = SearchOptions(mode="keyword")
    assert not store.search("Firefox", keyword).hits
    before = {r["id"]: r for r in store.table.search().limit(None).to_arrow().to_pylist()}
    meta = as_of_schema(home, 8)
    store.close()

    reopened = MemoryStore.open(PASSPHRASE, home=home, embedder=HashEmbedder())
    assert json.loads(meta.read_text())["schema_version"] == store_module.SCHEMA_VERSION
    assert [h.id for h in reopened.search("Mozilla Firefox", keyword).hits] == [screen.id]
    assert [h.id for h in reopened.search("baidu", keyword).hits] == [screen.id]
    read = reopened.get(screen.id)
    assert "Mozilla Firefox" in read.text and "Baidu" in read.text
    assert [b[0] for b in read.fields["boxes"]] == read.text.split()
    after = {r["id"]: r for r in reopened.table.search().limit(None).to_arrow().to_pylist()}
    assert after[english.id] == before[english.id]                      # nothing else changes
    for column in ("updated_us", "time_us", "text_ready_us", "vector"):
        assert after[screen.id][column] == before[screen.id][column]
    assert reopened.check_rows().ok and reopened.stats().versions == 1   # the ledger agrees; old text gone
    reopened.close()
