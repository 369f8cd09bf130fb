"""OCR: the text on a screen image and where each word sits, read on this machine only.

`OCR` is the seam perception uses (tests pass fakes). `RapidOcrEngine` is the default: PP-OCR models
shipped inside the `rapidocr` wheel, run by onnxruntime, nothing fetched or written at run time.
`TesseractEngine` (Debian's `tesseract-ocr`, via a pipe) is the fallback. Both return words with
boxes in the caller's pixel coordinates, so the timeline can highlight search hits on the frame.
"""
from __future__ import annotations

import io
import os
import re
import shutil
import subprocess
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from PIL import Image

from storage.frame_pictures import bounding_box

# onnxruntime phones home ~20 s after a session starts unless this is set before it is first
# imported (its own disable_telemetry_events() does not stop it; STACK.md). So it is set when this
# module is imported, and rapidocr/onnxruntime are imported only inside RapidOcrEngine._load.
# Forced, not a default: Engram makes no network calls, whatever the environment says.
os.environ["ORT_DISABLE_TELEMETRY"] = "1"

Box = tuple[int, int, int, int]  # x, y, w, h in the image's pixels

MIN_SIDE = 6  # below this no glyph is legible: an empty result, not an error
MAX_PIXELS = 36_000_000  # an 8K screen (33 MP) is read as is; anything larger is scaled down first


@dataclass(frozen=True)
class OcrWord:
    text: str
    box: Box
    confidence: float  # 0..1


@dataclass(frozen=True)
class OcrResult:
    text: str  # one line per row of text, top-to-bottom, left-to-right within a row
    words: list[OcrWord] = field(default_factory=list)


class OCR(Protocol):
    def read(self, image: Image.Image) -> OcrResult:
        """The text and word boxes of `image` (any PIL mode or size). Too small to hold text: an
        empty result. Undecodable: ValueError. Engine cannot run here: OcrUnavailable. Thread-safe."""
        ...


class OcrUnavailable(RuntimeError):
    """The engine cannot run here; the message says what to install."""


@dataclass(frozen=True)
class OcrLine:
    """One line as an engine found it, before lines are put in reading order."""

    text: str
    box: Box
    confidence: float
    words: list[OcrWord]


def prepare(image: Image.Image) -> tuple[Image.Image, float] | None:
    """An 8-bit RGB version the engines can read and the factor back to the caller's pixels, or None
    when the image is too small to hold text. Raises ValueError for what cannot be decoded."""
    if not isinstance(image, Image.Image):
        raise TypeError(f"OCR reads PIL images, not {type(image).__name__}")
    try:
        image.load()
    except (OSError, ValueError, SyntaxError) as exc:
        raise ValueError(f"image could not be decoded: {exc}") from exc
    if min(image.size) < MIN_SIDE:
        return None
    if image.mode in ("I", "I;16", "I;16B", "I;16L", "I;16N", "F"):
        # Deep grey images: PIL's convert would clip at 255 instead of scaling, so stretch instead.
        a = np.nan_to_num(np.asarray(image, dtype=np.float32))
        lo, hi = float(a.min()), float(a.max())
        a = (a - lo) * (255.0 / (hi - lo)) if hi > lo else np.zeros_like(a)
        image = Image.fromarray(a.astype(np.uint8))
    elif image.mode in ("P", "PA"):
        image = image.convert("RGBA")  # palette transparency must pass through RGBA
    if image.mode != "RGB":
        try:
            # Alpha is dropped, not composited: screen grabbers often leave it at 0 on opaque pixels.
            image = image.convert("RGB")
        except ValueError as exc:
            raise ValueError(f"cannot OCR an image in mode {image.mode!r}: {exc}") from exc
    scale = 1.0
    if image.width * image.height > MAX_PIXELS:
        scale = (image.width * image.height / MAX_PIXELS) ** 0.5
        image = image.resize((max(1, round(image.width / scale)), max(1, round(image.height / scale))),
                             Image.Resampling.LANCZOS)
    return image, scale


