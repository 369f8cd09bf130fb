"""OCR accuracy and speed: RapidOCR (the default) against Tesseract (the runner-up).

Three measurements; every engine reads each image once, in turn, before the next image:
- synthetic 1920x1080 screens with known text (rendered here with DejaVu fonts, 11-16 px, dark-on-light
  and light-on-dark), character error rate and seconds per frame;
- hand-transcribed crops of real desktops from the ScreenAgent test split (terminals, an editor, a menu,
  a file dialog, search results), character error rate;
- full 1024x768 ScreenAgent frames: seconds per frame, and whether the text the agent had just typed
  (its `keyboard_text`, visible on the frame) is found.

CER = Levenshtein distance / reference length, after collapsing all whitespace to single spaces
(case and punctuation count).
"""
from __future__ import annotations

import argparse
import os
import random
import statistics
import subprocess
import time
from collections.abc import Sequence
from importlib.metadata import version
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from app.capture.ocr import OCR, RapidOcrEngine, TesseractEngine
from bench.shared import screens_dir
from bench.results import Metrics, metric

FONTS = Path("/usr/share/fonts/truetype/dejavu")

# (session prefix, image name prefix, crop box, what is written there: transcribed by eye from 2x zooms)
CROPS: list[tuple[str, str, tuple[int, int, int, int], str]] = [
    ("861543ab", "2024-01-13_15-24-49", (184, 190, 830, 445), """\
root@3bb91d745e05:~# sudo apt-get install x11-apps
Reading package lists... Done
Building dependency tree
Reading state information... Done
The following NEW packages will be installed:
  x11-apps
0 upgraded, 1 newly installed, 0 to remove and 207 not upgraded.
Need to get 657 kB of archives.
After this operation, 2534 kB of additional disk space will be used.
Get:1 http://mirrors.ubuntu.com/mirrors.txt Mirrorlist [881 B]
Ign:2 https://mirrors.tuna.tsinghua.edu.cn/ubuntu focal/main amd64 x11-apps amd6
4 7.7+8
Get:2 http://mirrors.cn99.com/ubuntu focal/main amd64 x11-apps amd64 7.7+8 [657
kB]
18% [2 x11-apps 61.4 kB/657 kB 9%]"""),
    ("08a2def9", "2024-01-13_21-42-06", (330, 100, 700, 165), """\
1 str1="i love python"
2 print(str1.upper())
3"""),
    ("08a2def9", "2024-01-13_21-42-06", (322, 500, 1024, 625), """\
root@3bb91d745e05:~/Desktop/LearnPython# /bin/python3 /root/Desktop/LearnPython/stud
y.py
File "/root/Desktop/LearnPython/study.py", line 3
^
SyntaxError: unexpected EOF while parsing
root@3bb91d745e05:~/Desktop/LearnPython#"""),
    ("6f427251", "2024-01-14_16-16-13", (30, 180, 260, 742), """\
Apps and Features
Power Options
Event Viewer
System
Device Manager
Network Connections
Disk Management
Computer Management
Windows PowerShell
Windows PowerShell (Admin)
Task Manager
Settings
File Explorer
Search
Run
Shut down or sign out
Desktop"""),
    ("f8bb5aae", "2024-01-12_21-42-43", (176, 136, 1024, 616), "\n".join(
        f"{name} {'06:34' if name == 'Desktop' else ('25' if name == 'Session Storage' else '19') + ' Dec 2023'}"
        for name in ["Backups", "Cache", "CachedData", "CachedExtensionVSIXs", "CachedProfilesData", "Code Cache",
                     "Crashpad", "DawnCache", "Desktop", "Dictionaries", "Downloads", "GPUCache", "Local Storage",
                     "Service Worker", "Session Storage", "User", "WebStorage", "blob_storage", "clipboard_app",
                     "databases", "logs"])),
    ("c5e28b9f", "2024-01-13_17-10-24", (196, 395, 800, 578), """\
1. Artificial Intelligence Another key trend shaping the future of autonomous cars is
Artificial Intelligence (AI). ...
2. Rise in Demand for Low-Emission and Safe Transportation ...
3. Advanced Driving Assistance Systems (ADAS) ...
4. Increasing Government Support Towards AV Tech ...
5. Collaborations and Consolidations Across Several AV Players ..."""),
]

