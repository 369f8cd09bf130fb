"""Starting a private X server (Xvfb) for tests and benchmarks that need real windows."""
from __future__ import annotations

import os
import subprocess


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
