"""The desktop windows' logic, with a real Qt app (offscreen) and a real store."""
import sys
import threading
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from app.desktop.main import DesktopApp, instance_name, tell_running_instance
from app.desktop.ops import wait_for_background
from app.desktop.recall import RecallPopup, highlighted, relative_time
from app.desktop.unlock import FirstRunDialog, UnlockDialog, strength_hint
from app.qt import QApplication, Qt
from storage.memory import Memory, Trust
from storage.store import MemoryStore

from conftest import FAST_KDF, PASSPHRASE, as_of_schema
from fakes import HashEmbedder


# These tests also run on Windows and macOS (.github/workflows/desktop-builds.yml); this one part is Linux's.
linux_autostart = pytest.mark.skipif(not sys.platform.startswith("linux"), reason=(
    "start at login is set up on Linux only so far (an XDG autostart entry, app/autostart.py)"))


def open_with_fake(passphrase: str) -> MemoryStore:
    return MemoryStore.open(passphrase, embedder=HashEmbedder())


@pytest.mark.parametrize("passphrase, hint", [
    ("", ""), ("short", "Too short"), ("password1", "Weak"), ("Tr0ub4dor&3x", "Good"),
    ("correct horse battery staple", "Strong"),
])
def test_strength_hint(passphrase: str, hint: str) -> None:
    assert strength_hint(passphrase).startswith(hint)


def test_unlock_with_wrong_then_right_passphrase(qtbot, store: MemoryStore) -> None:
    store.close()
    dialog = UnlockDialog(open_with_fake)
    qtbot.addWidget(dialog)
    dialog.passphrase.setText("not it")
    dialog.submit()
    qtbot.waitUntil(lambda: not dialog.error.isHidden() and dialog.button.isEnabled(), timeout=20_000)
    assert "Wrong passphrase" in dialog.error.text() and dialog.passphrase.text() == ""
    dialog.passphrase.setText(PASSPHRASE)
    with qtbot.waitSignal(dialog.accepted, timeout=20_000):
        dialog.submit()
    assert dialog.store is not None and dialog.store.vault.is_unlocked


def test_unlocking_a_store_from_an_older_version_says_it_is_upgrading(qtbot, store: MemoryStore, home: Path) -> None:
    import json

    from storage.store import needs_upgrade

    store.close()
    as_of_schema(home, 3)
    assert needs_upgrade()
    dialog = UnlockDialog(open_with_fake)
    qtbot.addWidget(dialog)
    dialog.passphrase.setText(PASSPHRASE)
    with qtbot.waitSignal(dialog.accepted, timeout=20_000):
        dialog.submit()
        assert not dialog.upgrading.isHidden() and dialog.button.text() == "Upgrading…"
    assert dialog.store is not None and not needs_upgrade()


@linux_autostart
def test_first_run_checks_the_passphrase_then_creates_the_store(qtbot, home: Path, monkeypatch) -> None:
    shown: list[str] = []
    monkeypatch.setattr("app.desktop.unlock.RecoveryKeyDialog.exec", lambda self: shown.append("shown") or 1)
    dialog = FirstRunDialog(lambda p: MemoryStore.create(p, embedder=HashEmbedder(), kdf_seconds=FAST_KDF))
    qtbot.addWidget(dialog)
    dialog.passphrase.setText("short")
    dialog.submit()
    assert "8 characters" in dialog.error.text()
    dialog.passphrase.setText("a long enough passphrase")
    dialog.repeat.setText("a different one entirely")
    dialog.submit()
    assert "differ" in dialog.error.text() and not (home / "keys.json").exists()
    dialog.repeat.setText("a long enough passphrase")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / "xdg"))
    dialog.capture.setChecked(False)                  # no consent to screen capture
    dialog.excluded.setPlainText("keepassxc\nsignal-desktop")
    dialog.at_login.setChecked(True)
    with qtbot.waitSignal(dialog.accepted, timeout=20_000):
        dialog.submit()
    assert (home / "keys.json").exists() and shown == ["shown"] and len(dialog.recovery_key) == 39
    from storage.config import Config

    chosen = Config.load()
    assert chosen.get("capture.enabled") is False and chosen.get("capture.excluded_apps") == ["keepassxc", "signal-desktop"]
    assert (home / "xdg" / "autostart" / "engram.desktop").exists()


@pytest.fixture
def seeded(store: MemoryStore) -> MemoryStore:
    now = datetime.now(timezone.utc)
    store.add([Memory("message", f"budget note number {i}", time=now - timedelta(hours=i)) for i in range(5)]
              + [Memory("frame", "budget spreadsheet on screen", time=now - timedelta(days=9), app="calc")])
    return store


def test_recall_types_navigates_opens_and_closes(qtbot, seeded: MemoryStore) -> None:
    opened = []
    popup = RecallPopup(lambda q, o: seeded.search(q, o), opened.append)
    qtbot.addWidget(popup)
    popup.popup()
    qtbot.keyClicks(popup.query, "budget")
    qtbot.waitUntil(lambda: len(popup.hits) == 6, timeout=10_000)
    assert popup.results.currentRow() == 0
    qtbot.keyClick(popup.query, Qt.Key.Key_Down)
    qtbot.keyClick(popup.query, Qt.Key.Key_Down)
    qtbot.keyClick(popup.query, Qt.Key.Key_Up)
    assert popup.results.currentRow() == 1
    qtbot.keyClick(popup.query, Qt.Key.Key_C, Qt.KeyboardModifier.ControlModifier)
    assert QApplication.clipboard().text() == popup.hits[1].snippet
    qtbot.keyClick(popup.query, Qt.Key.Key_Return)
    assert opened == [popup.hits[1]] and not popup.isVisible()
    popup.popup()
    qtbot.keyClick(popup.query, Qt.Key.Key_Escape)
    assert not popup.isVisible()


def test_recall_rows_show_a_thumbnail_for_screens_and_forget_everything_on_lock(qtbot, store: MemoryStore) -> None:
    from PIL import Image

    from app.capture.encode import encode_frame
    from app.desktop.result_rows import META_ROLE, SNIPPET_ROLE
    from app.desktop.pixmaps import load_thumbnails
    from app.capture.encode import THUMB_WIDTH

    encoded = encode_frame(Image.new("RGB", (640, 360), "#4070c0"))
    store.add([Memory("frame", "quarterly budget on screen", {"monitor": 0, "image_id": store.blobs.put(encoded.image),
                                                              "thumb_id": store.blobs.put(encoded.thumbnail)},
                      app="calc", trust=Trust.OBSERVED),
               Memory("message", "the budget is due friday")])
    popup = RecallPopup(lambda q, o: store.search(q, o), lambda hit: None, lambda ids: load_thumbnails(store, ids))
    qtbot.addWidget(popup)
    popup.query.setText("budget")
    qtbot.waitUntil(lambda: len(popup.hits) == 2, timeout=10_000)
    rows = {hit.kind: popup.results.item(i) for i, hit in enumerate(popup.hits)}
    qtbot.waitUntil(lambda: rows["frame"].data(Qt.ItemDataRole.DecorationRole) is not None, timeout=10_000)
    thumb = rows["frame"].data(Qt.ItemDataRole.DecorationRole)
    assert thumb.width() == THUMB_WIDTH and thumb.toImage().pixelColor(10, 10).blue() > 150
    assert rows["message"].data(Qt.ItemDataRole.DecorationRole) is None          # chats have no picture
    assert "<b>budget</b>" in rows["frame"].data(SNIPPET_ROLE) and rows["frame"].data(META_ROLE).startswith("Screen · calc")
    popup.forget()
    assert popup.results.count() == 0 and popup.query.text() == "" and not popup._thumbs


def test_recall_folds_screens_showing_the_same_words(qtbot, store: MemoryStore) -> None:
    from app.desktop.result_rows import META_ROLE

    now = datetime.now(timezone.utc)
    store.add([Memory("frame", "quarterly budget draft", {"monitor": 0}, app="calc", time=now - timedelta(minutes=i),
                      trust=Trust.OBSERVED) for i in range(3)]
              + [Memory("frame", "quarterly budget draft", {"monitor": 0}, app="mail", trust=Trust.OBSERVED),
                 Memory("message", "quarterly budget draft")])
    popup = RecallPopup(lambda q, o: store.search(q, o), lambda hit: None)
    qtbot.addWidget(popup)
    popup.query.setText("quarterly budget")
    qtbot.waitUntil(lambda: popup.status.text().endswith("result(s)"), timeout=10_000)
    assert sorted((h.kind, h.app) for h in popup.hits) == [("frame", "calc"), ("frame", "mail"), ("message", "")]
    calc = next(i for i, h in enumerate(popup.hits) if h.app == "calc")
    assert popup.results.item(calc).data(META_ROLE).endswith("2 more like it")
    assert popup.status.text().startswith("3 result")