# Full frames; those with a string are the frame after the agent typed it, the string checked visible by eye.
FRAMES: list[tuple[str, str, str | None]] = [
    ("861543ab", "2024-01-13_15-24-49", "sudo apt-get install x11-apps"),
    ("c5e28b9f", "2024-01-13_17-10-24", "latest developments in autonomous driving"),
    ("a6e4370b", "2024-01-13_13-07-01", '=SUMIF(D:D, "Alice", G:G)'),
    ("25e9a806", "2024-01-13_16-33-02", "Alan Mathison Turing"),
    ("2fdc2781", "2024-01-13_22-49-16", "smartphone"),
    ("9f82efeb", "2024-01-12_17-35-47", "world"),
    ("dab553b3", "2024-01-13_14-48-37", '=SUMIF(A:A,"Student 1",C:C)'),
    ("bcf3aa89", "2024-01-13_13-51-36", '=SUMIF(C:C, "South", F:F)'),
    ("ad6bea57", "2024-01-13_14-57-02", '=AVERAGEIF(B:B, "Art", C:C)'),
    ("6cab3d2c", "2024-01-14_19-32-46", "Sanya"),
    ("08a2def9", "2024-01-13_21-42-06", None),
    ("6f427251", "2024-01-14_16-16-13", None),
    ("f8bb5aae", "2024-01-12_21-42-43", None),
    ("359b2984", "2024-01-14_17-26-45", None),
    ("a8d49662", "2024-01-12_17-37-28", None),
    ("d787e80b", "2024-01-13_16-54-04", None),
]

METHODS = {"ocr": "How: " + (__doc__ or "").split("\n", 1)[1].strip() + """

`ocr.*` is RapidOCR 3.x (PP-OCRv6 small det/rec from its wheel, onnxruntime, 2 intra-op threads, detector
input capped at 1280 px, no angle classifier); `ocr.runner_up.*` is Tesseract 5 (Debian, `--psm 3`, eng, one
OpenMP thread); `ocr.det_960.*`, `ocr.det_full.*` (detector at full size) and `ocr.one_thread.*` are RapidOCR
variants, run on the synthetic screens only. The synthetic screens are dense (about 5,000 characters in 60 lines
each), so their seconds per frame are an upper bound for a full 1080p frame. Timings are wall-clock medians, one
read per image after a warm-up, on a machine shared with other work (the load average during the run is in the
notes), so they are pessimistic and noisy; the accuracy figures are not affected."""}


def levenshtein(a: str, b: str) -> int:
    """Edit distance by Hyyrö's bit-vector algorithm (Python ints as bit vectors): exact, and fast
    enough for whole screens (thousands of characters), where the plain O(nm) table is not."""
    if not a or not b:
        return len(a) + len(b)
    peq: dict[str, int] = {}
    for i, ch in enumerate(a):
        peq[ch] = peq.get(ch, 0) | (1 << i)
    full, last = (1 << len(a)) - 1, 1 << (len(a) - 1)
    pv, mv, score = full, 0, len(a)
    for ch in b:
        eq = peq.get(ch, 0)
        xv = eq | mv
        xh = ((((eq & pv) + pv) & full) ^ pv) | eq
        ph = (mv | ~(xh | pv)) & full
        mh = pv & xh
        if ph & last:
            score += 1
        elif mh & last:
            score -= 1
        ph = ((ph << 1) | 1) & full
        mh = (mh << 1) & full
        pv = (mh | ~(xv | ph)) & full
        mv = ph & xv
    return score


def normalise(text: str) -> str:
    return " ".join(text.split())


