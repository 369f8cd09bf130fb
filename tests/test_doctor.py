"""`engram doctor`: each check says what works and what to do, and nothing it does needs the passphrase
or changes the store."""
from __future__ import annotations

import hashlib
import io
import json
import os
import sys
from collections import defaultdict
from pathlib import Path

import pytest

from app import autostart, doctor
from app.doctor import AppFacts, Finding
from storage import paths
from storage.config import Config
from storage.memory import Memory
from storage.store import SCHEMA_VERSION, MemoryStore

WAYLAND = {"XDG_SESSION_TYPE": "wayland", "WAYLAND_DISPLAY": "wayland-0"}


def only(findings: list[Finding]) -> Finding:
    assert len(findings) == 1, findings
    return findings[0]


def test_wayland_says_capture_is_off_why_and_what_to_do() -> None:
    found = only(doctor.check_display(WAYLAND, Config()))
    assert found.status == "warn" and "capture stays off" in found.what and "window titles" in found.what
    assert "X11 session" in found.todo and "capture.allow_without_window_info" in found.todo
    allowed = only(doctor.check_display(WAYLAND, Config({"capture.allow_without_window_info": True})))
    assert "capture runs anyway" in allowed.what and "allow_without_window_info" not in allowed.todo
    shortcut = only(doctor.check_shortcut(WAYLAND, Config(), None))
    assert shortcut.status == "warn" and "engram recall" in shortcut.todo


def test_no_display_is_said_and_the_qt_probe_is_not_run() -> None:
    found = only(doctor.check_display({}, Config({"capture.enabled": False})))
    assert found.status == "warn" and "no graphical session" in found.what and "off in Settings" in found.what
    assert doctor.check_desktop({}) == []
    assert only(doctor.check_shortcut({}, Config(), None)).status == "info"


def test_the_running_app_tells_its_own_shortcut() -> None:
    held = only(doctor.check_shortcut({"DISPLAY": ":0"}, Config(), AppFacts("Ctrl+Alt+K", "")))
    assert held.status == "ok" and "Ctrl+Alt+K" in held.what
    missing = only(doctor.check_shortcut({"DISPLAY": ":0"}, Config(), AppFacts("", "Ctrl+Shift+Space is taken")))
    assert missing.status == "warn" and "is taken" in missing.what and "engram recall" in missing.todo


@pytest.mark.slow
def test_x11_display_shortcut_and_qt_under_xvfb(home: Path) -> None:
    from xvfb import start_xvfb

    from app.desktop.hotkey import X11Hotkey

    from Xlib.display import Display

    server, display = start_xvfb("1280x800x24")
    # Xvfb resets when its last client leaves, and refuses connections while it does; a desktop never does.
    session = Display(display)
    try:
        env = {**os.environ, "DISPLAY": display, "QT_QPA_PLATFORM": "xcb"}
        env.pop("WAYLAND_DISPLAY", None), env.pop("XDG_SESSION_TYPE", None)
        found = only(doctor.check_display(env, Config()))
        assert found.status == "ok" and "1 monitor (1280x800)" in found.what
        assert only(doctor.check_shortcut(env, Config(), None)).status == "ok"
        other = X11Hotkey("Ctrl+Shift+Space", lambda: None, display_name=display)
        other.start()  # another program holds the key
        try:
            taken = only(doctor.check_shortcut(env, Config(), None))
        finally:
            other.stop()
        assert taken.status == "warn" and "already taken" in taken.what and "engram recall" in taken.todo
        qt = only(doctor.check_desktop(env))  # a bare X server has no system tray
        assert qt.status == "warn" and "(xcb)" in qt.what and "system tray" in qt.what
        broken = only(doctor.check_desktop({**env, "QT_QPA_PLATFORM": "no-such-platform"}))
        assert broken.status == "fail" and "no-such-platform" in broken.what and "installer/setup.sh" in broken.todo
    finally:
        session.close()
        server.terminate()
        server.wait(10)
    gone = only(doctor.check_display(env, Config()))
    assert gone.status == "fail" and "unreachable" in gone.what


def write_meta(home: Path, text: str) -> None:
    (home / "keys.json").write_text("{}")
    (home / "store").mkdir(exist_ok=True)
    (home / "store" / "engram-store.json").write_text(text)


@pytest.mark.parametrize("text, status, words", [
    (json.dumps({"schema_version": SCHEMA_VERSION}), "ok", "(current)"),
    (json.dumps({"schema_version": SCHEMA_VERSION - 1}), "info", "upgraded"),
    (json.dumps({"schema_version": SCHEMA_VERSION + 5}), "fail", "newer Engram"),
    ("{not json", "fail", "damaged"),
])
def test_store_version(home: Path, text: str, status: str, words: str) -> None:
    write_meta(home, text)
    memories, version = doctor.check_store()
    assert memories.area == "Memories" and str(home) in memories.what and "10 GB budget" in memories.what
    assert version.status == status and words in version.what


