"""The OCR seam and its engines: text, word boxes, odd images, and onnxruntime's telemetry switch."""
from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image, ImageDraw, ImageFont

from app.capture.ocr import (OCR, OcrLine, OcrResult, OcrUnavailable, OcrWord, RapidOcrEngine, TesseractEngine, assemble,
                     join_letters, prepare, split_words)
from conftest import REPO, shared_dir

FIXTURES = REPO / "tests" / "data" / "screens"

FONTS = Path("/usr/share/fonts/truetype/dejavu")
# Lines of a plausible screen: (font file, px size, text). Sizes 11-16 as in real UIs.
LINES = [
    ("DejaVuSans-Bold.ttf", 13, "Invoices - Accounting - Mozilla Firefox"),
    ("DejaVuSans.ttf", 13, "File Edit View History Bookmarks Tools Help"),
    ("DejaVuSans.ttf", 16, "Your flight confirmation code is QX7R2P for 14 March 2024."),
    ("DejaVuSerif.ttf", 14, "Please transfer 1,240.50 EUR to the account below by Friday."),
    ("DejaVuSans.ttf", 12, "Contact anna.keller@example.org if the payment is late."),
    ("DejaVuSansCondensed.ttf", 11, "Last synced 09:41, 3 new messages in Inbox"),
    ("DejaVuSansMono.ttf", 13, "$ grep -rn 'budget' ~/Documents/reports | wc -l"),
    ("DejaVuSansMono.ttf", 12, "def total(items: list[float]) -> float:"),
]


def levenshtein(a: str, b: str) -> int:
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return prev[-1]


def cer(reference: str, hypothesis: str) -> float:
    ref, hyp = " ".join(reference.split()), " ".join(hypothesis.split())
    return levenshtein(ref, hyp) / len(ref)


def font(name: str, size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(str(FONTS / name), size)


def rendered_screen() -> tuple[Image.Image, str]:
    """All LINES dark-on-light in the top half, then again (in another order) light-on-dark below."""
    img = Image.new("RGB", (1280, 560), (250, 250, 250))
    draw = ImageDraw.Draw(img)
    draw.rectangle((0, 280, 1280, 560), fill=(30, 30, 30))
    texts: list[str] = []
    for y, ink, lines in ((16, (30, 30, 30), LINES), (296, (220, 220, 220), LINES[4:] + LINES[:4])):
        for i, (name, size, text) in enumerate(lines):
            draw.text((24 + 40 * (i % 3), y), text, font=font(name, size), fill=ink)
            texts.append(text)
            y += int(size * 2.3)
    return img, "\n".join(texts)


Rect = tuple[float, float, float, float]


def words_image() -> tuple[Image.Image, dict[str, Rect]]:
    """Four words at known places; returns where each was drawn (x, y, w, h)."""
    img = Image.new("RGB", (900, 300), "white")
    draw = ImageDraw.Draw(img)
    drawn: dict[str, Rect] = {}
    f = font("DejaVuSans.ttf", 15)
    for word, (x, y) in {"Quarterly": (40, 40), "Budget": (180, 40), "Passport": (520, 150),
                         "Renewal": (700, 230)}.items():
        draw.text((x, y), word, font=f, fill="black")
        x0, y0, x1, y1 = draw.textbbox((x, y), word, font=f)
        drawn[word] = (x0, y0, x1 - x0, y1 - y0)
    return img, drawn


def overlap(a: Rect, b: Rect) -> float:
    """Intersection over the smaller box."""
    w = min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0])
    h = min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1])
    return max(w, 0) * max(h, 0) / min(a[2] * a[3], b[2] * b[3])


@pytest.fixture(scope="module")
def rapid() -> RapidOcrEngine:
    return RapidOcrEngine()


@pytest.fixture(scope="module")
def tesseract() -> TesseractEngine:
    engine = TesseractEngine()
    try:
        engine.read(Image.new("RGB", (40, 40), "white"))
    except OcrUnavailable as exc:
        pytest.skip(str(exc))
    return engine