def cer(reference: str, hypothesis: str) -> tuple[int, int]:
    """(edit distance, reference length) on whitespace-normalised text."""
    ref, hyp = normalise(reference), normalise(hypothesis)
    return levenshtein(ref, hyp), len(ref)


# -- synthetic screens -----------------------------------------------------------------

WORDS = """the of and to in is for on with that this from by at as be are was it an or will your not
have has can all new more about project report budget meeting review draft update status team invoice
customer account order payment shipping address flight booking hotel train ticket confirmation number
reference schedule deadline quarter revenue forecast expenses travel contract renewal policy support
request ticket release notes version build deploy server database backup restore network settings
privacy password security certificate calendar reminder tomorrow yesterday morning afternoon evening
please thanks regards attached document spreadsheet presentation slides figure table chapter section
summary results analysis method data model training evaluation baseline accuracy latency memory search
""".split()
NAMES = ["Anna Keller", "Jonas Weber", "Maria Rossi", "Li Wei", "Sofia Jensen", "Tom Baker", "Aiko Tanaka",
         "Lukas Novak", "Priya Sharma", "Omar Haddad"]
STATUS = ["Paid", "Pending", "Overdue", "Shipped", "Cancelled", "Draft"]
COMMANDS = ["git log --oneline -n 5", "ls -la ~/Documents/reports", "python3 -m pytest tests/test_store.py -q",
            "grep -rn 'TODO' src/ | wc -l", "ssh deploy@build-02.internal 'systemctl status engram'",
            "df -h /home", "curl -s localhost:8080/health", "tar czf backup-2024-03-17.tar.gz notes/"]


def _token(rng: random.Random) -> str:
    kind = rng.random()
    if kind < 0.88:  # mostly words; dates, times, amounts, codes and e-mails for the rest
        word = rng.choice(WORDS)
        return word.capitalize() if rng.random() < 0.1 else word
    return rng.choice([
        f"{rng.randint(1, 28):02d}.{rng.randint(1, 12):02d}.{rng.randint(2019, 2026)}",
        f"{rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}",
        f"#{rng.randint(100, 99999)}",
        f"{rng.randint(1, 9999):,}.{rng.randint(0, 99):02d}",
        "".join(rng.choice("ABCDEFGHJKLMNPQRSTUVWXYZ23456789") for _ in range(6)),
        f"{rng.choice(NAMES).split()[0].lower()}@example.org",
    ])


def _sentence(rng: random.Random, font: ImageFont.FreeTypeFont, width: int) -> str:
    words: list[str] = []
    while True:
        candidate = " ".join(words + [_token(rng)])
        if font.getlength(candidate) > width:
            return " ".join(words).rstrip(",") + "."
        words = candidate.split(" ")