def test_no_store_yet(home: Path) -> None:
    found = only(doctor.check_store())
    assert found.status == "info" and "engram init" in found.todo


def snapshot(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file() and "logs" not in p.parts}


def test_the_command_needs_no_passphrase_and_changes_nothing(store: MemoryStore, home: Path, monkeypatch,
                                                             capsys) -> None:
    from app.cli import main

    store.add([Memory("semantic", "Anna prefers green tea", {"name": "Anna"})])
    store.close()
    before = snapshot(home)
    monkeypatch.delenv("ENGRAM_PASSPHRASE", raising=False)
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))  # a prompt would read nothing and fail
    for variable in ("DISPLAY", "WAYLAND_DISPLAY", "XDG_SESSION_TYPE"):
        monkeypatch.delenv(variable, raising=False)
    assert main(["doctor", "--quick"]) == 0
    out = capsys.readouterr().out
    for area in ("Display", "Keyring", "OCR", "Embeddings", "Language model", "Disk", "Memories", "Store version",
                 "Start at login", "Not checked"):
        assert area in out
    assert "FAIL" not in out and "engram stats" in out
    assert snapshot(home) == before  # not a byte of the store, keys or models changed, nothing added
    assert main(["doctor", "--quick", "--json"]) == 0
    statuses = {f["area"]: f["status"] for f in json.loads(capsys.readouterr().out)}
    assert statuses["Store version"] == "ok" and set(statuses.values()) <= set(doctor.STATUSES)


def test_a_missing_or_broken_model_file(home: Path, tmp_path: Path) -> None:
    missing = only(doctor.check_model(Config({"model.gguf_path": str(tmp_path / "nope.gguf")}), quick=False))
    assert missing.status == "fail" and "does not exist" in missing.what and "engram model use" in missing.todo
    (tmp_path / "notes.gguf").write_text("not a model")
    broken = only(doctor.check_model(Config({"model.gguf_path": str(tmp_path / "notes.gguf")}), quick=False))
    assert broken.status == "fail" and "not a GGUF" in broken.what


def test_the_built_in_model_is_not_assembled_by_a_check(home: Path) -> None:
    found = only(doctor.check_model(Config(), quick=False))
    assert found.status == "ok" and "on the first question" in found.what
    assert not paths.model_dir().exists() or not any(paths.model_dir().iterdir())


def test_disk_below_the_capture_floor(home: Path) -> None:
    assert only(doctor.check_disk(Config())).status in ("ok", "warn")
    found = only(doctor.check_disk(Config({"capture.min_free_disk_mb": 10**12})))
    assert found.status == "fail" and "capture stops" in found.what and "free some space" in found.todo


