"""`engram` with no arguments: the desktop app, one instance per user.

A second `engram` (or `engram recall`, which users on Wayland or any desktop
bind to a shortcut) only tells the running instance what to show.
"""
from __future__ import annotations

import hashlib
import logging
import sys
import threading
import time
from typing import Any

from app.archive import export_archive
from app.desktop.ask_panel import AskPanel
from app.desktop.browser import MemoryBrowser
from app.desktop.detail import MemoryDetail
from app.desktop.footprint import give_memory_back, limit_heap_arenas, release_models
from app.desktop.mcp_bridge import McpBridge
from app.mcp.relay import PREFIX as MCP_PREFIX
from app.desktop.ops import post_to_gui, run_in_background, wait_for_background
from app.desktop.recall import RecallPopup
from app.desktop.settings import SettingsWindow
from app.desktop.timeline import TimelineWindow
from app.desktop.tray import Tray
from app.desktop.unlock import FirstRunDialog, UnlockDialog
from app.idle_pages import let_go_of_library_pages
from app.qt import QApplication, QDialog, QLocalServer, QLocalSocket, QSystemTrayIcon, QTimer
from storage import paths
from storage.config import Config

log = logging.getLogger(__name__)
# A question's model is closed after this long without another question.
MODEL_IDLE_SECONDS = 600.0




def instance_name() -> str:
    """One name per data directory, so two users (or a test's ENGRAM_HOME) never collide."""
    return "engram-" + hashlib.sha256(str(paths.home().resolve()).encode()).hexdigest()[:16]


def tell_running_instance(message: str, timeout_ms: int = 1000) -> bool:
    """Send `message` ('show', 'recall') to a running Engram; False if none runs."""
    socket = QLocalSocket()
    socket.connectToServer(instance_name())
    if not socket.waitForConnected(timeout_ms):
        return False
    socket.write(message.encode() + b"\n")
    socket.flush()
    socket.waitForBytesWritten(timeout_ms)
    socket.disconnectFromServer()
    return True


