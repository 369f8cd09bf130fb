"""The self-contained Linux bundle against the installed environment: size on disk and time to the first window.

How: `installer/build_linux.sh` (PyInstaller 6 one-folder, `--clean`) builds `dist/engram/` from the checkout's
.venv, timed when `--build` is given; size = the sum of the folder's file sizes, and of the `.tar.gz` made to
hand it around. The installed environment for comparison is the checkout's `.venv` (installer/install.sh makes the
same environment under ~/.local/share/engram-app: 1.9 GB there, measured once with the download, not re-measured
here). Start = wall time from spawning the command in a fresh HOME under Xvfb (QT_QPA_PLATFORM=xcb) until the
first-run window ("Welcome to Engram") is mapped, polled with xwininfo every 50 ms: once right after dropping the
page cache (cold; only where /proc/sys/vm/drop_caches is writable, else no cold figure) and five times warm
(median). An AppImage was not built, so the choice of one-folder is not a measured comparison. The machine's two
cores were shared with other work: pessimistic figures.
"""
from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.results import Metrics, metric

REPO = Path(__file__).resolve().parents[1]
DIST = REPO / "dist"
METHODS = {"bundle": (__doc__ or "").split("How: ", 1)[1].strip()}


def folder_mb(path: Path) -> float:
    return sum(p.lstat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink()) / 1e6


def drop_caches() -> bool:
    os.sync()
    try:
        with open("/proc/sys/vm/drop_caches", "w") as f:
            f.write("3\n")
        return True
    except OSError:
        return False


def seconds_to_first_window(command: Path, display: str) -> float:
    home = Path(tempfile.mkdtemp(prefix="engram-bundle-bench-"))
    env = {"HOME": str(home), "PATH": "/usr/bin:/bin", "DISPLAY": display, "QT_QPA_PLATFORM": "xcb"}
    started = time.monotonic()
    app = subprocess.Popen([str(command)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while time.monotonic() - started < 120:
            if app.poll() is not None:
                raise RuntimeError(f"{command} exited ({app.returncode}) before its first window")
            tree = subprocess.run(["xwininfo", "-root", "-tree", "-display", display], capture_output=True,
                                  text=True).stdout
            if '"Welcome to Engram"' in tree:
                return time.monotonic() - started
            time.sleep(0.05)
        raise RuntimeError(f"{command} showed no first-run window within 120 s")
    finally:
        app.terminate()
        app.wait(20)
        shutil.rmtree(home, ignore_errors=True)


def run(argv: list[str]) -> Metrics:
    sys.path.insert(0, str(REPO / "tests"))
    from xvfb import start_xvfb

    out: Metrics = {}
    if "--build" in argv or not (DIST / "engram" / "engram").exists():
        started = time.monotonic()
        subprocess.run(["bash", str(REPO / "installer" / "build_linux.sh")], check=True)
        out["bundle.build_s"] = metric(round(time.monotonic() - started, 1), "s", 1, "installer/build_linux.sh, --clean")
    out["bundle.onedir_mb"] = metric(round(folder_mb(DIST / "engram")), "MB", 1, "dist/engram/")
    archive = DIST / "engram-linux-x86_64.tar.gz"
    if archive.exists():
        out["bundle.archive_mb"] = metric(round(archive.stat().st_size / 1e6), "MB", 1, "gzip, to hand around")
    from Xlib.display import Display

    server, display = start_xvfb()
    session = Display(display)  # Xvfb resets when its last client leaves and refuses connections meanwhile
    try:
        for name, command in (("bundle", DIST / "engram" / "engram"), ("venv", REPO / ".venv" / "bin" / "engram")):
            if drop_caches():
                out[f"bundle.{name}_cold_start_s"] = metric(round(seconds_to_first_window(command, display), 2), "s", 1,
                                                            "after dropping the page cache")
            warm = [seconds_to_first_window(command, display) for _ in range(5)]
            out[f"bundle.{name}_warm_start_s"] = metric(round(statistics.median(warm), 2), "s", len(warm), "median")
    finally:
        session.close()
        server.terminate()
        server.wait(10)
    return out


if __name__ == "__main__":
    for key, value in run(sys.argv[1:]).items():
        print(key, value)