def render_screen(seed: int, dark: bool) -> tuple[Image.Image, str]:
    """A 1920x1080 'desktop' in bands (title, menu, address bar, prose, table, terminal, status bar) and
    its text, row by row top to bottom, left to right within a row."""
    rng = random.Random(seed)
    bg, fg, dim = ((30, 30, 30), (212, 212, 212), (150, 150, 150)) if dark else \
        ((255, 255, 255), (32, 32, 32), (110, 110, 110))
    img = Image.new("RGB", (1920, 1080), bg)
    draw = ImageDraw.Draw(img)
    rows: list[str] = []

    def font(name: str, size: int) -> ImageFont.FreeTypeFont:
        return ImageFont.truetype(str(FONTS / name), size)

    def row(y: int, cells: list[tuple[int, str]], f: ImageFont.FreeTypeFont, fill: tuple[int, int, int]) -> None:
        for x, text in cells:
            draw.text((x, y), text, font=f, fill=fill)
        rows.append(" ".join(text for _, text in cells))

    draw.rectangle((0, 0, 1920, 32), fill=(60, 60, 60) if dark else (228, 228, 228))
    row(8, [(760, f"{rng.choice(['Q3', 'Q4', 'March'])} {rng.choice(WORDS)} {rng.choice(WORDS)}.odt - Writer")],
        font("DejaVuSans-Bold.ttf", 13), fg)
    menu_font, x, cells = font("DejaVuSans.ttf", 13), 12, []
    for item in ["File", "Edit", "View", "Insert", "Format", "Tools", "Window", "Help"]:
        cells.append((x, item))
        x += int(menu_font.getlength(item)) + 26
    row(42, cells, menu_font, fg)
    draw.rounded_rectangle((50, 70, 1300, 100), radius=6, outline=dim)
    row(77, [(64, f"https://intranet.example.org/{rng.choice(WORDS)}/{rng.randint(10, 999)}?tab={rng.choice(WORDS)}")],
        font("DejaVuSans.ttf", 14), fg)
    y = 120
    for name, size in (("DejaVuSans.ttf", rng.choice([14, 15, 16])), ("DejaVuSerif.ttf", rng.choice([13, 14])),
                       ("DejaVuSansCondensed.ttf", rng.choice([11, 12]))):
        f = font(name, size)
        for i in range(rng.randint(4, 6)):
            row(y, [(60, _sentence(rng, f, rng.randint(900, 1750)))], f, dim if i == 0 and size < 13 else fg)
            y += int(size * 1.55)
        y += 14
    f, cols = font("DejaVuSans.ttf", rng.choice([12, 13])), [60, 240, 460, 640, 820, 980]
    header = ["Date", "Customer", "Amount", "Reference", "Status", "E-mail"]
    row(y, list(zip(cols, header)), font("DejaVuSans-Bold.ttf", int(f.size)), fg)
    y += 26
    for _ in range(rng.randint(6, 9)):
        name = rng.choice(NAMES)
        row(y, list(zip(cols, [f"2024-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}", name,
                               f"{rng.randint(5, 9999)}.{rng.randint(0, 99):02d} EUR",
                               "".join(rng.choice("ABCDEFGHJKLMNPQRSTUVWXYZ23456789") for _ in range(8)),
                               rng.choice(STATUS), name.split()[0].lower() + "@example.org"])), f, fg)
        y += 22
    y += 16
    panel_bg, panel_fg = ((240, 240, 240), (20, 20, 20)) if dark else ((24, 24, 24), (220, 220, 220))
    draw.rectangle((0, y - 8, 1920, 1040), fill=panel_bg)
    mono = font("DejaVuSansMono.ttf", rng.choice([12, 13]))
    while y < 1010:
        command = rng.choice(COMMANDS)
        row(y, [(16, f"user@laptop:~/work$ {command}")], mono, panel_fg)
        y += 20
        if y < 1010:
            row(y, [(16, _sentence(rng, mono, rng.randint(500, 1400)))], mono, panel_fg)
            y += 20
    draw.rectangle((0, 1048, 1920, 1080), fill=(0, 90, 160))
    row(1056, [(12, f"Ln {rng.randint(1, 400)}, Col {rng.randint(1, 80)}"), (300, "UTF-8"), (420, "Spaces: 4"),
               (1700, f"{rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}")],
        font("DejaVuSans.ttf", 11), (255, 255, 255))
    return img, "\n".join(rows)


# -- measuring -------------------------------------------------------------------------


def _frame(session: str, stamp: str) -> Image.Image:
    path = next(screens_dir().glob(f"{session}*/images/{stamp}*.jpg"))
    with Image.open(path) as im:
        return im.convert("RGB")