class DesktopApp:
    def __init__(self, app: QApplication, open_store: Any = None, create_store: Any = None,
                 start_capture: Any = None, start_agents: Any = None) -> None:
        from app.desktop.services import create_store as default_create
        from app.desktop.services import open_store as default_open
        from app.desktop.services import start_agents as default_agents
        from app.desktop.services import start_capture as default_capture

        self.app = app
        self.open_store = open_store or default_open
        self.create_store = create_store or default_create
        self.start_capture = start_capture or default_capture
        self.start_agents = start_agents or default_agents
        self.store: Any = None
        self.capture: Any = None
        self.agents: Any = None
        self.details: list[MemoryDetail] = []
        self.popup = RecallPopup(self._search, self._open_hit, self._thumbnails)
        self.hotkey: Any = None
        self.hotkey_problem = ""
        self.ask_panel: AskPanel | None = None
        self.browser: MemoryBrowser | None = None
        self.timeline: TimelineWindow | None = None
        self.settings: SettingsWindow | None = None
        self.asker: Any = None
        self._asker_lock = threading.Lock()
        self.capture_problem = ""
        self._asked_at = 0.0
        self.tray = Tray({"search": self.show_recall, "ask": self.show_ask, "memories": self.show_browser, "timeline": self.show_timeline, "settings": self.show_settings, "pause_15": lambda: self.pause(15),
                          "pause_60": lambda: self.pause(60), "pause_forever": lambda: self.pause(None),
                          "resume": self.resume, "lock": self.lock, "unlock": self.unlock, "quit": self.quit,
                          "doctor": self.show_doctor},
                         self._hotkey_hint())
        self.tray.messageClicked.connect(self.show_doctor)  # "Engram stopped capturing": why, and what to do
        self.doctor_window: Any = None
        self._auto_lock = QTimer()
        self._auto_lock.setInterval(20_000)
        self._auto_lock.timeout.connect(self.check_auto_lock)
        # A pause can end by its time or by `engram capture --resume` in a terminal: the menu shows what is true.
        self.tray.menu.aboutToShow.connect(self._refresh_state)
        self._told_reason: str | None = None   # the capture error last announced, so it is announced once
        self._told_rows: tuple[str, ...] = ()  # the row check's findings last announced
        self.idle_source: Any = None      # what tells idle time and screen lock (the capture's window provider)
        self.server = QLocalServer()
        QLocalServer.removeServer(instance_name())  # a stale socket left by a crash
        self.server.listen(instance_name())
        self.server.newConnection.connect(self._message)
        self.mcp = McpBridge(self)  # `engram mcp` relays agents' calls over the same socket

    # -- lifecycle --------------------------------------------------------------

    def start(self) -> bool:
        if QSystemTrayIcon.isSystemTrayAvailable():
            self.tray.show()
        self.start_hotkey()
        return self.unlock()

    def start_hotkey(self) -> None:
        """Listen for the recall shortcut; where that is impossible, say how to bind `engram recall`."""
        from app.desktop.hotkey import shortcut_listener
        from app.desktop.shortcut import HotkeyUnavailable

        shortcut = Config.load().get("desktop.hotkey")
        try:
            # Heard on the listener's thread, acted on in the GUI thread.
            self.hotkey = shortcut_listener(shortcut, lambda: post_to_gui(self.show_recall))
            self.hotkey.start()
            self.hotkey_problem = ""
        except (HotkeyUnavailable, ValueError) as exc:
            self.hotkey, self.hotkey_problem = None, str(exc)
            log.info("no global shortcut: %s", exc)
        self.tray.set_hotkey_hint(self._hotkey_hint())

    def _hotkey_hint(self) -> str:
        if self.hotkey is not None:
            return str(self.hotkey.shortcut)
        return "(bind: engram recall)" if self.hotkey_problem else ""

    def unlock(self) -> bool:
        first_run = not paths.key_file().exists()
        dialog: Any = FirstRunDialog(self.create_store) if first_run else UnlockDialog(self.open_store, ask_keyring=True)
        if dialog.exec() != QDialog.DialogCode.Accepted or dialog.store is None:
            return False
        self.store = dialog.store
        if dialog.note:   # opened with the recovery key, or the keyring did not take the passphrase
            self.tray.showMessage("Engram", dialog.note)
        try:
            self.capture, self.capture_problem = self.start_capture(self.store), ""
        except (ValueError, OSError, RuntimeError) as exc:  # a bad setting, a missing part: the rest still works
            log.error("capture did not start: %s", exc)
            self.capture, self.capture_problem = None, f"capture did not start: {exc}"
        self.agents = self.start_agents(self.store)
        self._auto_lock.start()
        self._refresh_state()
        if not QSystemTrayIcon.isSystemTrayAvailable():
            self.show_recall()  # no tray to live in: at least show something useful
        return True

    def lock(self) -> None:
        """Keys dropped, capture stopped, every window showing memory closed, the models let go."""
        self._auto_lock.stop()
        self.popup.forget()
        for window in (self.ask_panel, self.browser, self.timeline, self.settings):
            if window is not None:
                window.close()
        self.ask_panel = self.browser = self.timeline = self.settings = None
        if self.asker is not None and self.asker.llm is not None:
            self.asker.llm.close()
        self.asker = None
        for detail in self.details:
            detail.close()
        self.details.clear()
        capture, store = self.capture, self.store
        for service in (self.capture, self.agents):
            if service is not None:
                service.stop()
        self.capture = self.agents = None
        if self.store is not None:
            self.store.close()
            self.store = None
        release_models(capture, store)
        del capture, store  # the last references: the store's table handles go with them
        give_memory_back()
        let_go_of_library_pages()
        self.tray.show_state("locked", "locked")

    def check_auto_lock(self) -> None:
        """Locked after the idle time in Settings and whenever the screen locks: keys dropped, windows closed."""
        if self.store is None:
            return
        self.release_idle_model()
        self._refresh_state()
        source = self.idle_source or getattr(getattr(self.capture, "recorder", None), "windows", None)
        if source is None:
            return
        minutes = Config.load().get("security.auto_lock_minutes")
        idle = source.idle_seconds()
        if source.screen_locked() or (minutes and idle is not None and idle >= minutes * 60):
            log.info("auto-lock")
            self.lock()

    def quit(self) -> None:
        if self.hotkey is not None:
            self.hotkey.stop()
            self.hotkey = None
        self.lock()
        wait_for_background()
        self.server.close()
        self.tray.hide()
        self.app.quit()

    # -- actions --------------------------------------------------------------

    def show_recall(self) -> None:
        if self.store is None:
            if not self.unlock():
                return
        self.popup.popup()

    def _bring_up(self, name: str, make: Any) -> Any:
        """Unlock if needed, then show the window kept in attribute `name` (made once by `make`)."""
        if self.store is None and not self.unlock():
            return None
        window = getattr(self, name)
        if window is None:
            window = make()
            setattr(self, name, window)
        window.show()
        window.raise_()
        window.activateWindow()
        return window

    def show_ask(self) -> None:
        if self._bring_up("ask_panel", lambda: AskPanel(self._ask, self._open_hit, self._read_ahead)) is not None:
            # A question is coming: the model loads and reads the prompts' fixed start while it is typed.
            run_in_background(lambda: self._asker_for_questions().warm_up(), lambda _: None,
                              lambda exc: log.info("the question model was not warmed: %s", exc))

    def show_timeline(self, frame_id: str | None = None, moment: Any = None) -> None:
        reopened = self.timeline is not None
        timeline = self._bring_up("timeline", lambda: TimelineWindow(self.store))
        if timeline is not None and frame_id is not None and moment is not None:
            timeline.show_moment(frame_id, moment)
        elif timeline is not None and reopened:
            timeline.refresh()

    def show_browser(self) -> None:
        browser = self._bring_up("browser", lambda: MemoryBrowser(self.store, self._open_hit))
        if browser is not None:
            browser.refresh_current()

    def show_doctor(self) -> None:
        """What works on this computer: no unlock needed, the doctor never opens the store."""
        from app.desktop.doctor_window import DoctorWindow
        from app.doctor import AppFacts, run

        facts = AppFacts(str(self.hotkey.shortcut) if self.hotkey is not None else "", self.hotkey_problem,
                         self._rows_changed())
        if self.doctor_window is not None:
            self.doctor_window.close()
        self.doctor_window = DoctorWindow(lambda: run(facts=facts))
        self.doctor_window.show()
        self.doctor_window.check()

    def show_settings(self) -> None:
        self._bring_up("settings", lambda: SettingsWindow(
            {"test_model": _describe_model, "change_passphrase": self._change_passphrase,
             "export": lambda path: export_archive(self.store, path), "delete_everything": self.delete_everything,
             "agents": lambda: self.mcp.service},
            hotkey_problem=self.hotkey_problem))

    def _change_passphrase(self, new: str) -> None:
        if self.store is None:
            raise RuntimeError("Engram is locked")
        config = Config.load()
        self.store.vault.change_passphrase(new, target_seconds=config.get("security.kdf_target_seconds"))
        if config.get("security.use_keyring"):
            from app import keyring_unlock

            keyring_unlock.remember(new)

    def delete_everything(self) -> None:
        """After the user typed DELETE: everything goes, and Engram quits."""
        from app.archive import erase_everything

        self.lock()
        wait_for_background()
        erase_everything()
        self.tray.showMessage("Engram", "Everything Engram stored on this computer was deleted.")
        self.quit()

    def _ask(self, question: str, on_text: Any, on_reading: Any) -> Any:
        """On a worker thread (the panel runs it through ops.run_in_background)."""
        try:
            return self._asker_for_questions().ask(question, on_text=on_text, on_reading=on_reading)
        finally:
            self._asked_at = time.monotonic()

    def _read_ahead(self, draft: str) -> int:
        """On a worker thread: the model reads the notes of a question being typed (the panel, after a pause)."""
        return int(self._asker_for_questions().read_ahead(draft))

    def _asker_for_questions(self) -> Any:
        """On a worker thread: the asker, built by whichever thread needs it first (one model, not two)."""
        from app.cli.ask import build_asker

        with self._asker_lock:
            if self.store is None:
                raise RuntimeError("Engram is locked")
            self._asked_at = time.monotonic()
            if self.asker is None:
                self.asker = build_asker(self.store)
            return self.asker

    def release_idle_model(self) -> None:
        """A language model holds hundreds of MB: let it go after a quiet spell (the next question loads it)."""
        if self.asker is None or time.monotonic() - self._asked_at < MODEL_IDLE_SECONDS:
            return
        asker, self.asker = self.asker, None
        if asker.llm is not None:
            run_in_background(asker.llm.close, lambda _: None)

    def pause(self, minutes: float | None) -> None:
        from app.capture import pause

        pause.pause(minutes)
        self._refresh_state()

    def resume(self) -> None:
        from app.capture import pause

        pause.resume()
        self._refresh_state()

    def _rows_changed(self) -> tuple[str, ...]:
        """What the hourly row check last found (storage/ledger.py): rows changed outside Engram."""
        return tuple(f.line() for f in self.store.ledger.last_findings()) if self.store is not None else ()

    def _refresh_state(self) -> None:
        from app.capture import pause

        if self.store is None:
            self.tray.show_state("locked", "locked")
            return
        rows_changed = self._rows_changed()
        if rows_changed and rows_changed != self._told_rows:
            self.tray.showMessage("Engram: memories changed outside Engram",
                                  rows_changed[0] + "\nClick for what to do.", QSystemTrayIcon.MessageIcon.Warning)
        self._told_rows = rows_changed
        until = pause.paused_until()
        if self.capture is None:
            if self.capture_problem:
                self.tray.show_state("error", self.capture_problem)
            else:
                self.tray.show_state("paused", "screen capture is off (Settings)")
            return
        reason = self.capture.recorder.stopped_reason
        told, self._told_reason = self._told_reason, reason
        health = getattr(self.capture, "health", None)
        self.tray.show_health(health().summary() if health is not None else "")
        if until is not None:
            self.tray.show_state("paused", "paused " + (until if isinstance(until, str)
                                                         else f"until {until.astimezone():%H:%M}"))
        elif self.capture.recorder.quiet():
            self.tray.show_state("paused", "quiet hours (see Settings)")
        elif reason:
            self.tray.show_state("error", reason)
            if reason != told:
                self.tray.showMessage("Engram stopped capturing", reason + "\nClick for what works on this computer.")
        else:
            self.tray.show_state("capturing", "capturing")

    def _search(self, query: str, options: Any) -> Any:
        store = self.store
        if store is None:
            raise RuntimeError("Engram is locked")
        return store.search(query, options)

    def _thumbnails(self, frame_ids: list[str]) -> dict[str, bytes]:
        from app.desktop.pixmaps import load_thumbnails

        store = self.store
        if store is None:
            raise RuntimeError("Engram is locked")
        return load_thumbnails(store, frame_ids)

    def _open_hit(self, hit: Any) -> None:
        """A screen opens at its moment in the timeline; a memory opens with its text and sources."""
        if self.store is None:
            return
        if hit.kind == "frame":
            self.show_timeline(hit.id, hit.time)
            return
        detail = MemoryDetail(self.store, hit)
        self.details.append(detail)
        detail.show()

    def _message(self) -> None:
        connection = self.server.nextPendingConnection()
        if connection is None:
            return
        connection.waitForReadyRead(500)
        data = bytes(connection.readAll().data())
        if data.startswith(MCP_PREFIX):
            self.mcp.take(connection, data)  # answered on this connection once the call has run
            return
        message = data.decode(errors="replace").strip()
        connection.disconnectFromServer()
        if message in ("show", "recall"):
            self.show_recall()
        elif message == "ask":
            self.show_ask()