def test_recall_filter_chips(qtbot, seeded: MemoryStore) -> None:
    popup = RecallPopup(lambda q, o: seeded.search(q, o), lambda hit: None)
    qtbot.addWidget(popup)
    popup.query.setText("budget")
    popup.choose_chip(1)  # Screens
    qtbot.waitUntil(lambda: bool(popup.hits) and popup.status.text() != "Searching…", timeout=10_000)
    assert [h.kind for h in popup.hits] == ["frame"]
    popup.choose_chip(4)  # This week: the 9-day-old frame is out
    qtbot.waitUntil(lambda: popup.status.text() != "Searching…", timeout=10_000)
    assert popup.hits and all(h.kind == "message" for h in popup.hits)


def test_recall_drops_results_of_an_older_query(qtbot, seeded: MemoryStore) -> None:
    import threading

    release = threading.Event()

    def slow_then_fast(query, options):
        if query == "slow":
            release.wait(10)
        return seeded.search("budget" if query == "slow" else query, options)

    popup = RecallPopup(slow_then_fast, lambda hit: None)
    qtbot.addWidget(popup)
    popup.query.setText("slow")
    popup.run_search()
    popup.query.setText("spreadsheet")
    popup.run_search()
    qtbot.waitUntil(lambda: len(popup.hits) == 1, timeout=10_000)
    release.set()
    wait_for_background()
    QApplication.processEvents()
    assert [h.snippet for h in popup.hits] == ["budget spreadsheet on screen"]


def test_highlighting_and_relative_times() -> None:
    assert highlighted("Anna <b> budget", ["budget"]) == "Anna &lt;b&gt; <b>budget</b>"
    now = datetime(2026, 11, 25, 12, 0, tzinfo=timezone.utc)
    assert relative_time(now - timedelta(seconds=30), now) == "just now"
    assert relative_time(now - timedelta(minutes=12), now) == "12 min ago"
    assert relative_time(now - timedelta(hours=5), now) == "5 h ago"


class StubCapture:
    def __init__(self) -> None:
        self.stopped = False
        self.recorder = type("R", (), {"stopped_reason": None, "quiet": lambda self: False})()

    def stop(self) -> None:
        self.stopped = True


def test_single_instance_handoff_and_lock(qtbot, store: MemoryStore, monkeypatch) -> None:
    store.close()
    capture = StubCapture()
    desktop = DesktopApp(QApplication.instance(), open_store=open_with_fake, start_capture=lambda s: capture)
    monkeypatch.setattr(UnlockDialog, "exec", lambda self: (self.passphrase.setText(PASSPHRASE), self.submit(),
                                                            qtbot.waitUntil(lambda: self.store is not None,
                                                                            timeout=20_000), 1)[-1])
    assert desktop.unlock() and desktop.tray.state == "capturing" and desktop.agents is not None
    assert instance_name().startswith("engram-")
    assert tell_running_instance("recall")
    qtbot.waitUntil(desktop.popup.isVisible, timeout=5_000)
    desktop.pause(15)
    assert desktop.tray.state == "paused" and desktop.tray.items["resume"].isVisible()
    desktop.resume()
    assert desktop.tray.state == "capturing"
    desktop.show_ask(), desktop.show_timeline(), desktop.show_browser(), desktop.show_settings()
    windows = [desktop.ask_panel, desktop.timeline, desktop.browser, desktop.settings]
    assert all(w is not None and w.isVisible() for w in windows)
    wait_for_background()
    vault = desktop.store.vault
    desktop.lock()
    assert capture.stopped and desktop.agents is None and not vault.is_unlocked and not desktop.popup.isVisible()
    assert not any(w.isVisible() for w in windows) and desktop.timeline is None
    assert desktop.tray.state == "locked" and desktop.tray.items["unlock"].isVisible()
    desktop.server.close()


def test_ask_panel_streams_links_its_sources_and_takes_one_question_at_a_time(qtbot) -> None:
    from agents.ask import Answer, Source
    from app.desktop.ask_panel import AskPanel

    when = datetime(2026, 3, 2, 9, 30, tzinfo=timezone.utc)
    source = Source("S1", "a" * 32, "message", when, "Rui: the cabin wifi is BlueFjord", "WhatsApp")
    other = Source("S2", "b" * 32, "message", when, "Ana: the boat leaves at nine", "WhatsApp")
    calls, opened = [], []
    read = threading.Event()

    def ask(question, on_text, on_reading):
        calls.append(question)
        on_reading([source, other])
        read.wait(10)                                     # the model reading its notes
        for piece in ("The cabin ", "wifi is ", "BlueFjord [S1]."):
            on_text(piece)
        return Answer(question, "The cabin wifi is BlueFjord [S1].", "model", [source], [source, other])

    panel = AskPanel(ask, opened.append)
    qtbot.addWidget(panel)
    panel.show()
    qtbot.keyClicks(panel.input, "what is the cabin wifi?")
    qtbot.keyClick(panel.input, Qt.Key.Key_Return)
    qtbot.keyClick(panel.input, Qt.Key.Key_Return)       # nothing typed, and busy: ignored
    # While the model reads, the panel says so and lists what it reads, each note one click away.
    qtbot.waitUntil(lambda: "reading 2 notes" in panel.view.toPlainText(), timeout=10_000)
    assert "the boat leaves at nine" in panel.view.toPlainText()
    panel._open("src2")
    read.set()
    qtbot.waitUntil(lambda: not panel.busy, timeout=10_000)
    assert calls == ["what is the cabin wifi?"] and panel.button.isEnabled()
    page, shown = panel.view.toHtml(), panel.view.toPlainText()
    assert "BlueFjord" in page and "href=\"src1\"" in page and "WhatsApp" in page
    assert "reading" not in shown and "the boat leaves" not in shown   # the answer lists what it cites
    panel._open("src1")
    assert [hit.id for hit in opened] == ["b" * 32, "a" * 32]


def test_ask_panel_reads_a_draft_ahead_when_typing_pauses_and_not_once_the_question_is_asked(qtbot) -> None:
    from agents.ask import Answer
    from app.desktop.ask_panel import AskPanel

    drafts, asked = [], []
    panel = AskPanel(lambda q, on_text, on_reading: asked.append(q) or Answer(q, "I don't know", "unknown"),
                     lambda hit: None, drafts.append)
    qtbot.addWidget(panel)
    panel.show()
    qtbot.keyClicks(panel.input, "when is Tom's")
    qtbot.waitUntil(lambda: drafts == ["when is Tom's"], timeout=5_000)     # a pause: the draft is read ahead
    qtbot.wait(800)
    assert drafts == ["when is Tom's"]                                       # once, however long the pause
    qtbot.keyClicks(panel.input, " birthday?")
    qtbot.keyClick(panel.input, Qt.Key.Key_Return)                          # asked before the next pause
    qtbot.waitUntil(lambda: not panel.busy, timeout=5_000)
    qtbot.wait(800)
    assert asked == ["when is Tom's birthday?"] and drafts == ["when is Tom's"]


def test_ask_panel_reads_a_pasted_question_ahead_at_once(qtbot) -> None:
    """Enter tends to follow a paste sooner than any pause in typing: the pasted question is read at once."""
    from agents.ask import Answer
    from app.desktop.ask_panel import AskPanel

    drafts: list[str] = []
    panel = AskPanel(lambda q, on_text, on_reading: Answer(q, "I don't know", "unknown"), lambda hit: None,
                     drafts.append)
    qtbot.addWidget(panel)
    panel.show()
    QApplication.clipboard().setText("when is Tom's birthday?")
    panel.input.paste()                       # as Ctrl+V does: one edit
    assert not panel._pause.isActive()        # handed to the reader now, not after a pause
    qtbot.waitUntil(lambda: drafts == ["when is Tom's birthday?"], timeout=5_000)
    qtbot.keyClicks(panel.input, " ok")       # typing after it waits for a pause again
    assert panel._pause.isActive() and drafts == ["when is Tom's birthday?"]
    qtbot.waitUntil(lambda: drafts[-1] == "when is Tom's birthday? ok", timeout=5_000)