def assemble(lines: list[OcrLine], scale: float = 1.0) -> OcrResult:
    """Order lines into rows (top-to-bottom, then left-to-right) and map boxes back by `scale`."""
    rows: list[list[OcrLine]] = []
    for line in sorted(lines, key=lambda ln: ln.box[1] + ln.box[3] / 2):
        centre, height = line.box[1] + line.box[3] / 2, line.box[3]
        if rows:
            first = rows[-1][0]
            # Same row when the centres are closer than half the smaller height: table cells and
            # menu items share a row, the next line of a paragraph does not.
            if abs(centre - (first.box[1] + first.box[3] / 2)) < min(height, first.box[3]) / 2:
                rows[-1].append(line)
                continue
        rows.append([line])
    text_rows: list[str] = []
    words: list[OcrWord] = []
    for row in rows:
        row.sort(key=lambda ln: ln.box[0])
        text_rows.append(" ".join(ln.text for ln in row))
        words += [OcrWord(w.text, scaled_box(w.box, scale), w.confidence) for ln in row for w in ln.words]
    return OcrResult("\n".join(text_rows), words)


def scaled_box(box: Box, scale: float) -> Box:
    """A box in a scaled-down image's pixels, in the original's."""
    return box if scale == 1.0 else (round(box[0] * scale), round(box[1] * scale), round(box[2] * scale),
                                     round(box[3] * scale))


def split_words(text: str, box: Box, confidence: float) -> list[OcrWord]:
    """Word boxes from a line box, each word's share of the width proportional to its character
    offsets in the line: an approximation (glyphs differ in width) used when the engine has no
    better boxes; good enough to place a highlight on the right word."""
    x, y, w, h = box
    words, n, pos = [], max(len(text), 1), 0
    for part in text.split():
        start = text.index(part, pos)
        pos = start + len(part)
        x0, x1 = x + round(w * start / n), x + round(w * pos / n)
        words.append(OcrWord(part, (x0, y, max(x1 - x0, 1), h), confidence))
    return words


# Ideographs, kana and hangul: a character is a word of its own for search; everything else runs on
# until a space.
_CJK = r"\u2e80-\u2fff\u3040-\u30ff\u3100-\u31ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff\uff00-\uffef"
_LINE_WORD = re.compile(rf"[{_CJK}]|[^\s{_CJK}]+")


def join_letters(pieces: list[OcrWord], line: str) -> list[OcrWord]:
    """The engine's pieces of a line regrouped into the line's words.

    On lines that hold CJK text RapidOCR places every character on its own, Latin letters too; joined
    with spaces, "Mozilla Firefox" became "M o z i l l a F i r e f o x", which no keyword finds. The
    line's own text says where the spaces are: a run of non-CJK characters up to a space is one word
    (its box around its pieces), a CJK character stays one. Pieces that straddle a word are kept as
    they are."""
    out, i = [], 0
    for match in _LINE_WORD.finditer(line):
        word, taken = match.group(), list[OcrWord]()
        while i < len(pieces) and len("".join(p.text for p in taken)) < len(word):
            taken.append(pieces[i])
            i += 1
        if "".join(p.text for p in taken) != word:
            return pieces
        out.append(OcrWord(word, bounding_box([p.box for p in taken]), min(p.confidence for p in taken)))
    return out if i == len(pieces) else pieces


def _bounds(points: Any) -> Box:
    """The axis-aligned rectangle around a detector quadrilateral."""
    pts = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    (x0, y0), (x1, y1) = np.floor(pts.min(axis=0)).astype(int), np.ceil(pts.max(axis=0)).astype(int)
    return int(x0), int(y0), int(max(x1 - x0, 1)), int(max(y1 - y0, 1))