def _describe_model(path: str) -> str:
    """On a worker thread: load a chosen GGUF once to tell its tier (and whether it loads at all)."""
    from agents.llm import LocalLLM

    llm = LocalLLM(configured=path)
    try:
        return llm.load().describe()
    finally:
        llm.close()


def run(argv: list[str] | None = None) -> int:
    limit_heap_arenas()  # before QApplication and the services start their threads
    app = QApplication.instance() or QApplication(argv or sys.argv)
    app.setApplicationName("Engram")
    app.setQuitOnLastWindowClosed(False)
    if tell_running_instance("show"):
        print("Engram is already running: showing it.")
        return 0
    from app.capture.service import quiet_scheduler_logs
    from app.desktop.style import apply_style

    quiet_scheduler_logs()  # events in the log, not a line per capture tick or digest
    log.info("desktop app started")
    apply_style(app)
    desktop = DesktopApp(app)
    if not desktop.start():
        desktop.quit()
        return 0
    app.aboutToQuit.connect(desktop.lock)
    return int(app.exec())


def recall() -> int:
    """`engram recall`: open the running instance's search box (bind it to a shortcut anywhere)."""
    app = QApplication.instance() or QApplication(sys.argv)
    del app
    if tell_running_instance("recall"):
        return 0
    print("Engram is not running: start it with `engram`.", file=sys.stderr)
    return 1