def test_a_copied_value_leaves_the_clipboard_unless_replaced(qtbot) -> None:
    from app.desktop.clipboard import copy_for_a_while

    clipboard = QApplication.clipboard()
    copy_for_a_while("X1234567", seconds=0.2)
    assert clipboard.text() == "X1234567"
    qtbot.waitUntil(lambda: clipboard.text() == "", timeout=3_000)
    copy_for_a_while("X1234567", seconds=0.2)
    clipboard.setText("something the user copied since")
    qtbot.wait(400)
    assert clipboard.text() == "something the user copied since"


def test_auto_lock_after_idle_time_and_on_screen_lock(qtbot, store: MemoryStore, monkeypatch) -> None:
    store.close()

    class Desk:
        idle, locked = 0.0, False

        def idle_seconds(self):
            return self.idle

        def screen_locked(self):
            return self.locked

    desktop = DesktopApp(QApplication.instance(), open_store=open_with_fake, start_capture=lambda s: StubCapture(),
                         start_agents=lambda s: StubCapture())
    desktop.idle_source = desk = Desk()
    monkeypatch.setattr(UnlockDialog, "exec", lambda self: (self.passphrase.setText(PASSPHRASE), self.submit(),
                                                            qtbot.waitUntil(lambda: self.store is not None,
                                                                            timeout=20_000), 1)[-1])
    for make_it_lock in (lambda: setattr(desk, "idle", 15 * 60.0), lambda: setattr(desk, "locked", True)):
        desk.idle, desk.locked = 0.0, False
        assert desktop.unlock()
        desktop.check_auto_lock()
        assert desktop.store is not None             # active user: stays unlocked
        make_it_lock()
        desktop.check_auto_lock()
        assert desktop.store is None and desktop.tray.state == "locked"
    desktop.server.close()


def test_a_quiet_spell_closes_the_question_model(qtbot, store: MemoryStore, monkeypatch) -> None:
    import app.desktop.main as main

    closed = []

    class Model:
        def close(self):
            closed.append(1)

    class Asker:
        llm = Model()

        def ask(self, question, on_text=None, on_reading=None):
            return "an answer"

    monkeypatch.setattr("app.cli.ask.build_asker", lambda s: Asker())
    desktop = DesktopApp(QApplication.instance(), open_store=open_with_fake)
    desktop.store = store
    assert desktop._ask("what?", None, None) == "an answer" and desktop.asker is not None
    desktop.release_idle_model()
    assert desktop.asker is not None and not closed          # just used: kept
    monkeypatch.setattr(main.time, "monotonic", lambda: desktop._asked_at + main.MODEL_IDLE_SECONDS + 1)
    desktop.release_idle_model()
    qtbot.waitUntil(lambda: closed == [1], timeout=5_000)
    assert desktop.asker is None
    desktop.store = None
    desktop.server.close()


def test_opening_the_ask_panel_warms_the_one_question_model(qtbot, store: MemoryStore, monkeypatch) -> None:
    built, warmed, asked = [], [], []

    class Asker:
        llm = None

        def warm_up(self):
            warmed.append(1)

        def ask(self, question, on_text=None, on_reading=None):
            asked.append(question)
            return "an answer"

    monkeypatch.setattr("app.cli.ask.build_asker", lambda s: built.append(s) or Asker())
    desktop = DesktopApp(QApplication.instance(), open_store=open_with_fake)
    desktop.store = store
    desktop.show_ask()
    qtbot.waitUntil(lambda: warmed == [1], timeout=5_000)
    assert desktop._ask("what?", None, None) == "an answer" and asked == ["what?"]
    assert built == [store]                                    # the question used the warmed model
    desktop.ask_panel.close()
    desktop.store = None
    desktop.server.close()


def test_memory_browser_lists_filters_edits_deletes_and_guards_vault_values(qtbot, store: MemoryStore, monkeypatch) -> None:
    from app.desktop.browser import MASK, MemoryBrowser

    now = datetime.now(timezone.utc)
    store.add([Memory("semantic", "Tom works at Siemens", time=now - timedelta(days=2)),
               Memory("semantic", "Marta leads design", time=now - timedelta(days=1)),
               Memory("vault", "Passport number", secret="X1234567", fields={"entry_type": "passport"})])
    asked = []
    browser = MemoryBrowser(store, lambda hit: None, ask_passphrase=lambda: asked.append(1) or PASSPHRASE)
    qtbot.addWidget(browser)
    facts = browser.tables["semantic"]
    browser.tabs.setCurrentWidget(facts)
    qtbot.waitUntil(lambda: facts.table.rowCount() == 2, timeout=10_000)
    assert facts.table.item(0, 1).text() == "Marta leads design"          # newest first
    facts.filter.setText("siemens")
    assert facts.table.rowCount() == 1
    facts.table.setCurrentCell(0, 1)

    monkeypatch.setattr("app.desktop.browser.QInputDialog.getMultiLineText",
                        lambda *a, **k: ("Tom works at Siemens in Munich", True))
    facts.edit_selected()
    qtbot.waitUntil(lambda: any("Munich" in m.text for m in facts.memories), timeout=10_000)
    edited = next(m for m in store.list_range(kinds=["semantic"]) if "Munich" in m.text)
    assert edited.trust == 4 and edited.history[-1]["who"] == "user"

    facts.filter.setText("munich")
    facts.table.setCurrentCell(0, 1)
    monkeypatch.setattr(browser, "confirm", lambda question: False)
    facts.delete_selected()
    assert store.count("semantic") == 2                                     # cancelled: nothing gone
    monkeypatch.setattr(browser, "confirm", lambda question: True)
    facts.delete_selected()
    qtbot.waitUntil(lambda: store.count("semantic") == 1, timeout=10_000)

    vault = browser.tables["vault"]
    browser.tabs.setCurrentWidget(vault)
    qtbot.waitUntil(lambda: vault.table.rowCount() == 1, timeout=10_000)
    assert vault.table.item(0, 5).text() == MASK
    vault.table.setCurrentCell(0, 1)
    vault.reveal_selected()                              # just unlocked: no passphrase asked
    assert vault.table.item(0, 5).text() == "X1234567" and asked == []
    monkeypatch.setattr(type(store.vault), "unlocked_for", property(lambda self: 3600.0))
    vault._show()
    vault.table.setCurrentCell(0, 1)
    browser._ask_passphrase = lambda: "wrong passphrase"
    vault.reveal_selected()
    assert vault.table.item(0, 5).text() == MASK
    browser._ask_passphrase = lambda: PASSPHRASE
    vault.reveal_selected()
    assert vault.table.item(0, 5).text() == "X1234567"


def test_core_memory_is_edited_as_text_and_becomes_the_users_word(qtbot, store: MemoryStore) -> None:
    from agents.managers.core import CoreManager
    from app.desktop.browser import MemoryBrowser

    browser = MemoryBrowser(store, lambda hit: None)
    qtbot.addWidget(browser)
    qtbot.waitUntil(lambda: "Nothing yet" in browser.core.status.text(), timeout=10_000)
    browser.core.text.setPlainText("- Name: Ana Lima\n- Prefers window seats\n\n")
    browser.core.save_text()
    qtbot.waitUntil(lambda: browser.core.status.text() == "Saved", timeout=10_000)
    core = store.get(CoreManager.memory_id)
    assert core is not None and core.text == "- Name: Ana Lima\n- Prefers window seats"
    assert [f["trust"] for f in core.fields["facts"]] == [4, 4]