# -- without an engine --------------------------------------------------------------------


def test_engines_satisfy_the_protocol() -> None:
    engines: list[OCR] = [RapidOcrEngine(), TesseractEngine()]
    assert all(callable(e.read) for e in engines)


def test_rows_read_top_to_bottom_then_left_to_right() -> None:
    def line(text: str, x: int, y: int) -> OcrLine:
        return OcrLine(text, (x, y, 10 * len(text), 14), 0.9, split_words(text, (x, y, 10 * len(text), 14), 0.9))

    result = assemble([line("second row", 10, 40), line("right", 300, 11), line("left", 10, 10),
                       line("third", 10, 70)], scale=2.0)
    assert result.text == "left right\nsecond row\nthird"
    assert [w.text for w in result.words] == ["left", "right", "second", "row", "third"]
    assert result.words[0].box == (20, 20, 80, 28)  # mapped back by the scale


def test_letters_placed_one_by_one_are_joined_into_the_lines_words() -> None:
    line = "百科—Mozilla Firefox"
    pieces = [OcrWord(ch, (10 * i, 5, 9, 20), 0.9) for i, ch in enumerate("".join(line.split()))]
    words = join_letters(pieces, line)
    assert [w.text for w in words] == ["百", "科", "—Mozilla", "Firefox"]
    assert words[2].box == (20, 5, 79, 20) and words[3].box == (100, 5, 69, 20)
    # Pieces that do not spell the line's words are left as the engine gave them.
    odd = [OcrWord("Mozil", (0, 0, 50, 20), 0.9), OcrWord("laFire", (50, 0, 60, 20), 0.9), OcrWord("fox", (110, 0, 30, 20), 0.9)]
    assert join_letters(odd, "Mozilla Firefox") == odd


def test_split_words_shares_the_line_box_by_character_offsets() -> None:
    words = split_words("ab  cdef", (100, 5, 80, 12), 0.8)
    assert [(w.text, w.box) for w in words] == [("ab", (100, 5, 20, 12)), ("cdef", (140, 5, 40, 12))]
    assert all(w.confidence == 0.8 for w in words)


@pytest.mark.parametrize("make", [
    lambda: Image.new("RGBA", (50, 40), (0, 0, 0, 0)),  # alpha left at 0 by a grabber: kept, not blanked
    lambda: Image.new("P", (50, 40)),
    lambda: Image.new("LA", (50, 40)),
    lambda: Image.new("CMYK", (50, 40)),
    lambda: Image.new("1", (50, 40)),
    lambda: Image.new("F", (50, 40), 0.5),
])
def test_odd_modes_become_rgb(make) -> None:  # type: ignore[no-untyped-def]
    prepared = prepare(make())
    assert prepared is not None
    assert prepared[0].mode == "RGB" and prepared[0].size == (50, 40) and prepared[1] == 1.0


def test_palette_transparency_converts_without_warnings() -> None:
    img = Image.new("P", (50, 40))
    img.info["transparency"] = bytes([0] * 256)  # would warn if converted straight to RGB
    assert prepare(img) is not None


def test_sixteen_bit_grey_is_scaled_not_clipped() -> None:
    img = Image.new("I;16", (20, 20), 1000)
    img.paste(60000, (0, 0, 10, 20))
    rgb, _ = prepare(img)  # type: ignore[misc]
    assert rgb.getpixel((0, 0)) == (255, 255, 255) and rgb.getpixel((15, 0)) == (0, 0, 0)


def test_huge_images_are_scaled_down() -> None:
    rgb, scale = prepare(Image.new("L", (8000, 8000), 255))  # type: ignore[misc]
    assert rgb.width * rgb.height <= 36_000_000 and scale == pytest.approx(8000 / rgb.width, rel=1e-3)


def test_tiny_images_give_an_empty_result() -> None:
    assert RapidOcrEngine().read(Image.new("RGB", (1, 1))) == OcrResult("")
    assert TesseractEngine().read(Image.new("RGB", (5, 300))) == OcrResult("")