class RapidOcrEngine:
    """PP-OCR (detection + recognition) from the rapidocr wheel on onnxruntime.

    `det_max_side` caps the detector's input (the recogniser still reads full-resolution crops). On
    1080p screens (bench/ocr_bench.py) 1280 px was nearly as accurate as full size (CER 0.16% vs
    0.11%) at about a quarter of the detector's cost; 960 px missed whole lines of small
    light-on-dark text (CER 4.8%). Recognition, not detection, dominates on text-dense screens.
    """

    def __init__(self, det_max_side: int = 1280, threads: int = 2, min_confidence: float = 0.5) -> None:
        self.det_max_side, self.threads, self.min_confidence = det_max_side, threads, min_confidence
        self._engine: Any = None
        self._lock = threading.Lock()

    def _load(self) -> Any:
        try:
            import onnxruntime  # noqa: F401  (imported for its error message; rapidocr uses it)
            import rapidocr
        except ImportError as exc:
            raise OcrUnavailable("RapidOCR needs the Python packages rapidocr and onnxruntime: "
                                 "pip install 'rapidocr>=3.10,<4' 'onnxruntime>=1.32,<2'") from exc
        models = Path(rapidocr.__file__).parent / "models"
        det, rec = models / "PP-OCRv6_det_small.onnx", models / "PP-OCRv6_rec_small.onnx"
        if not (det.is_file() and rec.is_file()):
            # Without explicit model paths rapidocr would download them: never at run time.
            raise OcrUnavailable(f"the PP-OCR models are missing from {models}: "
                                 "reinstall rapidocr (pip install --force-reinstall 'rapidocr>=3.10,<4')")
        params = {
            "Global.text_score": self.min_confidence,
            "Global.log_level": "error",  # its logger prints to stderr; keep it quiet (it never logs text)
            "Global.use_cls": False,  # screens are upright: the 180-degree classifier only costs time
            "Global.max_side_len": 100_000,  # never shrink the image itself; the detector limit below does
            "Det.model_path": str(det), "Rec.model_path": str(rec),
            "Det.limit_type": "max", "Det.limit_side_len": self.det_max_side,
            "EngineConfig.onnxruntime.intra_op_num_threads": self.threads,
            "EngineConfig.onnxruntime.inter_op_num_threads": 1,
        }
        try:
            engine = rapidocr.RapidOCR(params=params)
            for load in ("_load_det_model", "_load_rec_model"):  # it loads lazily: fail here, not mid-read
                getattr(engine, load, lambda: None)()
            self._stop_spinning(engine, det, rec)
            return engine
        except Exception as exc:  # a broken wheel or model: say so instead of a stack from its internals
            raise OcrUnavailable(f"RapidOCR could not start ({exc}); reinstall rapidocr and onnxruntime") from exc

    def _stop_spinning(self, engine: Any, det: Path, rec: Path) -> None:
        """Sessions like rapidocr's, but whose threads sleep between reads instead of spinning.

        onnxruntime's worker threads spin-wait for the next piece of work by default: reading two typed
        lines across a 1080p screen took 611 ms of CPU and 315 ms, against 479 and 266 ms without
        spinning, and under load the spinning threads slowed every read (bench/ocr_bench.py: one thread
        beat two). rapidocr has no setting for it, so its two sessions are made again (it keeps them at
        `.session.session`; ~0.2 s more each time the models load)."""
        import onnxruntime

        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads, options.inter_op_num_threads = self.threads, 1
        options.enable_cpu_mem_arena = False  # as rapidocr's: the arena keeps the peak of a large read
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        for part, model in (("text_det", det), ("text_rec", rec)):
            runner = getattr(getattr(engine, part, None), "session", None)
            if runner is not None and hasattr(runner, "session"):
                runner.session = onnxruntime.InferenceSession(str(model), sess_options=options,
                                                              providers=["CPUExecutionProvider"])

    def release(self) -> None:
        """Drop the models (about 250 MB resident) until the next read loads them again (~0.3 s).

        A tray app idles most of the day; the OCR worker calls this when no frame has waited for a while."""
        with self._lock:
            if self._engine is None:
                return
            self._engine = None
        give_memory_back()

    def read(self, image: Image.Image) -> OcrResult:
        prepared = prepare(image)
        if prepared is None:
            return OcrResult("")
        rgb, scale = prepared
        # One read at a time: on two cores a second concurrent read only slows both down.
        with self._lock:
            if self._engine is None:
                self._engine = self._load()
            out = self._engine(rgb, return_word_box=True)
        if getattr(out, "txts", None) is None or getattr(out, "boxes", None) is None:
            return OcrResult("")
        found = enumerate(zip(out.txts, map(_bounds, out.boxes), map(float, out.scores)))
        return assemble([OcrLine(text, box, score, self._words(text, box, score, out, i))
                         for i, (text, box, score) in found if text.strip()], scale)

    @staticmethod
    def _words(text: str, box: Box, score: float, out: Any, i: int) -> list[OcrWord]:
        """rapidocr's own word boxes (from where the recogniser placed each character), if they spell
        this line and sit inside its box (it drops empty entries from word_results, which can shift
        them against the lines); otherwise the proportional split."""
        raw = out.word_results[i] if i < len(out.word_results or ()) else ()
        words = [OcrWord(str(t), _bounds(b), float(s)) for t, s, b in raw if b is not None and str(t).strip()]
        x, y, w, h = box
        centres = [(t.box[0] + t.box[2] / 2, t.box[1] + t.box[3] / 2) for t in words]
        inside = all(x <= cx <= x + w and y <= cy <= y + h for cx, cy in centres)
        if inside and "".join(wd.text for wd in words) == "".join(text.split()):
            return join_letters(words, text)
        return split_words(text, box, score)