def test_timeline_shows_a_day_moves_highlights_and_forgets(qtbot, store: MemoryStore) -> None:
    from PIL import Image, ImageDraw

    from app.capture.encode import encode_frame
    from app.desktop.timeline import TimelineWindow
    from app.qt import QDate

    day = datetime(2026, 3, 2, 0, 0).astimezone()
    picture = Image.new("RGB", (400, 200), "white")
    ImageDraw.Draw(picture).text((20, 20), "invoice total", fill="black")
    encoded = encode_frame(picture)
    image_id, thumb_id = store.blobs.put(encoded.image), store.blobs.put(encoded.thumbnail)
    frames = [Memory("frame", f"screen {i}", {"monitor": 0, "image_id": image_id, "thumb_id": thumb_id,
                                             "boxes": [["invoice", 20, 20, 50, 12], ["total", 75, 20, 35, 12]]},
                     time=day + timedelta(hours=9, seconds=3 * i), app="Firefox" if i < 3 else "Writer")
              for i in range(5)]
    store.add(frames)
    store.add([Memory("episodic", "Q3 report (Writer)", time=day + timedelta(hours=9, seconds=9),
                      ended=day + timedelta(hours=9, seconds=12), source_kind="screen")])
    offered = []
    window = TimelineWindow(store, confirm=lambda question: True,
                            pick_range=lambda day_start, start, end, times: offered.append((start, end)) or (start, end))
    qtbot.addWidget(window)
    window.day.setDate(QDate(2026, 3, 2))
    qtbot.waitUntil(lambda: len(window.axis.frames) == 5 and window.frame is not None, timeout=10_000)
    assert window.frame.id == frames[-1].id and window.episodes.count() == 1     # the day's last screen first
    qtbot.waitUntil(lambda: window.strip.count() == 5 and not window.strip.item(0).icon().isNull(), timeout=10_000)
    qtbot.keyClick(window.axis, Qt.Key.Key_Left)
    qtbot.waitUntil(lambda: window.frame.id == frames[3].id, timeout=10_000)
    window._strip_chosen(window.strip.item(0))                                   # a thumbnail is clicked
    qtbot.waitUntil(lambda: window.frame.id == frames[0].id, timeout=10_000)
    qtbot.keyClick(window.axis, Qt.Key.Key_End)
    window.axis.choose(3)
    qtbot.waitUntil(lambda: window.frame.id == frames[3].id, timeout=10_000)
    window.episodes.itemClicked.emit(window.episodes.item(0))
    qtbot.waitUntil(lambda: window.frame.id == frames[3].id, timeout=10_000)
    window.highlight.setText("invoice")
    assert window.matched_boxes() == 1 and window.image.pixmap() is not None
    window.show()
    window.resize(700, 560)
    qtbot.waitUntil(lambda: window.image.pixmap().width() <= window.image.width(), timeout=5_000)
    small = window.image.pixmap().width()
    window.resize(1500, 1000)                                                       # the picture grows with the window
    qtbot.waitUntil(lambda: window.image.pixmap().width() > small, timeout=5_000)
    assert window.image.pixmap().height() <= window.image.height()
    window.axis.zoom(0.001, frames[2].time)
    assert window.axis.end - window.axis.start == timedelta(minutes=10)             # zoomed to the minimum

    window.show_moment(frames[1].id, frames[1].time)
    qtbot.waitUntil(lambda: window.frame is not None and window.frame.id == frames[1].id, timeout=10_000)
    window.forget_this_frame()
    qtbot.waitUntil(lambda: len(window.axis.frames) == 4, timeout=10_000)
    assert store.get(frames[1].id) is None
    window.forget_a_range()
    assert offered == [(day + timedelta(hours=9), day + timedelta(hours=10))]     # the chosen frame's hour to start with
    qtbot.waitUntil(lambda: len(window.axis.frames) == 0, timeout=10_000)
    assert store.count("frame") == store.count("episodic") == 0 and "Nothing was captured" in window.status.text()


def test_the_range_dialog_counts_the_screens_it_would_forget(qtbot) -> None:
    from app.desktop.forget_range import ForgetRangeDialog
    from app.qt import QTime

    day = datetime(2026, 3, 2, 0, 0).astimezone()
    times = [day + timedelta(hours=9, minutes=m) for m in (0, 20, 40, 70)] + [day + timedelta(hours=23, minutes=59, seconds=30)]
    dialog = ForgetRangeDialog(day, day + timedelta(hours=9), day + timedelta(hours=10), times)
    qtbot.addWidget(dialog)
    assert dialog.count() == 3 and dialog.forget.text() == "Forget 3 screens" and dialog.forget.isEnabled()
    dialog.until.setTime(QTime(8, 0))
    assert not dialog.forget.isEnabled() and "after the start" in dialog.summary.text()
    dialog.until.setTime(QTime(23, 59))                     # the last minute means the end of the day
    assert dialog.chosen() == (day + timedelta(hours=9), day + timedelta(days=1)) and dialog.count() == 5
    dialog.since.setTime(QTime(12, 0))
    dialog.until.setTime(QTime(13, 0))
    assert dialog.count() == 0 and not dialog.forget.isEnabled()


@linux_autostart
def test_settings_are_generated_validated_and_saved(qtbot, home: Path, monkeypatch) -> None:
    from app.desktop.settings import SettingsWindow
    from storage.config import Config

    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / "xdg"))
    window = SettingsWindow()
    qtbot.addWidget(window)
    assert window.tabs.count() == 7 and "capture.interval_seconds" in window.editors
    window.editors["capture.interval_seconds"].setValue(5.0)
    window.editors["capture.excluded_apps"].setPlainText("keepassxc\n\nsignal\n")
    window.editors["desktop.hotkey"].setText("F12")                  # a bare key is refused
    assert not window.save() and "needs a modifier" in window.status.text()
    assert not (home / "config.toml").exists()
    window.editors["desktop.hotkey"].setText("Ctrl+Alt+Space")
    window.editors["capture.quiet_hours"].setPlainText("after 6 pm")
    assert not window.save() and "18:00-08:00" in window.status.text()
    window.editors["capture.quiet_hours"].setPlainText("18:00-08:00\nSat,Sun 00:00-24:00")
    window.editors["capture.monitors"].setPlainText("left")
    assert not window.save() and "not a number" in window.status.text()
    window.editors["capture.monitors"].setPlainText("2")
    window.editors["model.endpoint"].setText("http://10.0.0.7:11434/v1")    # memories never leave the machine
    assert not window.save() and "not this computer" in window.status.text()
    window.editors["model.endpoint"].setText("")
    window.editors["desktop.start_at_login"].setChecked(True)
    assert window.save()
    saved = Config.load()
    assert saved.get("capture.interval_seconds") == 5.0 and saved.get("capture.excluded_apps") == ["keepassxc", "signal"]
    assert saved.get("desktop.hotkey") == "Ctrl+Alt+Space"
    assert saved.get("capture.quiet_hours") == ["18:00-08:00", "Sat,Sun 00:00-24:00"] and saved.get("capture.monitors") == ["2"]
    assert "retention.max_gb" not in (home / "config.toml").read_text()   # untouched defaults are not written
    assert (home / "xdg" / "autostart" / "engram.desktop").read_text().count("Exec=") == 1
    window.editors["desktop.start_at_login"].setChecked(False)
    assert window.save() and not (home / "xdg" / "autostart" / "engram.desktop").exists()


def test_delete_everything_needs_the_word_typed(qtbot, monkeypatch) -> None:
    from app.desktop.settings import SettingsWindow

    deleted = []
    window = SettingsWindow({"delete_everything": lambda: deleted.append(1)})
    qtbot.addWidget(window)
    monkeypatch.setattr("app.desktop.settings.QMessageBox.information", lambda *a: None)
    monkeypatch.setattr("app.desktop.settings.QInputDialog.getText", lambda *a, **k: ("delete", True))
    window.delete_everything()
    assert deleted == []
    monkeypatch.setattr("app.desktop.settings.QInputDialog.getText", lambda *a, **k: ("DELETE", True))
    window.delete_everything()
    assert deleted == [1]


def test_thousands_of_background_results_reach_the_gui_thread(qtbot) -> None:
    """With results emitted as Qt signals from worker threads, PySide6 6.12 aborted the process
    ("bool_dealloc") within 3,000 jobs; ops now hands them over through a pipe."""
    import threading

    from app.desktop.ops import post_to_gui, run_in_background

    gui = threading.get_ident()
    seen: list[int] = []
    threads: set[int] = set()
    for i in range(3000):
        run_in_background(lambda i=i: i, lambda r: (seen.append(r), threads.add(threading.get_ident())))
    run_in_background(lambda: 1 / 0, lambda r: None, lambda exc: seen.append(-1))
    threading.Thread(target=lambda: post_to_gui(lambda: seen.append(-2))).start()
    assert wait_for_background()
    qtbot.waitUntil(lambda: len(seen) == 3002, timeout=10_000)
    assert sorted(seen)[:2] == [-2, -1] and sorted(seen)[2:] == list(range(3000)) and threads == {gui}


