"""OCR in a child process (app/capture/ocr_process.py): the same words as in this process, and the child
ends when released (everything it held goes back to the system) and comes back when a frame waits."""
import pytest
from PIL import Image, ImageDraw, ImageFont

from app.capture.ocr import RapidOcrEngine
from app.capture.ocr_process import OcrProcess

pytest.importorskip("rapidocr")


def _line(text: str, size: tuple[int, int] = (900, 120)) -> Image.Image:
    picture = Image.new("RGB", size, "white")
    ImageDraw.Draw(picture).text((12, 40), text, fill="black", font=ImageFont.load_default(size=28))
    return picture


@pytest.fixture
def ocr():
    engine = OcrProcess()
    yield engine
    engine.release()


def test_the_child_reads_what_this_process_reads(ocr: OcrProcess) -> None:
    picture = _line("quarterly figures budget")
    here = RapidOcrEngine().read(picture)
    there = ocr.read(picture)
    assert there.text == here.text == "quarterly figures budget"
    assert [(w.text, w.box) for w in there.words] == [(w.text, w.box) for w in here.words]
    assert ocr.read(picture.convert("L")).text == "quarterly figures budget"   # any mode, as in-process


@pytest.mark.slow  # OCR child processes started
def test_release_ends_the_child_and_the_next_frame_starts_one(ocr: OcrProcess) -> None:
    assert not ocr.running                                # nothing started before a frame waits
    assert ocr.read(_line("invoice travel")).text == "invoice travel"
    child = ocr._child
    assert ocr.running and child is not None
    ocr.release()
    assert not ocr.running and child.poll() is not None   # the process has exited
    assert ocr.read(_line("garden recipe")).text == "garden recipe"
    assert ocr.running and ocr._child is not child


@pytest.mark.slow  # OCR child processes started
def test_a_child_that_died_is_replaced_and_bad_input_starts_nothing(ocr: OcrProcess) -> None:
    assert ocr.read(_line("first")).text == "first"
    ocr._child.kill()
    ocr._child.wait()
    assert ocr.read(_line("second")).text == "second"      # a new child, nothing lost but the dead one
    ocr.release()
    assert ocr.read(Image.new("RGB", (3, 3))).text == "" and not ocr.running   # too small to hold text
    with pytest.raises(TypeError):
        ocr.read(b"not an image")  # type: ignore[arg-type]
    assert not ocr.running


def test_a_reader_dropped_without_release_ends_its_child() -> None:
    import gc

    engine = OcrProcess()
    assert engine.read(_line("dropped")).text == "dropped"
    child = engine._child
    del engine
    gc.collect()
    assert child is not None and child.poll() is not None   # no OCR process outlives its reader


def test_the_child_gives_its_heap_back_after_each_reply(monkeypatch) -> None:
    """Screens of every size left glibc's heap in the child only growing (429 -> 558 MB over 80 real
    screens, 731 MB after an hour of use); each reply is followed by a trim, once the reply is sent."""
    import io
    import json

    from app.capture import ocr_process

    source, sink, sent_at_trim = io.BytesIO(), io.BytesIO(), []
    for text in ("invoice travel", "garden recipe"):
        picture = _line(text)
        ocr_process._write(source, picture.width, picture.height, picture.tobytes())
    source.seek(0)
    monkeypatch.setattr(ocr_process, "give_memory_back", lambda: sent_at_trim.append(sink.tell()))
    ocr_process.serve(source, sink)
    sink.seek(0)
    replies = [json.loads(ocr_process._read(sink)[2])["text"] for _ in range(2)]
    assert replies == ["invoice travel", "garden recipe"]
    assert len(sent_at_trim) == 2 and 0 < sent_at_trim[0] < sent_at_trim[1] == sink.getbuffer().nbytes