def give_memory_back() -> None:
    """Return freed heap pages to the system. glibc keeps them in its arenas otherwise, so dropping the
    OCR models would not lower the resident size at all; elsewhere this does nothing.

    It also empties Python's cache of source lines: PySide6 reads the source of every module imported
    after it (shibokensupport/feature.py asks `inspect.getsource` whether the module uses its
    `__feature__` switches), and linecache keeps all of it, 25-30 MB in the desktop app."""
    import ctypes
    import ctypes.util
    import gc
    import linecache

    linecache.clearcache()
    gc.collect()
    libc_name = ctypes.util.find_library("c")
    if libc_name and "libc.so" in libc_name:
        try:
            ctypes.CDLL(libc_name).malloc_trim(0)
        except (OSError, AttributeError):  # musl and others have no malloc_trim
            pass


class TesseractEngine:
    """Tesseract 5 through its command line: the image goes in on stdin as PNG, TSV comes back on
    stdout, so no file ever holds the screen's content."""

    def __init__(self, lang: str = "eng", psm: int = 3, timeout: float = 120.0, binary: str = "tesseract") -> None:
        self.lang, self.psm, self.timeout, self.binary = lang, psm, timeout, binary
        self._checked = False

    def _check(self) -> None:
        path = shutil.which(self.binary)
        if path is None:
            raise OcrUnavailable("tesseract is not installed: apt-get install tesseract-ocr")
        langs = subprocess.run([path, "--list-langs"], capture_output=True, text=True, timeout=30).stdout.split()
        if self.lang not in langs:
            raise OcrUnavailable(f"tesseract has no {self.lang!r} language data: "
                                 f"apt-get install tesseract-ocr-{self.lang}")
        self.binary, self._checked = path, True

    def read(self, image: Image.Image) -> OcrResult:
        prepared = prepare(image)
        if prepared is None:
            return OcrResult("")
        rgb, scale = prepared
        if not self._checked:
            self._check()
        png = io.BytesIO()
        rgb.save(png, "PNG", compress_level=1)
        # One OpenMP thread: with other work on the cores, its spinning threads made a read 4x slower.
        env = {**os.environ, "OMP_THREAD_LIMIT": "1"}
        try:
            done = subprocess.run([self.binary, "stdin", "stdout", "-l", self.lang, "--psm", str(self.psm), "tsv"],
                                  input=png.getvalue(), capture_output=True, timeout=self.timeout, env=env)
        except subprocess.TimeoutExpired as exc:
            raise RuntimeError(f"tesseract took longer than {self.timeout:.0f} s") from exc
        if done.returncode != 0:
            raise RuntimeError(f"tesseract failed ({done.returncode}): {done.stderr.decode(errors='replace')[-300:]}")
        return assemble(self._lines(done.stdout.decode("utf-8", errors="replace")), scale)

    @staticmethod
    def _lines(tsv: str) -> list[OcrLine]:
        grouped: dict[tuple[str, ...], list[OcrWord]] = {}
        for row in tsv.splitlines()[1:]:
            cols = row.split("\t")
            if len(cols) < 12 or cols[0] != "5" or not cols[11].strip():
                continue
            x, y, w, h = (int(c) for c in cols[6:10])
            grouped.setdefault(tuple(cols[1:5]), []).append(
                OcrWord(cols[11].strip(), (x, y, w, h), max(float(cols[10]), 0.0) / 100))
        return [OcrLine(" ".join(w.text for w in words), bounding_box([w.box for w in words]),
                        sum(w.confidence for w in words) / len(words), words) for words in grouped.values()]


