"""Pictures of every window on a seeded demo store: `python -m app.screenshots OUTDIR [--dark] [--only a,b]`.

For looking at what we build (run it under Xvfb or offscreen) and for the README. `--only recall,ask`
takes just the pictures whose names start so (Ask loads the built-in model: the slow part).
"""
from __future__ import annotations

import os
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

DEMO_PASSPHRASE = "demo passphrase for screenshots"


def seed(store: object) -> None:
    from storage.memory import Memory, Trust

    now = datetime.now(timezone.utc)
    store.add([  # type: ignore[attr-defined]
        Memory("frame", "Flight confirmation ZXQ77 — Lisbon to Berlin, gate B12, boarding 14:05",
               {"monitor": 0}, time=now - timedelta(hours=2), app="thunderbird", title="Inbox — Thunderbird",
               trust=Trust.OBSERVED, source_kind="screen"),
        Memory("semantic", "Anna leads the Atlas project and prefers green tea", {"name": "Anna"},
               time=now - timedelta(days=3)),
        Memory("episodic", "Edited the Q3 budget report with Anna", {"event_type": "editing"},
               time=now - timedelta(days=1, hours=3), app="LibreOffice Calc"),
        Memory("message", "the budget review moved to Friday at 10", {"speaker": "Anna"},
               time=now - timedelta(minutes=40), trust=Trust.IMPORTED),
        Memory("procedural", "Deploy the staging server", {"steps": ["git pull", "make deploy"]},
               time=now - timedelta(days=8)),
        Memory("semantic", "Marta is the new head of design and used to work at Farfetch", {},
               time=now - timedelta(days=1), trust=Trust.IMPORTED, source_kind="import",
               source_ids=["message:" + "0" * 32]),
        Memory("frame", "Today's deals: garden tools, 20% off — Hardware Store", {"monitor": 0},
               time=now - timedelta(days=6), app="firefox", title="Today's deals — Firefox",
               trust=Trust.OBSERVED, source_kind="screen"),
        Memory("vault", "Passport number", {"entry_type": "passport", "sensitivity": "high"}, secret="X1234567",
               time=now - timedelta(days=30)),
        Memory("vault", "IBAN ending 0154", {"entry_type": "iban", "sensitivity": "high"},
               secret="PT50000201231234567890154", time=now - timedelta(days=12), trust=Trust.OBSERVED),
        _about_you(now),
    ])


def _about_you(now: datetime) -> object:
    """Core memory with what another chat said against it, waiting for the user's word."""
    from agents.managers.core import CoreManager, render
    from storage.memory import Memory, Trust

    def fact(fact_type: str, value: str, seen_in: str, days: int) -> dict[str, object]:
        return {"type": fact_type, "value": value, "trust": int(Trust.IMPORTED), "source": "message:" + "1" * 32,
                "at": (now - timedelta(days=days)).isoformat(timespec="seconds"), "seen_in": seen_in,
                "origin": f"import\x1fWhatsApp\x1f{seen_in}"}
    facts = [fact("name", "Name: Ana Lima", "WhatsApp: Mum", 40), fact("home", "Lives in Lisbon", "WhatsApp: Mum", 40),
             fact("preference", "Prefers window seats", "WhatsApp: Mum", 20)]
    return Memory("core", render(facts), {"block": "human", "facts": facts,
                                          "suggestions": [fact("home", "Lives in Berlin", "WhatsApp: Tom", 2)]},
                  id=CoreManager.memory_id, time=now - timedelta(days=2), trust=Trust.IMPORTED)


