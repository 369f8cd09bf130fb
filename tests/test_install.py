"""installer/install.sh and uninstall.sh in a temporary HOME: the program in its own environment under
the data dirs, a menu entry with its icon, start at login when chosen; uninstall removes the program
and removes the memories only when told to.

The install reuses the checkout's .venv packages (--packages-from): the real download is ~1 GB and a
first llama.cpp build ~10 minutes, which a test cannot afford; everything else is the real script."""
from __future__ import annotations

import configparser
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
INSTALL, UNINSTALL = REPO / "installer" / "install.sh", REPO / "installer" / "uninstall.sh"


def user_env(home: Path, **extra: str) -> dict[str, str]:
    """A person's login environment: their HOME, no XDG overrides, no Engram variables of the tests."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("XDG_", "ENGRAM_", "VIRTUAL_ENV", "PYTHON")) and k not in ("DISPLAY",)}
    env.update(HOME=str(home), PATH="/usr/local/bin:/usr/bin:/bin", **extra)
    return env


def run(script: Path, home: Path, *args: str, stdin: int | None = subprocess.DEVNULL,
        **extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", str(script), *args], env=user_env(home, **extra), stdin=stdin,
                          capture_output=True, text=True, timeout=600, cwd=home)


def desktop_entry(path: Path) -> dict[str, str]:
    parser = configparser.ConfigParser(interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string(path.read_text())
    return dict(parser["Desktop Entry"])


def test_scripts_parse_and_explain_themselves(tmp_path: Path) -> None:
    for script in (INSTALL, UNINSTALL):
        assert subprocess.run(["bash", "-n", str(script)]).returncode == 0
        shown = run(script, tmp_path, "--help")
        assert shown.returncode == 0 and "memories" in shown.stdout
        assert run(script, tmp_path, "--bogus").returncode == 2


def test_uninstall_refuses_to_remove_what_is_not_engrams(tmp_path: Path) -> None:
    (tmp_path / "precious.txt").write_text("keep me")
    done = run(UNINSTALL, tmp_path, "--keep-memories", ENGRAM_APP_DIR=str(tmp_path))
    assert done.returncode == 1 and "refusing" in done.stderr
    assert (tmp_path / "precious.txt").read_text() == "keep me"


@pytest.mark.slow
def test_install_start_and_uninstall_in_a_temp_home(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    data = home / ".local" / "share"
    app_dir, memories = data / "engram-app", data / "engram"
    build_dir_before = (REPO / "build").exists()

    done = run(INSTALL, home, "--packages-from", str(REPO / ".venv"), "--no-system-packages", "--autostart")
    assert done.returncode == 0, done.stderr
    engram = app_dir / "venv" / "bin" / "engram"
    assert (home / ".local" / "bin" / "engram").resolve() == engram.resolve()
    where = subprocess.run([str(app_dir / "venv" / "bin" / "python"), "-c",
                            "import app, app.desktop.tray as t; print(app.__file__); print(t.ICON.is_file())"],
                           env=user_env(home, QT_QPA_PLATFORM="offscreen"), capture_output=True, text=True, cwd=home)
    installed_at, icon_found = where.stdout.split()
    assert installed_at.startswith(str(app_dir)) and icon_found == "True"  # its own copy, with its icons
    assert (REPO / "build").exists() == build_dir_before  # nothing was built inside the checkout

    menu = desktop_entry(data / "applications" / "engram.desktop")
    assert menu["Name"] == "Engram" and menu["Exec"].strip('"') == str(engram)
    assert Path(menu["Icon"]).is_file() and Path(menu["Icon"]).read_bytes() == (REPO / "assets" / "engram.svg").read_bytes()
    login = desktop_entry(home / ".config" / "autostart" / "engram.desktop")
    assert login["Exec"] == str(engram) and Path(login["Icon"]).is_file()
    assert "start_at_login = true" in (memories / "config.toml").read_text()
    assert "ok    Start at login" in done.stdout and "Engram doctor" in done.stdout  # the doctor ran
    assert not (memories / "keys.json").exists()  # the memories are the app's first run's to make

    started_to_first_run(engram, home)

    again = run(INSTALL, home, "--packages-from", str(REPO / ".venv"), "--no-system-packages")
    assert again.returncode == 0, again.stderr
    assert (home / ".config" / "autostart" / "engram.desktop").exists()  # no terminal, no option: unchanged

    (memories / "store").mkdir()
    (memories / "keys.json").write_text("{}")
    (memories / "models").mkdir()
    (memories / "models" / "built-in.gguf").write_bytes(b"GGUF")
    kept = run(app_dir / "uninstall.sh", home, "--keep-memories")
    assert kept.returncode == 0, kept.stderr
    for gone in (app_dir, home / ".local" / "bin" / "engram", data / "applications" / "engram.desktop",
                 data / "icons" / "hicolor" / "scalable" / "apps" / "engram.svg",
                 home / ".config" / "autostart" / "engram.desktop", memories / "models"):
        assert not gone.exists() and not gone.is_symlink(), gone
    assert (memories / "keys.json").exists() and (memories / "store").is_dir()
    assert str(memories) in kept.stderr and "start_at_login = false" in (memories / "config.toml").read_text()

    # No terminal and no option: the memories stay.
    assert run(INSTALL, home, "--packages-from", str(REPO / ".venv"), "--no-system-packages").returncode == 0
    assert run(app_dir / "uninstall.sh", home).returncode == 0
    assert (memories / "keys.json").exists() and not app_dir.exists()

    # Asked in a terminal, answered "remove": gone, after being told where they are.
    assert run(INSTALL, home, "--packages-from", str(REPO / ".venv"), "--no-system-packages").returncode == 0
    asked = answered(app_dir / "uninstall.sh", home, b"remove\n")
    assert str(memories) in asked and "Remove them too?" in asked
    assert not memories.exists() and not app_dir.exists()


def answered(script: Path, home: Path, answer: bytes) -> str:
    """Run a script with a terminal as its input (so it asks) and type `answer`."""
    main, terminal = os.openpty()
    process = subprocess.Popen(["bash", str(script)], env=user_env(home), stdin=terminal, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, cwd=home)
    os.close(terminal)
    os.write(main, answer)
    out, _ = process.communicate(timeout=120)
    os.close(main)
    assert process.returncode == 0, out
    return out.decode()


def started_to_first_run(engram: Path, home: Path) -> None:
    """The installed command starts the desktop app on an X screen, as the menu entry would: its first
    window is the first-run dialog."""
    from xvfb import start_xvfb, window_appears

    server, display = start_xvfb()
    app = subprocess.Popen([str(engram)], env=user_env(home, DISPLAY=display, QT_QPA_PLATFORM="xcb"),
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        assert window_appears("Welcome to Engram", display, app)
    finally:
        app.terminate()
        app.wait(20)
        if app.stdout:
            app.stdout.close()
        server.terminate()
        server.wait(10)


if sys.platform != "linux":  # the scripts are for Linux desktops
    pytestmark = pytest.mark.skip(reason="Linux only")


def test_first_run_keeps_the_start_at_login_chosen_at_install(home: Path, qapp) -> None:
    from app.desktop.unlock import FirstRunDialog
    from storage.config import Config

    assert not FirstRunDialog(lambda p: None).at_login.isChecked()
    config = Config()
    config.set("desktop.start_at_login", True)
    config.save()
    assert FirstRunDialog(lambda p: None).at_login.isChecked()