def test_undecodable_images_raise_value_error() -> None:
    png = io.BytesIO()
    Image.new("RGB", (200, 200), "red").save(png, "PNG")
    truncated = Image.open(io.BytesIO(png.getvalue()[:60]))
    with pytest.raises(ValueError, match="could not be decoded"):
        RapidOcrEngine().read(truncated)


def test_a_missing_rapidocr_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "rapidocr", None)
    with pytest.raises(OcrUnavailable, match="pip install 'rapidocr"):
        RapidOcrEngine().read(Image.new("RGB", (100, 40), "white"))


def test_a_missing_tesseract_says_what_to_install() -> None:
    with pytest.raises(OcrUnavailable, match="apt-get install tesseract-ocr"):
        TesseractEngine(binary="no-such-tesseract").read(Image.new("RGB", (100, 40), "white"))


# -- the real engines ------------------------------------------------------------------------


@pytest.mark.slow
def test_rapidocr_reads_a_rendered_screen(rapid: RapidOcrEngine) -> None:
    img, text = rendered_screen()
    result = rapid.read(img)
    # Measured 0.0% on this screen and 0.16% on bench/ocr_bench.py's dense 1080p screens; 1% (about
    # 8 characters here) leaves room for a model update, not for a lost line or a scrambled order.
    assert cer(text, result.text) < 0.01, result.text
    assert all(0 < w.confidence <= 1 for w in result.words)


@pytest.mark.slow  # RapidOCR's models loaded for one read
def test_rapidocr_threads_sleep_between_reads(rapid: RapidOcrEngine) -> None:
    # Spinning threads cost a typed line's read a quarter more CPU (app/capture/ocr.py); a rapidocr update that
    # renames where it keeps its sessions would silently bring them back.
    img, _text = rendered_screen()
    rapid.read(img)
    for part in ("text_det", "text_rec"):
        options = getattr(rapid._engine, part).session.session.get_session_options()
        assert options.get_session_config_entry("session.intra_op.allow_spinning") == "0"
        assert options.intra_op_num_threads == rapid.threads


@pytest.mark.slow
def test_rapidocr_reads_again_after_releasing_its_models(rapid: RapidOcrEngine) -> None:
    img, text = rendered_screen()
    rapid.read(img)
    rapid.release()
    assert rapid._engine is None
    assert cer(text, rapid.read(img).text) < 0.01


@pytest.mark.slow
def test_tesseract_reads_a_rendered_screen(tesseract: TesseractEngine) -> None:
    img, text = rendered_screen()
    assert cer(text, tesseract.read(img).text) < 0.05  # measured 1.9% (it garbles the light-on-dark mono lines)


@pytest.mark.slow
@pytest.mark.parametrize("engine_name", ["rapid", "tesseract"])
def test_word_boxes_lie_where_the_words_were_drawn(engine_name: str, request: pytest.FixtureRequest) -> None:
    engine: OCR = request.getfixturevalue(engine_name)
    img, drawn = words_image()
    found = {w.text: w.box for w in engine.read(img).words}
    for word, box in drawn.items():
        assert word in found, found
        assert overlap(found[word], box) > 0.6, (word, found[word], box)
        assert found[word][2] < box[2] * 1.6  # a word's box, not the whole line's


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["RGBA", "P", "L", "I;16"])
def test_odd_modes_are_read(rapid: RapidOcrEngine, mode: str) -> None:
    img, drawn = words_image()
    if mode == "I;16":
        odd = Image.fromarray((__import__("numpy").asarray(img.convert("L"), dtype="uint16") * 257))
        assert odd.mode == "I;16"
    elif mode == "RGBA":
        odd = img.convert("RGBA")
        odd.putalpha(0)
    else:
        odd = img.convert(mode)
    assert {w.text for w in rapid.read(odd).words} >= set(drawn)