def seed_screens(store: object) -> None:
    """A morning of screens today, recorded by the real recorder: six visits to three apps, in each a
    reply typed over six minutes (so the screens are stored as chains of patches), with word boxes."""
    from PIL import Image, ImageDraw, ImageFont

    from app.capture.recorder import CaptureSettings, Recorder
    from app.capture.screen import ReplayScreen
    from app.capture.windows import ReplayWindows, WindowInfo

    now = datetime.now().astimezone()
    # Four hours of screens ending now (from midnight if it is earlier than that): today, and in the past.
    start = max(now.replace(hour=0, minute=0, second=0, microsecond=0), now - timedelta(hours=4, minutes=15))
    windows = [("Thunderbird", "Inbox — Thunderbird", ["Invoice 2231 from Atlas GmbH", "Total due: 1,240.00 EUR",
                                                      "Budget review moved to Friday"]),
               ("LibreOffice Calc", "Q3 budget.ods — LibreOffice Calc", ["Q3 budget", "Travel 3,100", "Invoice totals"]),
               ("Firefox", "Atlas project wiki — Mozilla Firefox", ["Atlas project", "Owner: Anna", "Deploy notes"])]
    reply = "Thanks, I will bring the numbers and the draft to the review on Friday".split()
    font = ImageFont.load_default(size=16)
    shown, words = [], []
    for i in range(36):
        app_name, title, lines = windows[(i // 6) % 3]
        typed = " ".join(reply[: 2 * (i % 6 + 1)])
        picture = Image.new("RGB", (960, 540), "#f4f4f4")
        draw = ImageDraw.Draw(picture)
        draw.rectangle((0, 0, 960, 28), fill="#3c3c3c")
        draw.text((10, 6), title.replace("—", "-"), fill="white", font=font)  # the built-in font has no dash
        boxes = []
        for row, line in enumerate(lines + [typed]):
            y = 80 + 40 * row
            draw.text((60, y), line, fill="black", font=font)
            boxes.append([line, 60, y, int(draw.textlength(line, font=font)), 16])
        shown.append(picture)
        words.append((lines + [typed], boxes, WindowInfo(app_name, title, (0, 0, 960, 540))))
    demo = ReplayWindows()
    recorder = Recorder(store, ReplayScreen(shown), demo, settings=CaptureSettings(min_free_disk_mb=1))
    for i, (_, _, window) in enumerate(words):
        demo.current = window
        recorder.tick((start + timedelta(minutes=40 * (i // 6) + i % 6)).astimezone(timezone.utc))
    frames = [f for f in store.list_range(kinds=["frame"], limit=100)  # type: ignore[attr-defined]
              if f.fields.get("image_id")]  # the recorded ones, in the order they were shown
    assert len(frames) == len(words), "every demo screen differs enough from the one before to be kept"
    for frame, (lines, boxes, _) in zip(frames, words):
        frame.text, frame.text_pending = "\n".join(lines), False   # what OCR would read
        frame.fields = {**frame.fields, "boxes": boxes}
    store.save(frames)  # type: ignore[attr-defined]


def main(outdir: str, dark: bool = False, only: tuple[str, ...] = ()) -> int:
    os.environ.setdefault("ENGRAM_HOME", tempfile.mkdtemp(prefix="engram-demo-"))
    from app.desktop.ops import wait_for_background
    from app.desktop.recall import RecallPopup
    from app.desktop.style import apply_style
    from app.desktop.unlock import FirstRunDialog, RecoveryKeyDialog, UnlockDialog
    from app.qt import QApplication
    from storage.store import MemoryStore

    out = Path(outdir)
    out.mkdir(parents=True, exist_ok=True)
    app = QApplication.instance() or QApplication(sys.argv)
    apply_style(app, dark=True if dark else None)  # --dark: as on a desktop set to dark
    store, recovery = MemoryStore.create(DEMO_PASSPHRASE, kdf_seconds=0.05)
    seed(store)
    seed_screens(store)

    def wanted(*names: str) -> bool:
        return not only or any(name.startswith(prefix) for name in names for prefix in only)

    def shoot(widget: object, name: str) -> None:
        if not wanted(name):
            return
        widget.show()  # type: ignore[attr-defined]
        wait_for_background()  # what a window asks in the background (the keyring, say) has its answer
        for _ in range(5):
            app.processEvents()
        widget.grab().save(str(out / f"{name}.png"))  # type: ignore[attr-defined]
        widget.hide()  # type: ignore[attr-defined]

    first = FirstRunDialog(lambda p: (store, recovery))
    first.passphrase.setText("correct horse battery")
    first.repeat.setText("correct horse batter")
    first.submit()                                  # "The two passphrases differ." ...
    first.repeat.setText("correct horse battery")   # ... and gone once they agree
    shoot(first, "first-run")
    shoot(RecoveryKeyDialog(recovery), "recovery-key")
    unlock = UnlockDialog(lambda p: store)
    unlock.show_error("Wrong passphrase (or recovery key). Nothing was changed.")
    shoot(unlock, "unlock-wrong-passphrase")
    upgrading = UnlockDialog(lambda p: store)
    upgrading.passphrase.setText("correct horse battery")
    upgrading.working(upgrade=True)
    shoot(upgrading, "unlock-upgrading")
    if wanted("doctor-rows-changed"):  # the hourly row check found rows changed outside Engram (storage/ledger.py)
        from app.desktop.doctor_window import DoctorWindow
        from app.doctor import AppFacts
        from app.doctor import run as run_doctor

        found = AppFacts(rows_changed=("screens: 1 row(s) Engram wrote are gone (removed outside Engram)",))
        doctor = DoctorWindow(lambda: run_doctor(quick=True, facts=found))
        doctor.check()
        wait_for_background()
        for _ in range(10):
            app.processEvents()
        shoot(doctor, "doctor-rows-changed")
    if wanted("tray-error", "doctor"):  # capture stopped: the tray's bold entry opens the doctor's report
        from collections import defaultdict

        from app.desktop.doctor_window import DoctorWindow
        from app.desktop.tray import Tray
        from app.doctor import run as run_doctor

        tray = Tray(defaultdict(lambda: lambda: None))
        tray.show_state("error", "no window information here (Wayland, or no X display)")
        shoot(tray.menu, "tray-error")
        doctor = DoctorWindow(run_doctor)
        doctor.check()
        wait_for_background()
        for _ in range(10):
            app.processEvents()
        shoot(doctor, "doctor")
    from app.desktop.pixmaps import load_thumbnails

    popup = RecallPopup(lambda q, o: store.search(q, o), lambda hit: None, lambda ids: load_thumbnails(store, ids))
    for query, name in (("budget", "recall"),
                        ("today's deals", "recall-time-words-as-words")):  # words on a page, not a time
        if not wanted(name):
            continue
        popup.query.setText(query)
        popup._debounce.stop()
        popup.run_search()
        for _ in range(3):  # the results, then their thumbnails
            wait_for_background()
            for _ in range(10):
                app.processEvents()
        shoot(popup, name)
    from agents.ask import Asker
    from agents.llm import LocalLLM, packaged_model
    from app.desktop.ask_panel import AskPanel

    asker = Asker(store, LocalLLM(packaged_model(), context_tokens=2048), remember=False)  # the built-in model
    panel = AskPanel(lambda q, on_text, on_reading: asker.ask(q, on_text=on_text, on_reading=on_reading),
                     lambda hit: None)
    for question in ("When is the budget review?", "What did I do yesterday?", "What is Anna's cat called?")[
            :3 if wanted("ask", "ask-reading") else 0]:
        panel.input.setText(question)
        panel.submit()
        reading_shot = not wanted("ask-reading")
        while panel.busy:  # the first answer loads the model: longer than one wait on a busy machine
            app.processEvents()
            if panel._reading and not panel._streaming and not reading_shot:
                # The notes listed while the model reads them (not shoot(): it waits for the answer).
                panel.show()
                for _ in range(5):
                    app.processEvents()
                panel.grab().save(str(out / "ask-reading.png"))
                reading_shot = True
            time.sleep(0.02)
        for _ in range(10):
            app.processEvents()
    if wanted("ask"):
        shoot(panel, "ask")
    from app.desktop.timeline import TimelineWindow

    from agents.meta import MetaMemoryManager
    from agents.pipeline import Digester
    from agents.router import EmbeddingRouter

    if wanted("timeline"):
        Digester(store, MetaMemoryManager(store, EmbeddingRouter(store.embedder))).run()  # the day's episodes

    def settle() -> None:
        for _ in range(20):
            app.processEvents()
            wait_for_background()

    if wanted("timeline", "forget-range"):
        timeline = TimelineWindow(store)
        settle()
        timeline.axis.choose(len(timeline.axis.frames) - 36 + 3)  # a Thunderbird screen of the morning
        settle()
        timeline.highlight.setText("invoice")
        shoot(timeline, "timeline")
        from app.desktop.forget_range import ForgetRangeDialog

        hour = timeline.frame.time.astimezone().replace(minute=0, second=0, microsecond=0)
        shoot(ForgetRangeDialog(timeline.day_start(), hour, hour + timedelta(hours=1),
                                [t for _, t, _ in timeline.axis.frames]), "forget-range")
    from app.desktop.browser import MemoryBrowser

    browser = MemoryBrowser(store, lambda hit: None)
    for index, name in ((0, "memories-about-you"), (2, "memories-facts"), (5, "memories-vault")):
        browser.tabs.setCurrentIndex(index)
        wait_for_background()
        for _ in range(10):
            app.processEvents()
        shoot(browser, name)
    from app.capture.service import CaptureHealth
    from app.desktop.tray import Tray

    tray = Tray(dict.fromkeys(("search", "timeline", "ask", "memories", "pause_15", "pause_60", "pause_forever", "resume",
                               "lock", "unlock", "doctor", "settings", "quit"), lambda: None), "Ctrl+Shift+Space")
    tray.show_state("capturing", "capturing")
    tray.show_health(CaptureHealth(datetime.now(timezone.utc) - timedelta(minutes=2), 3, 1_340_000_000).summary())
    shoot(tray.menu, "tray-menu")
    from app.desktop.settings import SettingsWindow

    settings = SettingsWindow(hotkey_problem="no X11 display")
    for index, name in ((0, "settings-capture"), (4, "settings-desktop"),
                        (next(i for i in range(settings.tabs.count()) if "Model" in settings.tabs.tabText(i)),
                         "settings-model"),
                        (next(i for i in range(settings.tabs.count()) if settings.tabs.tabText(i) == "Advanced"),
                         "settings-advanced")):
        settings.tabs.setCurrentIndex(index)
        shoot(settings, name)
    from app.desktop.model_download import ModelDownloadDialog

    download = ModelDownloadDialog(lambda path: None)
    shoot(download, "model-download")
    download.show_running(download.chosen())      # as it looks part-way through (nothing is fetched here)
    download._moved(420, 459_000_000, 1_092_845_809)
    shoot(download, "model-download-running")
    from app.mcp.clients import parse_scopes
    from app.mcp.service import McpService

    agents = McpService(lambda: store, lambda question: None, lambda client, what: False)
    for client, scopes, query in (("claude-desktop", "read,images", "budget"), ("cursor", "read,write", "tea")):
        token = agents.registry.add(store.vault.keys.content, client, parse_scopes(scopes))
        agents.handle({"op": "call", "token": token, "tool": "search", "args": {"query": query, "limit": 5}})
    with_agents = SettingsWindow({"agents": lambda: agents})
    with_agents.tabs.setCurrentIndex(with_agents.tabs.count() - 1)
    shoot(with_agents, "settings-agents")
    asker.llm.close()
    store.close()
    print(f"screenshots in {out}")
    return 0


if __name__ == "__main__":
    args = [a for a in sys.argv[1:] if a != "--dark"]
    chosen: tuple[str, ...] = ()
    if "--only" in args:
        at = args.index("--only")
        chosen = tuple(args[at + 1].split(","))
        del args[at:at + 2]
    raise SystemExit(main(args[0] if args else "screenshots", dark="--dark" in sys.argv[1:], only=chosen))
