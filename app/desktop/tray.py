"""The tray icon: what Engram is doing at a glance, and the menu to control it."""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from app.qt import QAction, QColor, QIcon, QMenu, QPainter, QPixmap, QSystemTrayIcon

ICON = Path(__file__).resolve().parents[2] / "assets" / "engram.svg"
DOCTOR_LABEL = "What works on this computer…"
STATE_COLOURS = {"capturing": "#3cb371", "paused": "#f0b429", "locked": "#8a8f98", "error": "#e0483e"}


def state_icon(state: str) -> QIcon:
    """The app icon with a coloured dot for the state, drawn so no extra image files are needed."""
    pixmap = QIcon(str(ICON)).pixmap(64, 64)
    if pixmap.isNull():
        pixmap = QPixmap(64, 64)
        pixmap.fill(QColor("#2f3a56"))
    painter = QPainter(pixmap)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    painter.setPen(QColor("white"))
    painter.setBrush(QColor(STATE_COLOURS.get(state, "#8a8f98")))
    painter.drawEllipse(38, 38, 24, 24)
    painter.end()
    return QIcon(pixmap)


class Tray(QSystemTrayIcon):
    def __init__(self, actions: dict[str, Callable[[], None]], hotkey_hint: str = "") -> None:
        super().__init__()
        self.menu = QMenu()
        self.items: dict[str, QAction] = {}
        entries = [("search", f"Search…{'  ' + hotkey_hint if hotkey_hint else ''}"), ("timeline", "Timeline…"), ("ask", "Ask…"), ("memories", "Memories…"), None,
                   ("health", ""), ("pause_15", "Pause for 15 minutes"), ("pause_60", "Pause for 1 hour"),
                   ("pause_forever", "Pause until resumed"), ("resume", "Resume capture"), None,
                   ("lock", "Lock"), ("unlock", "Unlock…"), None, ("doctor", DOCTOR_LABEL), ("settings", "Settings…"),
                   ("quit", "Quit Engram")]
        for entry in entries:
            if entry is None:
                self.menu.addSeparator()
                continue
            name, label = entry
            action = self.menu.addAction(label)
            if name in actions:
                action.triggered.connect(actions[name])
            self.items[name] = action
        self.items["health"].setEnabled(False)  # a line to read (capture health), not a command
        self.setContextMenu(self.menu)
        self.activated.connect(lambda reason: actions["search"]()
                               if reason == QSystemTrayIcon.ActivationReason.Trigger else None)
        self.show_state("locked", "Engram is locked")

    def show_health(self, line: str) -> None:
        """How capture is doing (last screen, dropped ticks, disk used); hidden when empty."""
        self.items["health"].setText(line)
        self.items["health"].setVisible(bool(line))

    def set_hotkey_hint(self, hint: str) -> None:
        self.items["search"].setText(f"Search…{'  ' + hint if hint else ''}")

    def show_state(self, state: str, detail: str) -> None:
        self.state = state
        self.setIcon(state_icon(state))
        self.setToolTip(f"Engram — {detail}" + (f"\n(menu: {DOCTOR_LABEL})" if state == "error" else ""))
        # In trouble, the doctor's entry is the menu's bold one: what works here, and what to do.
        self.menu.setDefaultAction(self.items["doctor"] if state == "error" else None)  # type: ignore[arg-type]
        unlocked = state != "locked"
        for name in ("search", "timeline", "ask", "memories", "settings", "pause_15", "pause_60", "pause_forever", "lock"):
            self.items[name].setVisible(unlocked)
        self.items["unlock"].setVisible(not unlocked)
        if not unlocked:
            self.show_health("")
        self.items["resume"].setVisible(state == "paused")
        for name in ("pause_15", "pause_60", "pause_forever"):
            self.items[name].setVisible(state == "capturing" or state == "error")