def test_qt_slot_calls_do_not_leak_references(qtbot) -> None:
    """PySide6 6.12.0 on Python 3.11 dropped a reference to None per slot call and one to True per
    emit, aborting a long-running app; pyproject pins a version without that. This keeps it so."""
    import sys

    from app.qt import QObject, QTimer, Signal

    class Source(QObject):
        ping = Signal()

    source, calls = Source(), []
    source.ping.connect(lambda: calls.append(1))
    timer = QTimer()
    timer.setInterval(0)
    timer.timeout.connect(lambda: calls.append(2))
    none_before, true_before = sys.getrefcount(None), sys.getrefcount(True)
    for _ in range(500):
        source.ping.emit()
    timer.start()
    qtbot.waitUntil(lambda: calls.count(2) >= 500, timeout=10_000)
    timer.stop()
    assert sys.getrefcount(None) - none_before > -50 and sys.getrefcount(True) - true_before > -50


class MemoryKeyring:
    """A keyring backend in memory (the real ones need a desktop session's secret service)."""

    def __new__(cls):
        from keyring.backend import KeyringBackend

        class Backend(KeyringBackend):
            priority = 1
            secrets: dict = {}

            def set_password(self, service, username, password):
                self.secrets[(service, username)] = password

            def get_password(self, service, username):
                return self.secrets.get((service, username))

            def delete_password(self, service, username):
                self.secrets.pop((service, username), None)

        return Backend()


def test_opting_in_to_the_keyring_unlocks_without_typing_and_opting_out_forgets(qtbot, store: MemoryStore,
                                                                                 monkeypatch) -> None:
    import keyring

    from app import keyring_unlock

    store.close()
    backend = MemoryKeyring()
    previous = keyring.get_keyring()
    keyring.set_keyring(backend)
    try:
        dialog = UnlockDialog(open_with_fake)
        qtbot.addWidget(dialog)
        assert not dialog.use_keyring.isChecked()                   # off unless chosen
        dialog.use_keyring.setChecked(True)
        dialog.passphrase.setText(PASSPHRASE)
        with qtbot.waitSignal(dialog.accepted, timeout=20_000):
            dialog.submit()
        dialog.store.close()
        assert keyring_unlock.recall() == PASSPHRASE

        again = UnlockDialog(open_with_fake, ask_keyring=True)
        qtbot.addWidget(again)
        assert again.use_keyring.isChecked()
        with qtbot.waitSignal(again.accepted, timeout=20_000):
            pass                                                  # it unlocks by itself
        again.store.close()

        third = UnlockDialog(open_with_fake)
        qtbot.addWidget(third)
        third.use_keyring.setChecked(False)
        third.passphrase.setText(PASSPHRASE)
        with qtbot.waitSignal(third.accepted, timeout=20_000):
            third.submit()
        third.store.close()
        assert keyring_unlock.recall() is None and backend.secrets == {}
    finally:
        keyring.set_keyring(previous)


def test_memory_browser_opens_the_sources_a_memory_came_from(qtbot, store: MemoryStore, monkeypatch) -> None:
    from app.desktop.browser import MemoryBrowser

    now = datetime.now(timezone.utc)
    [message_id, frame_id] = store.add([Memory("message", "Marta starts as head of design", time=now - timedelta(days=2)),
                                        Memory("frame", "org chart: Marta, design", time=now - timedelta(days=1),
                                               app="Firefox")])
    store.add([Memory("semantic", "Marta is the new head of design", source_ids=[f"message:{message_id}",
                                                                                 f"frame:{frame_id}", "message:" + "f" * 32])])
    opened = []
    browser = MemoryBrowser(store, opened.append)
    qtbot.addWidget(browser)
    facts = browser.tables["semantic"]
    browser.tabs.setCurrentWidget(facts)
    qtbot.waitUntil(lambda: facts.table.rowCount() == 1, timeout=10_000)
    facts.table.setCurrentCell(0, 1)
    offered = []

    def choose(parent, title, label, items, current, editable):
        offered.extend(items)
        return items[1], True

    monkeypatch.setattr("app.desktop.browser.QInputDialog.getItem", choose)
    facts.show_sources()
    qtbot.waitUntil(lambda: bool(opened), timeout=10_000)
    assert len(offered) == 2 and "message" in offered[0] and "frame · Firefox" in offered[1]   # a missing one is left out
    assert opened[0].id == frame_id and opened[0].frame_id == frame_id


@pytest.fixture
def memory_keyring():
    import keyring

    backend = MemoryKeyring()
    backend.secrets.clear()
    previous = keyring.get_keyring()
    keyring.set_keyring(backend)
    yield backend
    keyring.set_keyring(previous)


def test_first_run_can_opt_in_to_the_keyring(qtbot, home: Path, monkeypatch, memory_keyring) -> None:
    from app import keyring_unlock
    from storage.config import Config

    monkeypatch.setattr("app.desktop.unlock.RecoveryKeyDialog.exec", lambda self: 1)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / "xdg"))
    dialog = FirstRunDialog(lambda p: MemoryStore.create(p, embedder=HashEmbedder(), kdf_seconds=FAST_KDF))
    qtbot.addWidget(dialog)
    assert not dialog.use_keyring.isChecked()                       # off unless chosen
    dialog.passphrase.setText("a long enough passphrase")
    dialog.repeat.setText("a long enough passphrase")
    dialog.use_keyring.setChecked(True)
    with qtbot.waitSignal(dialog.accepted, timeout=20_000):
        dialog.submit()
    dialog.store.close()
    assert Config.load().get("security.use_keyring") is True
    assert keyring_unlock.recall() == "a long enough passphrase"


def test_an_empty_keyring_falls_back_to_typing(qtbot, store: MemoryStore, memory_keyring) -> None:
    from storage.config import Config

    store.close()
    config = Config.load()
    config.set("security.use_keyring", True)
    config.save()
    dialog = UnlockDialog(open_with_fake, ask_keyring=True)
    qtbot.addWidget(dialog)
    qtbot.waitUntil(lambda: dialog.error.isVisibleTo(dialog), timeout=10_000)
    assert "type it" in dialog.error.text() and dialog.passphrase.isEnabled() and dialog.store is None


def test_tray_says_quiet_hours_and_why_capture_did_not_start(qtbot, store: MemoryStore, monkeypatch) -> None:
    quiet = StubCapture()
    quiet.recorder.quiet = lambda: True
    desktop = DesktopApp(QApplication.instance(), open_store=open_with_fake, start_capture=lambda s: quiet,
                         start_agents=lambda s: StubCapture())
    desktop.store = store
    desktop.capture = quiet
    desktop._refresh_state()
    assert desktop.tray.state == "paused" and "quiet hours" in desktop.tray.toolTip()

    def broken(_store):
        raise ValueError("monitor 'left' is not a number (1 = the first monitor)")

    desktop.start_capture = broken
    monkeypatch.setattr(UnlockDialog, "exec", lambda self: (self.passphrase.setText(PASSPHRASE), self.submit(),
                                                            qtbot.waitUntil(lambda: self.store is not None,
                                                                            timeout=20_000), 1)[-1])
    desktop.store = None
    assert desktop.unlock()                       # the rest of the app works without capture
    assert desktop.tray.state == "error" and "not a number" in desktop.tray.toolTip()
    desktop.lock()
    desktop.server.close()


def test_a_search_result_opens_its_own_screen_in_a_timeline_just_opened(qtbot, store: MemoryStore) -> None:
    """The window loads today as it opens; the result's screen must not be replaced by today's newest
    when that first load lands after the second."""
    from app.desktop.timeline import TimelineWindow

    today = datetime.now().astimezone().replace(hour=0, minute=0, second=0, microsecond=0)
    frames = [Memory("frame", f"screen {i}", {"monitor": 0}, time=today + timedelta(minutes=i)) for i in range(4)]
    store.add(frames)
    window = TimelineWindow(store)
    qtbot.addWidget(window)
    window.show_moment(frames[1].id, frames[1].time)   # at once, as Enter in the popup does
    qtbot.waitUntil(lambda: window.frame is not None, timeout=10_000)
    qtbot.wait(500)  # both loads have landed by now
    assert window.frame is not None and window.frame.id == frames[1].id


