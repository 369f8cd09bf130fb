"""Starting a private X server (Xvfb) for tests and benchmarks that need real windows."""
from __future__ import annotations

import os
import subprocess
import time


def start_xvfb(size: str = "1280x800x24") -> tuple[subprocess.Popen[bytes], str]:
    """A fresh Xvfb and its display name; -displayfd lets the server pick a free display
    number, so parallel runs never race for one."""
    read, write = os.pipe()
    server = subprocess.Popen(["Xvfb", "-displayfd", str(write), "-screen", "0", size, "-nolisten", "tcp"],
                              pass_fds=(write,), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    os.close(write)
    with os.fdopen(read) as numbers:
        number = numbers.readline().strip()
    if not number:
        server.terminate()
        server.wait(10)
        raise RuntimeError("Xvfb did not start")
    return server, f":{number}"


def window_appears(title: str, display: str, process: subprocess.Popen[bytes], timeout: float = 60.0) -> bool:
    """Whether a window named `title` is mapped on `display` within `timeout`; fails the test at once if
    `process` exits first (with its output, when it was captured)."""
    deadline, tree = time.monotonic() + timeout, ""
    while time.monotonic() < deadline and f'"{title}"' not in tree:
        assert process.poll() is None, (process.stdout.read().decode(errors="replace") if process.stdout
                                         else f"the program exited before its window {title!r}")
        time.sleep(0.3)
        tree = subprocess.run(["xwininfo", "-root", "-tree", "-display", display], capture_output=True,
                              text=True).stdout
    return f'"{title}"' in tree