def test_autostart_entry(home: Path, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    assert only(doctor.check_autostart(Config())).status == "info"
    wanted = Config({"desktop.start_at_login": True})
    assert "no " in only(doctor.check_autostart(wanted)).what
    entry = autostart.set_enabled(True)
    found = only(doctor.check_autostart(wanted))
    assert found.status == "ok" and str(entry) in found.what
    entry.write_text(entry.read_text().replace("Exec=", "Exec=/gone/bin/engram --x #"))
    stale = only(doctor.check_autostart(wanted))
    assert stale.status == "warn" and "/gone/bin/engram" in stale.what and "install.sh" in stale.todo


def test_a_start_at_login_entry_starts_engram_from_a_folder_with_a_space(home: Path, tmp_path: Path,
                                                                        monkeypatch) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    program = tmp_path / "Ana Lima" / "bin" / "engram"
    program.parent.mkdir(parents=True)
    program.write_text("#!/bin/sh\n")
    program.chmod(0o755)
    monkeypatch.setattr(autostart.shutil, "which", lambda name: str(program))
    entry = autostart.set_enabled(True)
    assert f'Exec="{program}"' in entry.read_text().splitlines()
    found = only(doctor.check_autostart(Config({"desktop.start_at_login": True})))
    assert found.status == "ok" and str(program) in found.what
    assert autostart.exec_argument('/x/$HOME"q\\b 50%') == '"/x/\\\\$HOME\\\\"q\\\\\\\\b 50%%"'


def test_keyring_backends(monkeypatch) -> None:
    import keyring
    from keyring.backend import KeyringBackend
    from keyring.backends.fail import Keyring as NoKeyring

    class Fake(KeyringBackend):
        priority = 1  # type: ignore[assignment]

        def get_password(self, service: str, username: str) -> None:
            raise AssertionError("the doctor must not read the keyring (a locked one would prompt)")

        def set_password(self, service: str, username: str, password: str) -> None:
            raise AssertionError("never written")

        def delete_password(self, service: str, username: str) -> None:
            raise AssertionError("never deleted")

    original = keyring.get_keyring()
    try:
        keyring.set_keyring(NoKeyring())
        assert only(doctor.check_keyring(Config())).status == "info"
        wanted = only(doctor.check_keyring(Config({"security.use_keyring": True})))
        assert wanted.status == "warn" and "gnome-keyring" in wanted.todo
        keyring.set_keyring(Fake())
        found = only(doctor.check_keyring(Config({"security.use_keyring": True})))
        assert found.status == "ok" and "on: Engram unlocks from it" in found.what
    finally:
        keyring.set_keyring(original)


def test_a_check_that_breaks_is_a_line_not_a_traceback(home: Path, monkeypatch) -> None:
    def broken(config: Config) -> list[Finding]:
        raise RuntimeError("boom")

    monkeypatch.setattr(doctor, "check_keyring", broken)
    findings = doctor.run(quick=True, env={})
    keyring_line = next(f for f in findings if f.area == "Keyring")
    assert keyring_line.status == "fail" and "boom" in keyring_line.what
    assert {"Display", "Disk", "Memories", "Not checked"} <= {f.area for f in findings}


def test_report_marks_and_wraps() -> None:
    text = doctor.report([Finding("OCR", "fail", "x " * 80, "do this"), Finding("Disk", "ok", "fine")])
    assert text.splitlines()[2].startswith("FAIL  OCR") and "-> do this" in text
    assert max(len(line) for line in text.splitlines()) <= 100 and "1 not working" in text
    assert "Everything checked works." in doctor.report([Finding("Disk", "ok", "fine")])


def test_running_instance_is_seen(home: Path, qapp) -> None:
    from app.desktop.main import instance_name
    from app.qt import QLocalServer

    assert not doctor.engram_running()
    server = QLocalServer()
    assert server.listen(instance_name())
    try:
        assert doctor.engram_running()
    finally:
        server.close()
    assert not doctor.engram_running()


@pytest.mark.slow
def test_the_models_load() -> None:
    assert only(doctor.check_ocr(quick=False)).status == "ok"
    embeddings = only(doctor.check_embedder(quick=False))
    assert embeddings.status == "ok" and "384 dims" in embeddings.what


# -- the tray ---------------------------------------------------------------------------------

def test_tray_error_state_leads_to_the_doctor(qapp) -> None:
    from app.desktop.tray import DOCTOR_LABEL, Tray

    opened: list[str] = []
    actions: defaultdict[str, object] = defaultdict(lambda: lambda: None)
    actions["doctor"] = lambda: opened.append("doctor")
    tray = Tray(actions)  # type: ignore[arg-type]
    assert tray.items["doctor"].isVisible() and tray.menu.defaultAction() is None  # locked: still there
    tray.show_state("error", "no window information here")
    assert tray.menu.defaultAction() is tray.items["doctor"] and DOCTOR_LABEL in tray.toolTip()
    tray.items["doctor"].trigger()
    assert opened == ["doctor"]
    tray.show_state("capturing", "capturing")
    assert tray.menu.defaultAction() is None and DOCTOR_LABEL not in tray.toolTip()


def test_doctor_window_shows_the_findings(qtbot) -> None:
    from app.desktop.doctor_window import DoctorWindow
    from app.qt import QGuiApplication

    findings = [Finding("Display", "warn", "Wayland: capture stays off", "log in with X11"),
                Finding("Disk", "ok", "12.0 GB free")]
    window = DoctorWindow(lambda: findings)
    qtbot.addWidget(window)
    window.show()
    window.check()
    qtbot.waitUntil(lambda: window.findings == findings, timeout=5_000)
    shown = window.view.toPlainText()
    assert "Wayland: capture stays off" in shown and "→ log in with X11" in shown and "limited" in shown
    assert window.summary.text().startswith("0 not working, 1 working with limits")
    window.copy.click()
    assert QGuiApplication.clipboard().text() == doctor.report(findings)


@pytest.mark.slow
def test_the_app_opens_the_doctor_with_its_own_shortcut_state(qtbot, home: Path) -> None:
    from app.desktop.main import DesktopApp
    from app.qt import QApplication

    desktop = DesktopApp(QApplication.instance())
    try:
        desktop.hotkey, desktop.hotkey_problem = None, "no X11 display"
        desktop.tray.messageClicked.emit()  # the "Engram stopped capturing" balloon, clicked
        window = desktop.doctor_window
        qtbot.waitUntil(lambda: bool(window.findings), timeout=60_000)
        shortcut = next(f for f in window.findings if f.area == "Shortcut")
        assert shortcut.status == "warn" and "no X11 display" in shortcut.what
        assert desktop.store is None  # nothing was unlocked
    finally:
        desktop.server.close()
        if desktop.doctor_window is not None:
            desktop.doctor_window.close()

