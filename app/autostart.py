"""Start Engram at login: an XDG autostart entry on Linux desktops.

Written when the user asks for it (first-run wizard or Settings), removed when
they no longer do. It starts `engram` (the tray app), which asks to unlock;
nothing is unlocked or captured without the passphrase.
"""
from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

ENTRY = """[Desktop Entry]
Type=Application
Name=Engram
Comment=A private memory of your desktop
Exec={command}
Icon={icon}
Terminal=false
X-GNOME-Autostart-enabled=true
"""


# Characters the desktop entry specification reserves in an Exec argument (it must then be quoted).
_RESERVED = frozenset(' \t\n"\'\\><~|&;$*?#()`')


def exec_argument(argument: str) -> str:
    """One argument for an Exec= line: quoted when it holds a space or another reserved character (a home
    folder named "Ana Lima" would otherwise start a program called /home/Ana), then escaped as a string value."""
    if any(c in _RESERVED for c in argument):
        inner = "".join("\\" + c if c in '"`$\\' else c for c in argument)
        argument = f'"{inner}"'.replace("\\", "\\\\")
    return argument.replace("%", "%%")


def entry_path() -> Path:
    base = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    return base / "autostart" / "engram.desktop"


def is_enabled() -> bool:
    return entry_path().is_file()


def set_enabled(enabled: bool) -> Path:
    path = entry_path()
    if not enabled:
        path.unlink(missing_ok=True)
        return path
    if not sys.platform.startswith("linux"):
        raise OSError("starting at login is only set up on Linux desktops so far")
    if getattr(sys, "frozen", False):  # the self-contained bundle (installer/build_linux.sh) is its own command
        argv = [sys.executable]
    else:
        engram = shutil.which("engram")
        argv = [engram] if engram else [sys.executable, "-m", "app.cli"]
    command = " ".join(exec_argument(a) for a in argv)
    icon = Path(__file__).resolve().parents[1] / "assets" / "engram.svg"
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(ENTRY.format(command=command, icon=icon), encoding="utf-8")
    os.replace(tmp, path)
    return path
