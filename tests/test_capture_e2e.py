"""Screen capture for real: Xvfb, a real Qt window with known text, mss, X11 metadata, RapidOCR,
the encrypted store, and `engram search` by a word on the screen and by meaning."""
import json
import os
import shutil
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from app.cli import main

from conftest import PASSPHRASE
from tests.video import PLAYER
from xvfb import start_xvfb

pytestmark = [pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[1]

WINDOW = textwrap.dedent("""
    import sys
    from PySide6.QtWidgets import QApplication, QLabel
    app = QApplication(sys.argv)
    label = QLabel(sys.argv[2])
    label.setStyleSheet("background: white; color: black; font-size: 22px; padding: 30px")
    label.setWindowTitle(sys.argv[1])
    label.setGeometry(*(int(v) for v in sys.argv[3].split(",")))
    label.show()
    label.activateWindow()
    print("ready", flush=True)
    app.exec()
""")


@pytest.fixture
def desktop(monkeypatch):
    if not shutil.which("Xvfb"):
        pytest.fail("Xvfb is missing: run installer/setup.sh --test")
    server, display = start_xvfb()
    monkeypatch.setenv("DISPLAY", display)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    windows: list[subprocess.Popen] = []

    def open_window(title: str, text: str, geometry: str = "0,0,1280,800", script: str = WINDOW) -> None:
        env = dict(os.environ, QT_QPA_PLATFORM="xcb")
        window = subprocess.Popen([sys.executable, "-c", script, title, text, geometry, str(ROOT)], env=env,
                                  stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        windows.append(window)
        assert window.stdout.readline().strip() == "ready"
        time.sleep(1.0)  # let it paint

    yield open_window
    for window in windows:
        window.terminate()
        window.wait(10)
        window.stdout.close()
    server.terminate()
    server.wait(10)


@pytest.fixture
def cli(home: Path, monkeypatch, capsys):
    (home / "config.toml").write_text("[security]\nkdf_target_seconds = 0.01\n[capture]\nmin_free_disk_mb = 1\n")
    monkeypatch.setenv("ENGRAM_PASSPHRASE", PASSPHRASE)

    def run(*args: str) -> str:
        code = main(list(args))
        out, err = capsys.readouterr()
        assert code == 0, err
        return out

    run("init")
    return run


def test_capture_ocr_and_search_a_real_window(desktop, cli, home: Path) -> None:
    desktop("Meeting notes - Editor", "Invoice ZEBRA4521 is due on Friday\nThe lighthouse keeper paints the tower every spring")
    assert cli("capture", "--once").startswith("kept; 1 frame(s) read")
    hits = json.loads(cli("search", "zebra4521", "--json"))["hits"]
    assert len(hits) == 1 and hits[0]["kind"] == "frame" and "ZEBRA4521" in hits[0]["snippet"]
    assert hits[0]["title"] == "Meeting notes - Editor" and hits[0]["app"].startswith("python")
    by_meaning = json.loads(cli("search", "a person painting a lighthouse", "--mode", "vector", "--json"))
    assert by_meaning["hits"] and by_meaning["hits"][0]["id"] == hits[0]["id"]
    assert "lighthouse" in cli("frames").lower()
    out = home / "exported.png"
    cli("frame", hits[0]["id"], "--export", str(out))
    from PIL import Image
    with Image.open(out) as exported:
        assert exported.size == (1280, 800)


def test_a_private_window_never_reaches_disk(desktop, cli, home: Path) -> None:
    desktop("Canary page — Mozilla Firefox Private Browsing", "Quokka7731 private canary")
    assert cli("capture", "--once").startswith("excluded")
    assert json.loads(cli("search", "quokka7731", "--json"))["hits"] == []
    for path in home.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            assert b"Quokka7731" not in data and b"Canary page" not in data, path


def test_a_playing_video_is_kept_once_a_minute_but_a_window_opened_beside_it_at_once(desktop, store) -> None:
    """Real grabs of a real video window (mss, a second grab 0.1 s later), X11 window data, RapidOCR."""
    from app.capture.frame_filter import FrameFilter
    from app.capture.ocr_worker import OcrWorker
    from app.capture.recorder import CaptureSettings, Recorder
    from app.capture.screen import MssScreen
    from app.capture.windows_x11 import X11Windows
    from app.capture.ocr import RapidOcrEngine

    desktop("Notes - Editor", "Quarterly notes, nothing moves here", "0,0,600,400")
    desktop("Holiday clip - Videos", "", "620,100,640,360", PLAYER)
    clock = [0.0]
    recorder = Recorder(store, MssScreen(), X11Windows(), FrameFilter(clock=lambda: clock[0]),
                        CaptureSettings(min_free_disk_mb=1))

    def ticks(n: int) -> list[str]:
        outcomes = []
        for _ in range(n):
            time.sleep(1.0)  # the video moves on (its pan: 40 pixels a second)
            outcomes.append(recorder.tick())
            clock[0] += 3.0  # the filter's clock: ticks 3 s apart
        return outcomes

    try:
        playing = ticks(12)  # 36 s of video by the filter's clock
        desktop("Reminder", "Collect the ANTELOPE9 parcel", "0,420,600,200")
        beside = ticks(1)
    finally:
        recorder.close()
    # Kept: the first grab and the next (nothing is known to move yet); the rest of the video only moved.
    assert playing[:2] == ["kept", "kept"] and playing[2:] == ["duplicate"] * 10, playing
    assert beside == ["kept"]
    OcrWorker(store, RapidOcrEngine()).drain()
    [newest] = store.list_range(kinds=["frame"], limit=1, newest_first=True)
    assert "ANTELOPE9" in newest.text
    assert store.count("frame") == 3


LEFT = ["Hotel: Casa do Alecrim", "Check-in after 15:00", "Breakfast from 7:30", "Tram 28 to the castle"]
RIGHT = ["async def fetch_invoices(client):", "rows = await client.get(URL)", "return parse_rows(rows)",
         "raise InvoiceError(status)"]


def test_two_windows_side_by_side_are_read_one_after_the_other(desktop, store) -> None:
    """Their lines sit at the same heights, so only the windows' places tell them apart (issue 15.9)."""
    from app.capture.frame_filter import FrameFilter
    from app.capture.ocr_worker import OcrWorker
    from app.capture.recorder import CaptureSettings, Recorder
    from app.capture.screen import MssScreen
    from app.capture.windows_x11 import X11Windows
    from app.capture.ocr import RapidOcrEngine

    desktop("trip_notes.txt - less", "\n".join(LEFT), "0,0,560,400")
    desktop("ingest.py - vim-ish", "\n".join(RIGHT), "600,0,680,400")
    recorder = Recorder(store, MssScreen(), X11Windows(), FrameFilter(), CaptureSettings(min_free_disk_mb=1))
    try:
        assert recorder.tick() == "kept"
    finally:
        recorder.close()
    OcrWorker(store, RapidOcrEngine()).drain()
    [frame] = store.list_range(kinds=["frame"], limit=1)
    lines = [line for line in frame.text.splitlines() if line.strip()]
    left_words = {w for line in LEFT for w in line.split()}
    right_words = {w for line in RIGHT for w in line.split()}
    for line in lines:  # no line mixes the two windows
        assert not (set(line.split()) & left_words and set(line.split()) & right_words), frame.text
    sides = ["L" if set(line.split()) & left_words else "R" for line in lines
             if set(line.split()) & (left_words | right_words)]
    assert sides == sorted(sides) and sides.count("L") >= 3 and sides.count("R") >= 3, frame.text