def test_a_reopened_timeline_shows_screens_stored_since_and_stays_on_its_screen(qtbot, store: MemoryStore) -> None:
    from app.desktop.timeline import TimelineWindow

    today = datetime.now().astimezone().replace(hour=0, minute=0, second=0, microsecond=0)
    frames = [Memory("frame", f"screen {i}", {"monitor": 0}, time=today + timedelta(minutes=i)) for i in range(3)]
    store.add(frames)
    window = TimelineWindow(store)
    qtbot.addWidget(window)
    window.show_moment(frames[0].id, frames[0].time)
    qtbot.waitUntil(lambda: window.frame is not None and window.frame.id == frames[0].id, timeout=10_000)
    store.add([Memory("frame", "screen 3", {"monitor": 0}, time=today + timedelta(minutes=3))])
    window.refresh()
    qtbot.waitUntil(lambda: len(window.axis.frames) == 4, timeout=10_000)
    qtbot.wait(300)
    assert window.frame.id == frames[0].id


def test_the_tray_follows_a_pause_ended_elsewhere_or_by_its_time(qtbot, store: MemoryStore) -> None:
    """`engram capture --resume` in a terminal, or the pause's end, must not leave the tray saying "paused"."""
    from app.capture import pause

    desktop = DesktopApp(QApplication.instance(), open_store=open_with_fake, start_agents=lambda s: StubCapture())
    desktop.store, desktop.capture = store, StubCapture()
    desktop.pause(60)
    assert desktop.tray.state == "paused"
    pause.resume()                                     # what `engram capture --resume` does
    desktop.tray.menu.aboutToShow.emit()               # the user opens the tray menu
    assert desktop.tray.state == "capturing" and "until" not in desktop.tray.toolTip()
    pause.pause(-1)                                    # a pause whose end has passed
    desktop.tray.show_state("paused", "paused until 10:00")
    desktop.check_auto_lock()                          # the app's periodic check
    assert desktop.tray.state == "capturing"
    desktop.store = None
    desktop.server.close()


def test_the_ask_field_has_the_focus_when_the_panel_opens(qtbot) -> None:
    from app.desktop.ask_panel import AskPanel

    panel = AskPanel(lambda q, on_text, on_reading: None, lambda hit: None)
    qtbot.addWidget(panel)
    panel.show()
    qtbot.waitExposed(panel)
    assert panel.focusWidget() is panel.input


def test_first_run_clears_the_mismatch_once_the_passphrases_agree(qtbot, home: Path) -> None:
    dialog = FirstRunDialog(lambda p: None)
    qtbot.addWidget(dialog)
    dialog.passphrase.setText("a long enough passphrase")
    dialog.repeat.setText("a long enough passphrase!")
    dialog.submit()
    assert dialog.error.isVisibleTo(dialog) and "differ" in dialog.error.text()
    dialog.repeat.setText("a long enough passphrase")
    assert not dialog.error.isVisibleTo(dialog)
    dialog.passphrase.setText("short")
    dialog.submit()
    assert "8 characters" in dialog.error.text()
    dialog.passphrase.setText("long enough now")
    assert not dialog.error.isVisibleTo(dialog)


def test_the_unlock_dialog_takes_the_recovery_key_and_leaves_the_keyring_alone(qtbot, home: Path,
                                                                                memory_keyring) -> None:
    created, recovery = MemoryStore.create(PASSPHRASE, home=home, embedder=HashEmbedder(), kdf_seconds=FAST_KDF)
    created.close()
    dialog = UnlockDialog(open_with_fake)
    qtbot.addWidget(dialog)
    dialog.use_keyring.setChecked(True)
    dialog.passphrase.setText(recovery.lower())
    with qtbot.waitSignal(dialog.accepted, timeout=20_000):
        dialog.submit()
    assert dialog.store is not None and dialog.store.vault.is_unlocked and dialog.opened_with == "recovery key"
    assert memory_keyring.secrets == {}          # the recovery key is never kept in the keyring
    assert "new passphrase" in dialog.note       # said once the dialog has closed (the tray's message)
    dialog.store.close()


def test_the_keyring_option_says_when_there_is_no_keyring(qtbot, home: Path, monkeypatch) -> None:
    import keyring
    from keyring.backends import fail

    previous = keyring.get_keyring()
    keyring.set_keyring(fail.Keyring())
    try:
        dialog = FirstRunDialog(lambda p: None)
        qtbot.addWidget(dialog)
        qtbot.waitUntil(lambda: not dialog.use_keyring.isEnabled(), timeout=10_000)
        assert not dialog.use_keyring.isChecked() and "no system keyring" in dialog.keyring_hint.text().lower()
        unlock = UnlockDialog(open_with_fake)
        qtbot.addWidget(unlock)
        qtbot.waitUntil(lambda: not unlock.use_keyring.isEnabled(), timeout=10_000)
        assert "no system keyring" in unlock.keyring_hint.text().lower() and unlock.keyring_hint.isVisibleTo(unlock)
    finally:
        keyring.set_keyring(previous)


