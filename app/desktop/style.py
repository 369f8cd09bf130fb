"""One stylesheet for every window, in light or dark after the system's palette."""
from __future__ import annotations

from app.qt import QApplication, QColor, QPalette, Qt

_BASE = """
QWidget {{ font-size: 14px; }}
QDialog, QWidget#recall {{ background: {bg}; color: {fg}; }}
QLineEdit {{ padding: 6px 10px; border: 1px solid {line}; border-radius: 8px; background: {field}; color: {fg};
             selection-background-color: {accent}; }}
QWidget#recall QLineEdit, QDialog QLineEdit {{ padding: 9px 12px; font-size: 17px; }}
QLineEdit:focus {{ border-color: {accent}; }}
QPushButton {{ padding: 6px 14px; border: 1px solid {line}; border-radius: 14px; background: {field}; color: {fg}; }}
QPushButton:checked, QPushButton:default {{ background: {accent}; color: white; border-color: {accent}; }}
QPushButton#danger {{ background: #d03b31; color: white; border-color: #d03b31; }}
QPushButton:disabled, QPushButton:default:disabled, QPushButton#danger:disabled {{ color: {muted}; background: {field}; border-color: {line}; }}
QListWidget {{ border: none; background: transparent; color: {fg}; }}
QListWidget::item {{ padding: 6px; border-radius: 8px; }}
QListWidget::item:selected {{ background: {select}; }}
QLabel#status {{ color: {muted}; font-size: 12px; }}
QLabel[role="hint"] {{ color: {muted}; font-size: 12px; }}
QLabel#error {{ color: #e0483e; }}
QLabel#recoveryKey {{ font-family: monospace; font-size: 20px; padding: 12px; border: 1px dashed {line};
                      border-radius: 8px; background: {field}; }}
QScrollBar:vertical {{ width: 10px; background: transparent; margin: 2px; }}
QScrollBar:horizontal {{ height: 10px; background: transparent; margin: 2px; }}
QScrollBar::handle {{ background: {line}; border-radius: 3px; min-height: 24px; min-width: 24px; }}
QScrollBar::handle:hover {{ background: {muted}; }}
QScrollBar::add-line, QScrollBar::sub-line {{ width: 0; height: 0; }}
QScrollBar::add-page, QScrollBar::sub-page {{ background: none; }}
QPlainTextEdit {{ background: {field}; color: {fg}; border: 1px solid {line}; border-radius: 8px; }}
"""

LIGHT = dict(bg="#f7f8fa", fg="#1d2330", field="#ffffff", line="#d5d9e0", accent="#3567d6", select="#dce6fb",
             muted="#6b7280")
DARK = dict(bg="#1f232b", fg="#e6e9ef", field="#2a2f39", line="#3a404c", accent="#5b8cf0", select="#2f4370",
            muted="#9aa3b2")


def is_dark(app: QApplication) -> bool:
    scheme = app.styleHints().colorScheme()
    if scheme != Qt.ColorScheme.Unknown:
        return bool(scheme == Qt.ColorScheme.Dark)
    return bool(app.palette().window().color().lightness() < 128)


def apply_style(app: QApplication, dark: bool | None = None) -> None:
    """The style sheet, and the palette to match: some desktops report a dark scheme while Qt's
    own style stays light, which would leave windows half dark and half light."""
    colours = DARK if (is_dark(app) if dark is None else dark) else LIGHT
    app.setPalette(palette(colours))
    app.setStyleSheet(_BASE.format(**colours))


def palette(colours: dict[str, str]) -> QPalette:
    roles = QPalette.ColorRole
    out = QPalette()
    for role, name in ((roles.Window, "bg"), (roles.WindowText, "fg"), (roles.Base, "field"),
                       (roles.AlternateBase, "bg"), (roles.Text, "fg"), (roles.Button, "field"),
                       (roles.ButtonText, "fg"), (roles.Highlight, "accent"), (roles.PlaceholderText, "muted"),
                       (roles.ToolTipBase, "field"), (roles.ToolTipText, "fg"), (roles.Mid, "line")):
        out.setColor(role, QColor(colours[name]))
    out.setColor(roles.HighlightedText, QColor("white"))
    out.setColor(QPalette.ColorGroup.Disabled, roles.Text, QColor(colours["muted"]))
    out.setColor(QPalette.ColorGroup.Disabled, roles.ButtonText, QColor(colours["muted"]))
    out.setColor(QPalette.ColorGroup.Disabled, roles.WindowText, QColor(colours["muted"]))
    return out