class Tally:
    """One engine's running figures."""

    def __init__(self) -> None:
        self.errors: dict[str, list[int]] = {}  # kind -> [edit distance, reference length]
        self.seconds: dict[str, list[float]] = {}
        self.typed = [0, 0]  # found, checked

    def read(self, engine: OCR, image: Image.Image, timing: str | None) -> str:
        start = time.perf_counter()
        text = engine.read(image).text
        if timing:
            self.seconds.setdefault(timing, []).append(time.perf_counter() - start)
        return text

    def score(self, kind: str, reference: str, text: str) -> None:
        d, n = cer(reference, text)
        total = self.errors.setdefault(kind, [0, 0])
        total[0], total[1] = total[0] + d, total[1] + n

    def figures(self) -> dict[str, tuple[float, int, str]]:
        out = {k: (d / n, 0, "fraction") for k, (d, n) in self.errors.items()}
        out |= {k: (statistics.median(v), len(v), "s") for k, v in self.seconds.items()}
        if self.typed[1]:
            out["typed_text_found"] = (self.typed[0] / self.typed[1], self.typed[1], "fraction")
        return out


def run(argv: Sequence[str] = ()) -> Metrics:
    parser = argparse.ArgumentParser(prog="bench.ocr_bench")
    parser.add_argument("--screens", type=int, default=4, help="synthetic 1080p screens (half of them dark)")
    args, _ = parser.parse_known_args(list(argv))
    synthetic = [render_screen(seed, dark=seed % 2 == 1) for seed in range(args.screens)]
    tesseract = subprocess.run(["tesseract", "--version"], capture_output=True, text=True).stdout.split("\n")[0]
    # (prefix, engine, also on the real screens?, provenance note)
    engines: list[tuple[str, OCR, bool, str]] = [
        ("ocr", RapidOcrEngine(), True, f"rapidocr {version('rapidocr')}, onnxruntime {version('onnxruntime')}"),
        ("ocr.runner_up", TesseractEngine(), True, tesseract),
        ("ocr.det_960", RapidOcrEngine(det_max_side=960), False, ""),
        ("ocr.det_full", RapidOcrEngine(det_max_side=100_000), False, ""),
        ("ocr.one_thread", RapidOcrEngine(threads=1), False, ""),
    ]
    tallies = {prefix: Tally() for prefix, *_ in engines}
    for _, engine, _, _ in engines:
        engine.read(synthetic[0][0].crop((0, 0, 400, 200)))  # load the models outside the timings
    loads = []
    # Image by image, every engine in turn, so that the changing load of a shared machine falls on all alike.
    for i, (image, reference) in enumerate(synthetic):
        for prefix, engine, _, _ in engines:
            tallies[prefix].score("cer", reference, tallies[prefix].read(engine, image, "s_per_frame_1080p"))
        loads.append(os.getloadavg()[0])
        print(f"  synthetic screen {i + 1}/{len(synthetic)}", flush=True)
    real = [(prefix, engine) for prefix, engine, on_real, _ in engines if on_real]
    for session, stamp, box, reference in CROPS:
        crop = _frame(session, stamp).crop(box)
        for prefix, engine in real:
            tallies[prefix].score("cer_real_crops", reference, tallies[prefix].read(engine, crop, None))
    for session, stamp, expected in FRAMES:
        frame = _frame(session, stamp)
        for prefix, engine in real:
            text = tallies[prefix].read(engine, frame, "s_per_frame_1024x768")
            if expected is not None:
                tallies[prefix].typed[0] += "".join(expected.split()) in "".join(text.split())
                tallies[prefix].typed[1] += 1
        loads.append(os.getloadavg()[0])
    load = f"load average {min(loads):.1f}-{max(loads):.1f} on {os.cpu_count()} cores during the run"
    metrics: Metrics = {}
    for prefix, _, _, provenance in engines:
        for name, (value, n, unit) in tallies[prefix].figures().items():
            count = n or (len(synthetic) if name == "cer" else len(CROPS))
            note = "; ".join(x for x in (provenance, load if unit == "s" else "") if x)
            metrics[f"{prefix}.{name}"] = metric(round(value, 4), unit, count, note)
            print(f"  {prefix}.{name} = {value:.4f} (n={count})", flush=True)
    return metrics

if __name__ == "__main__":
    import sys

    from bench import results

    results.merge(run(sys.argv[1:]))
    results.render({**results.collected_methods(), **METHODS})