def test_the_popup_has_a_border_and_closes_when_it_loses_the_focus(qtbot, store: MemoryStore) -> None:
    popup = RecallPopup(lambda q, o: store.search(q, o), lambda hit: None)
    qtbot.addWidget(popup)
    popup.popup()
    qtbot.waitExposed(popup)
    picture = popup.grab().toImage()
    inside = picture.pixelColor(picture.width() // 2, picture.height() - 4)
    edge = picture.pixelColor(picture.width() // 2, picture.height() - 1)
    assert abs(edge.lightness() - inside.lightness()) > 40            # a frameless window needs its own edge
    qtbot.waitUntil(popup.isActiveWindow, timeout=5_000)
    from app.qt import QWidget                                         # any other window the user clicks

    other = QWidget()
    qtbot.addWidget(other)
    other.show()
    other.activateWindow()
    qtbot.waitUntil(lambda: not popup.isVisible(), timeout=5_000)


def test_chat_results_say_who_said_it_where_and_identical_lines_are_one(qtbot, store: MemoryStore) -> None:
    from app.desktop.result_rows import META_ROLE

    now = datetime.now(timezone.utc)
    store.add([Memory("message", "see you at the budget meeting", {"speaker": "Anna", "conversation": "c1"},
                      time=now - timedelta(hours=i), app="WhatsApp", title="Family", trust=Trust.IMPORTED)
               for i in range(3)]
              + [Memory("message", "the budget is fine", {"speaker": "Rui", "conversation": "c2"}, app="Telegram",
                        title="Work", trust=Trust.IMPORTED)])
    popup = RecallPopup(lambda q, o: store.search(q, o), lambda hit: None)
    qtbot.addWidget(popup)
    popup.query.setText("budget")
    qtbot.waitUntil(lambda: popup.status.text().endswith("result(s)"), timeout=10_000)
    metas = sorted(popup.results.item(i).data(META_ROLE) for i in range(popup.results.count()))
    assert len(metas) == 2, metas
    assert metas[0].startswith("Chat · Anna in Family · WhatsApp") and metas[0].endswith("2 more like it")
    assert metas[1].startswith("Chat · Rui in Work · Telegram")


@pytest.mark.slow
def test_the_popup_leaves_out_lines_found_only_by_a_weak_likeness(qtbot, home: Path, real_embedder) -> None:
    """'nice' for 'quokka': nearest neighbours always exist; a weak one is padding, not a result."""
    created, _ = MemoryStore.create(PASSPHRASE, home=home, embedder=real_embedder, embedder_name="all-MiniLM-L6-v2",
                                    kdf_seconds=FAST_KDF)
    try:
        # Each line in a chat of its own: lines of one chat are indexed with their neighbours' words.
        created.add([Memory("message", text, {"speaker": "Rui", "conversation": f"c{i}"}, trust=Trust.IMPORTED)
                     for i, text in enumerate(("nice", "ok", "haha ok nice", "the quarterly budget review is on Friday"))])
        popup = RecallPopup(lambda q, o: created.search(q, o), lambda hit: None)
        qtbot.addWidget(popup)
        popup.query.setText("quokka")
        qtbot.waitUntil(lambda: popup.status.text() not in ("Searching…", "Type to search."), timeout=20_000)
        assert popup.hits == [] and popup.status.text() == "Nothing found."
        popup.query.setText("budget meeting")          # a real likeness (and a word) still finds its line
        qtbot.waitUntil(lambda: bool(popup.hits), timeout=20_000)
        assert [h.snippet for h in popup.hits] == ["the quarterly budget review is on Friday"]
    finally:
        created.close()


def _contrast(a, b) -> float:
    """WCAG contrast ratio of two QColors."""
    def luminance(c):
        channels = [v / 255 for v in (c.red(), c.green(), c.blue())]
        lin = [v / 12.92 if v <= 0.03928 else ((v + 0.055) / 1.055) ** 2.4 for v in channels]
        return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]
    light, dark = sorted((luminance(a), luminance(b)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


@pytest.fixture(params=["light", "dark"])
def themed(request, qapp):
    from app.desktop.style import apply_style

    before = qapp.palette()
    apply_style(qapp, dark=request.param == "dark")
    yield request.param
    qapp.setStyleSheet("")
    qapp.setPalette(before)


def test_ask_answers_their_links_and_sources_are_readable_in_light_and_dark(qtbot, themed) -> None:
    from agents.ask import Answer, Source
    from app.desktop.ask_panel import AskPanel
    from app.qt import QPalette

    source = Source("S1", "a" * 32, "message", datetime(2026, 3, 2, 9, 30, tzinfo=timezone.utc),
                    "Rui: the cabin wifi is BlueFjord", "WhatsApp")
    answer = Answer("wifi?", "The cabin wifi is BlueFjord [S1].", "extractive", [source], [source], note="one note")
    panel = AskPanel(lambda q, on_text, on_reading: answer, lambda hit: None)
    qtbot.addWidget(panel)
    panel.input.setText("wifi?")
    panel.submit()
    qtbot.waitUntil(lambda: not panel.busy, timeout=10_000)
    panel._failed(RuntimeError("the model is missing"))
    background = panel.view.palette().color(QPalette.ColorRole.Base)
    default = panel.view.palette().color(QPalette.ColorRole.Text)
    seen = []
    block = panel.view.document().begin()
    while block.isValid():
        pieces = block.begin()
        while not pieces.atEnd():
            fragment = pieces.fragment()
            if fragment.isValid() and fragment.text().strip():
                brush = fragment.charFormat().foreground()
                colour = brush.color() if brush.style() != Qt.BrushStyle.NoBrush else default
                seen.append((fragment.text(), fragment.charFormat().isAnchor(), round(_contrast(colour, background), 1)))
            pieces += 1
        block = block.next()
    assert any(anchor for _, anchor, _ in seen) and any("BlueFjord" in t for t, anchor, _ in seen if not anchor)
    assert all(ratio >= 4.5 for _, _, ratio in seen), [s for s in seen if s[2] < 4.5]


def test_checkboxes_show_their_box_in_light_and_dark(qtbot, themed) -> None:
    from PySide6.QtWidgets import QStyleOptionButton  # only here: app code needs no style options

    from app.qt import QCheckBox, QPalette, QStyle

    for checked in (False, True):
        box = QCheckBox("Start Engram when I log in")
        qtbot.addWidget(box)
        box.setChecked(checked)
        box.show()
        qtbot.waitExposed(box)
        picture = box.grab().toImage()
        background = box.palette().color(QPalette.ColorRole.Window)
        option = QStyleOptionButton()
        box.initStyleOption(option)
        square = box.style().subElementRect(QStyle.SubElement.SE_CheckBoxIndicator, option, box)
        contrast = max(_contrast(picture.pixelColor(x, y), background)
                       for x in range(square.left(), square.right() + 1) for y in range(square.top(), square.bottom() + 1))
        assert contrast >= 3.0, (themed, checked, contrast)               # WCAG's minimum for a control's edge


@pytest.mark.slow
def test_the_desktop_app_writes_its_log_file(home: Path) -> None:
    """`engram` with no arguments (the desktop app) wrote nothing to logs/engram.log."""
    import os
    import subprocess
    import sys
    import time

    from conftest import REPO

    env = {**os.environ, "ENGRAM_HOME": str(home), "QT_QPA_PLATFORM": "offscreen", "DISPLAY": ":1999"}
    app = subprocess.Popen([sys.executable, "-m", "app.cli"], cwd=REPO, env=env,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    log_file = home / "logs" / "engram.log"
    try:
        deadline = time.monotonic() + 90      # it waits at the first-run dialog
        while "desktop app started" not in (log_file.read_text() if log_file.exists() else "") \
                and time.monotonic() < deadline and app.poll() is None:
            time.sleep(0.2)
    finally:
        app.terminate()
        app.wait(30)
    assert log_file.exists() and "desktop app started" in log_file.read_text()


def test_the_tray_menu_says_how_capture_is_doing(qtbot, store: MemoryStore) -> None:
    from app.capture.service import CaptureHealth

    desktop = DesktopApp(QApplication.instance(), open_store=open_with_fake, start_agents=lambda s: StubCapture())
    capture = StubCapture()
    last = datetime.now(timezone.utc) - timedelta(minutes=3)
    capture.health = lambda: CaptureHealth(last_capture=last, dropped=4, disk_bytes=1_340_000_000)
    desktop.store, desktop.capture = store, capture
    desktop.tray.menu.aboutToShow.emit()                # the user opens the tray menu
    health = desktop.tray.items["health"]
    assert health.isVisible() and not health.isEnabled()
    assert health.text() == f"Last screen {last.astimezone():%H:%M} · 4 ticks dropped · 1.3 GB on disk"
    desktop.lock()
    assert not desktop.tray.items["health"].isVisible()
    desktop.server.close()


def test_core_memory_suggestions_wait_for_the_users_word_in_the_browser(qtbot, store: MemoryStore) -> None:
    """Another chat said a different name: the browser asks, and only the user's choice changes core memory."""
    from agents.managers.core import CoreManager
    from app.desktop.browser import MemoryBrowser

    fact = {"type": "name", "value": "Name: Ana Lima", "trust": 1, "at": "2026-01-01T09:00:00+00:00",
            "source": "message:" + "a" * 32, "origin": "import\x1fWhatsApp\x1fMum", "seen_in": "WhatsApp: Mum"}
    suggested = [{**fact, "value": "Name: Eve Moss", "seen_in": "WhatsApp: Tom", "origin": "import\x1fWhatsApp\x1fTom"},
                 {**fact, "type": "home", "value": "Lives in Berlin", "seen_in": "WhatsApp: Tom"}]
    store.add([Memory(kind="core", text="- Name: Ana Lima", id=CoreManager.memory_id,
                      fields={"block": "human", "facts": [fact], "suggestions": suggested})])
    browser = MemoryBrowser(store, lambda hit: None)
    qtbot.addWidget(browser)
    qtbot.waitUntil(lambda: browser.core.suggestions.count() == 2, timeout=10_000)
    assert "Name: Eve Moss" in browser.core.suggestions.item(0).text()
    assert "WhatsApp: Tom" in browser.core.suggestions.item(0).text()
    assert browser.core.suggestions_box.isVisibleTo(browser)

    browser.core.suggestions.setCurrentRow(0)
    browser.core.dismiss_suggestion()
    qtbot.waitUntil(lambda: browser.core.suggestions.count() == 1, timeout=10_000)
    browser.core.suggestions.setCurrentRow(0)
    browser.core.take_suggestion()
    qtbot.waitUntil(lambda: browser.core.suggestions.count() == 0, timeout=10_000)
    assert not browser.core.suggestions_box.isVisibleTo(browser)
    core = store.get(CoreManager.memory_id)
    assert core is not None and core.text == "- Name: Ana Lima\n- Lives in Berlin" and core.fields["suggestions"] == []
    assert browser.core.text.toPlainText() == core.text


def test_core_memory_takes_one_write_at_a_time(qtbot, store: MemoryStore) -> None:
    """Each write is made from core memory as last loaded: a suggestion taken while the text is still being saved
    would put the old text back. It waits: the buttons are off until the save is done."""
    from agents.managers.core import CoreManager
    from app.desktop.browser import MemoryBrowser

    fact = {"type": "name", "value": "Name: Ana Lima", "trust": 1, "at": "2026-01-01T09:00:00+00:00",
            "source": "message:" + "a" * 32, "origin": "import\x1fWhatsApp\x1fMum", "seen_in": "WhatsApp: Mum"}
    store.add([Memory(kind="core", text="- Name: Ana Lima", id=CoreManager.memory_id,
                      fields={"block": "human", "facts": [fact],
                              "suggestions": [{**fact, "type": "home", "value": "Lives in Berlin"}]})])
    browser = MemoryBrowser(store, lambda hit: None)
    qtbot.addWidget(browser)
    qtbot.waitUntil(lambda: browser.core.suggestions.count() == 1, timeout=10_000)
    browser.core.text.setPlainText("- Name: Ana Lima\n- Prefers window seats")
    browser.core.save_text()
    assert browser.core.status.text() == "Saving…" and not browser.core.save.isEnabled()
    browser.core.suggestions.setCurrentRow(0)
    browser.core.take_suggestion()                       # while saving: not taken
    qtbot.waitUntil(lambda: browser.core.status.text() == "Saved", timeout=10_000)
    assert all(button.isEnabled() for button in browser.core._writers)
    core = store.get(CoreManager.memory_id)
    assert core is not None and core.text == "- Name: Ana Lima\n- Prefers window seats"
    assert len(core.fields["suggestions"]) == 1           # still waiting for the user's word


def test_settings_speak_the_users_words_and_keep_the_technical_knobs_under_advanced(qtbot, home: Path) -> None:
    from app.desktop.settings import SettingsWindow
    from app.qt import QFormLayout, QLabel

    window = SettingsWindow()
    qtbot.addWidget(window)
    shown: dict[str, tuple[str, str]] = {}  # option -> (its tab, its label)
    for index in range(window.tabs.count()):
        form = window.tabs.widget(index).findChild(QFormLayout)
        for row in range(form.rowCount() if form else 0):
            label, field = form.itemAt(row, QFormLayout.ItemRole.LabelRole), form.itemAt(row, QFormLayout.ItemRole.FieldRole)
            if label is None or field is None or not isinstance(label.widget(), QLabel):
                continue
            for name, editor in window.editors.items():
                if field.widget() in (editor, editor.parentWidget()):
                    shown[name] = (window.tabs.tabText(index), label.widget().text())
    assert set(shown) == set(window.editors)
    labels = {name: label for name, (_, label) in shown.items()}
    for name, label in labels.items():  # no label is the option's name in the code
        assert label.lower() != name.split(".", 1)[1].replace("_", " "), f"{name} needs a label in settings.LABELS"
    assert labels["capture.min_free_disk_mb"].endswith("(megabytes)")
    assert labels["capture.idle_after_seconds"].endswith("(seconds)") and "away" in labels["capture.idle_after_seconds"]
    assert "window titles" in labels["capture.allow_without_window_info"]
    assert labels["retention.max_gb"].endswith("(gigabytes)") and labels["security.auto_lock_minutes"].endswith("(minutes)")
    advanced = {name for name, (tab, _) in shown.items() if tab == "Advanced"}
    assert {"capture.image_scale", "capture.webp_quality", "capture.moving_picture_seconds"} <= advanced
    assert shown["capture.interval_seconds"][0] == "Capture" and "capture.enabled" not in advanced


def test_a_screen_whose_text_is_being_read_says_how_far_along_and_shows_it_once_read(qtbot, store: MemoryStore,
                                                                                      monkeypatch) -> None:
    """Issue 15.9: a fresh screen said '(the text is still being read)' with no sign of progress, and kept
    saying it after the text was read."""
    from app.desktop import timeline
    from app.desktop.timeline import TimelineWindow
    from app.qt import QDate

    monkeypatch.setattr(timeline, "PENDING_POLL_MS", 100)
    day = datetime(2026, 3, 2, 0, 0).astimezone()
    frames = [Memory("frame", "", {"monitor": 0}, time=day + timedelta(hours=9, seconds=3 * i), app="Firefox",
                     text_pending=True) for i in range(3)]
    store.add(frames)
    window = TimelineWindow(store, confirm=lambda question: True)
    qtbot.addWidget(window)
    window.show()
    window.day.setDate(QDate(2026, 3, 2))
    qtbot.waitUntil(lambda: window.frame is not None and window.frame.id == frames[-1].id, timeout=10_000)
    qtbot.waitUntil(lambda: "2 screens before it" in window.text.toPlainText(), timeout=10_000)
    assert "Reading the text of this screen" in window.text.toPlainText()
    for frame, words in zip(frames, ("first page", "second page", "Hotel: Casa do Alecrim")):  # as the OCR worker does
        frame.text, frame.text_pending = words, False
        store.save([frame], replace_only=[frame.id])
        if frame is frames[0]:
            qtbot.waitUntil(lambda: "1 screen before it" in window.text.toPlainText(), timeout=10_000)
    qtbot.waitUntil(lambda: window.text.toPlainText() == "Hotel: Casa do Alecrim", timeout=10_000)
    assert not window.frame.text_pending


def test_the_timeline_gives_the_screen_most_of_its_room(qtbot, store: MemoryStore) -> None:
    """The chosen screen is what the timeline is for: its text below takes a few lines, not a quarter."""
    from app.desktop.timeline import TimelineWindow

    window = TimelineWindow(store)
    qtbot.addWidget(window)
    window.resize(1200, 800)
    window.show()
    qtbot.waitExposed(window)
    qtbot.waitUntil(lambda: window.image.height() > 0, timeout=5_000)
    assert window.image.height() >= 4 * window.text.height()
    assert window.image.height() >= 0.45 * window.height()
    screen = window.screen().availableGeometry()
    fresh = TimelineWindow(store)
    qtbot.addWidget(fresh)
    assert fresh.width() >= min(960, screen.width()) and fresh.height() >= min(640, screen.height())


def test_the_tray_says_once_when_the_row_check_found_rows_changed_outside_engram(qtbot, store: MemoryStore,
                                                                                monkeypatch) -> None:
    from storage.upkeep import run_upkeep

    frame = Memory("frame", "a screen", {"monitor": 0})
    store.add([frame, Memory("semantic", "a note")])
    desktop = DesktopApp(QApplication.instance(), open_store=open_with_fake, start_capture=lambda s: StubCapture(),
                         start_agents=lambda s: StubCapture())
    desktop.store, desktop.capture = store, StubCapture()
    told: list[tuple[str, str]] = []
    monkeypatch.setattr(desktop.tray, "showMessage", lambda title, text, *icon: told.append((title, text)))
    desktop._refresh_state()
    assert told == [] and desktop._rows_changed() == ()
    store.table.delete(f"id = '{frame.id}'")    # without the key, beside the app
    run_upkeep(store)                           # the hourly check
    desktop._refresh_state()
    desktop._refresh_state()
    assert told == [("Engram: memories changed outside Engram",
                     "screens: 1 row(s) Engram wrote are gone (removed outside Engram)\nClick for what to do.")]
    assert desktop._rows_changed() == ("screens: 1 row(s) Engram wrote are gone (removed outside Engram)",)
    desktop.server.close()


def test_a_password_typed_into_the_memory_browser_is_masked_before_it_is_stored(qtbot, store: MemoryStore,
                                                                                 monkeypatch) -> None:
    """Found re-running issue 20's attacks: 'Edit memory' and 'About you' wrote typed text as it was, so a
    password or IBAN was stored in the clear text column's ciphertext and keyword-indexed."""
    from agents.managers.core import CoreManager
    from app.desktop.browser import MemoryBrowser
    from storage.search import SearchOptions

    store.add([Memory("semantic", "The bank login", time=datetime.now(timezone.utc))])
    browser = MemoryBrowser(store, lambda hit: None)
    qtbot.addWidget(browser)
    facts = browser.tables["semantic"]
    browser.tabs.setCurrentWidget(facts)
    qtbot.waitUntil(lambda: facts.table.rowCount() == 1, timeout=10_000)
    facts.table.setCurrentCell(0, 1)
    monkeypatch.setattr("app.desktop.browser.QInputDialog.getMultiLineText",
                        lambda *a, **k: ("The bank login, password: Tr0ub4dor&3x", True))
    facts.edit_selected()
    # Waits for the edited text, not its trust: a memory stored without one is already the user's (trust 4), and
    # the core's save below, run beside the edit's, read the vault before the edit had filed the password.
    qtbot.waitUntil(lambda: any("password" in m.text for m in facts.memories), timeout=10_000)
    browser.core.text.setPlainText("- IBAN DE89 3704 0044 0532 0130 00\n")
    browser.core.save_text()
    qtbot.waitUntil(lambda: browser.core.status.text() == "Saved", timeout=10_000)

    stored = [m.text for m in store.list_range(kinds=["semantic", "core"], limit=10)]
    assert stored and not any("Tr0ub4dor" in t or "0532 0130" in t for t in stored), stored
    assert "Tr0ub4dor" not in store.get(CoreManager.memory_id).text
    assert store.search("Tr0ub4dor&3x", SearchOptions(mode="keyword")).hits == []
    kept = [v.secret or "" for v in store.list_range(kinds=["vault"], limit=10)]
    assert "Tr0ub4dor&3x" in kept and any("0532" in v for v in kept), "the typed secrets are kept, sealed, in the vault"