@pytest.mark.slow
def test_huge_image_boxes_are_in_the_callers_pixels(rapid: RapidOcrEngine) -> None:
    img = Image.new("L", (8000, 8000), 255)
    ImageDraw.Draw(img).text((1000, 3000), "Engram", font=font("DejaVuSans.ttf", 300), fill=0)
    bbox = ImageDraw.Draw(img).textbbox((1000, 3000), "Engram", font=font("DejaVuSans.ttf", 300))
    words = {w.text: w.box for w in rapid.read(img).words}
    assert "Engram" in words
    assert overlap(words["Engram"], (bbox[0], bbox[1], bbox[2] - bbox[0], bbox[3] - bbox[1])) > 0.6


# The frame after a ScreenAgent step typed `keyboard_text`: the typed text is on screen (checked by eye).
TYPED = [
    ("c5e28b9f", "2024-01-13_17-09-24-296584", "2024-01-13_17-10-24"),  # Bing search box and tab title
    ("a6e4370b", "2024-01-13_13-00-35-449821", "2024-01-13_13-07-01"),  # LibreOffice Calc formula
    ("25e9a806", "2024-01-13_16-29-44-801562", "2024-01-13_16-33-02"),  # Baidu Baike search box
]


@pytest.mark.slow
@pytest.mark.parametrize(("session", "step", "frame"), TYPED)
def test_reads_what_the_user_typed_on_a_real_screen(rapid: RapidOcrEngine, session: str, step: str,
                                                     frame: str) -> None:
    root = next((shared_dir() / "data" / "screens" / "screenagent").glob(f"{session}*"))
    actions = json.loads((root / f"{step}.json").read_text(encoding="utf-8"))["actions"]
    typed = next(a["keyboard_text"] for a in actions if a.get("keyboard_text"))
    with Image.open(next((root / "images").glob(f"{frame}*.jpg"))) as img:
        text = rapid.read(img).text
    assert "".join(typed.split()) in "".join(text.split()), (typed, text)


@pytest.mark.slow
def test_latin_words_on_a_chinese_page_stay_whole(rapid: RapidOcrEngine) -> None:
    """RapidOCR places each character of a line holding CJK on its own: the Latin words there must
    still be words ("Mozilla Firefox", not "M o z i l l a")."""
    from app.capture.ocr_worker import assemble_text

    with Image.open(FIXTURES / "baike_firefox.jpg") as img:
        text = assemble_text(rapid.read(img).words)
    assert "Mozilla Firefox" in text and "baike.baidu.com" in text
    assert "M o z i l l a" not in text


TELEMETRY_PROBE = """
import os, sys
import app.capture.ocr
assert "onnxruntime" not in sys.modules and "rapidocr" not in sys.modules, "imported eagerly"
assert os.environ["ORT_DISABLE_TELEMETRY"] == "1", "not set before onnxruntime could be imported"
from PIL import Image, ImageDraw
img = Image.new("RGB", (400, 60), "white")
ImageDraw.Draw(img).text((10, 20), "telemetry off", fill="black")
result = app.capture.ocr.RapidOcrEngine().read(img)
assert "onnxruntime" in sys.modules
assert os.environ["ORT_DISABLE_TELEMETRY"] == "1"
print(result.text)
"""


@pytest.mark.slow
def test_telemetry_is_off_before_onnxruntime_is_imported(tmp_path: Path) -> None:
    env = {**os.environ, "ORT_DISABLE_TELEMETRY": "0"}  # even an environment asking for telemetry is overridden
    env["HOME"] = str(tmp_path)  # and nothing may be written there (model caches, logs)
    done = subprocess.run([sys.executable, "-W", "error", "-c", TELEMETRY_PROBE], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "telemetry" in done.stdout
    assert done.stderr == ""  # rapidocr's logger stays quiet
    assert list(tmp_path.iterdir()) == []


def test_the_module_imports_no_engine() -> None:
    code = "import sys, app.capture.ocr; print(sorted(m for m in ('onnxruntime', 'rapidocr', 'cv2') if m in sys.modules))"
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert done.stdout.strip() == "[]", done.stderr


def test_ocr_word_is_a_value() -> None:
    assert OcrWord("a", (1, 2, 3, 4), 0.5) == OcrWord("a", (1, 2, 3, 4), 0.5)
