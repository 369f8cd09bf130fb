"""The self-contained Linux bundle (installer/build_linux.sh, PyInstaller one-folder): built, then started
under Xvfb to the first-run window, and `engram doctor` inside it finds its models and Qt.

Slow (a build is ~5 minutes on two cores) and needs PyInstaller, which the script installs into its own
build environment the first time (from PyPI)."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the Linux bundle is built on Linux")]


def test_bundle_builds_starts_to_first_run_and_finds_its_parts(tmp_path: Path) -> None:
    from xvfb import start_xvfb, window_appears

    built = subprocess.run(["bash", str(REPO / "installer" / "build_linux.sh"), "--dist", str(tmp_path / "dist"),
                            "--no-archive"], capture_output=True, text=True, timeout=1800)
    assert built.returncode == 0, built.stderr[-3000:]
    engram = tmp_path / "dist" / "engram" / "engram"
    home = tmp_path / "home"
    home.mkdir()
    # No Python of ours on the way: only the bundle, a bare PATH and a fresh HOME.
    server, display = start_xvfb()
    env = {"HOME": str(home), "PATH": "/usr/bin:/bin", "DISPLAY": display, "QT_QPA_PLATFORM": "xcb"}
    try:
        doctor = subprocess.run([str(engram), "doctor"], env=env, capture_output=True, text=True, timeout=300)
        assert doctor.returncode == 0, doctor.stdout + doctor.stderr
        for line in ("ok    Display", "Qt starts (xcb)", "ok    OCR", "ok    Embeddings", "ok    Language model"):
            assert line in doctor.stdout, doctor.stdout
        app = subprocess.Popen([str(engram)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            assert window_appears("Welcome to Engram", display, app)
        finally:
            app.terminate()
            app.wait(20)
    finally:
        server.terminate()
        server.wait(10)
