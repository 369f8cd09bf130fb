"""One stylesheet for every window, in light or dark after the system's palette."""
from __future__ import annotations

from pathlib import Path

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
QListWidget::item:selected {{ background: {select}; color: {fg}; }}
QLabel#status {{ color: {muted}; font-size: 12px; }}
QLabel[role="hint"] {{ color: {muted}; font-size: 12px; }}
QLabel#error {{ color: {error}; }}
QCheckBox::indicator {{ width: 15px; height: 15px; border: 1px solid {muted}; border-radius: 4px; background: {field}; }}
QCheckBox::indicator:checked {{ background: {accent}; border-color: {accent}; image: url("{check}"); }}
QCheckBox::indicator:disabled {{ border-color: {line}; background: {bg}; }}
QCheckBox::indicator:checked:disabled {{ background: {line}; }}
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

# Text colours (fg, muted, link, error) keep a contrast of at least 4.5 to bg and field (WCAG AA).
LIGHT = dict(bg="#f7f8fa", fg="#1d2330", field="#ffffff", line="#d5d9e0", accent="#3567d6", select="#dce6fb",
             muted="#5f6673", link="#2f5fc4", error="#c5221f")
DARK = dict(bg="#1f232b", fg="#e6e9ef", field="#2a2f39", line="#3a404c", accent="#5b8cf0", select="#2f4370",
            muted="#a3abb9", link="#8ab0f7", error="#ff8a80")
CHECK = Path(__file__).resolve().parents[2] / "assets" / "icons" / "check.svg"


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
    app.setStyleSheet(_BASE.format(**colours, check=CHECK.as_posix()))


def palette(colours: dict[str, str]) -> QPalette:
    roles = QPalette.ColorRole
    out = QPalette()
    for role, name in ((roles.Window, "bg"), (roles.WindowText, "fg"), (roles.Base, "field"),
                       (roles.AlternateBase, "bg"), (roles.Text, "fg"), (roles.Button, "field"),
                       (roles.ButtonText, "fg"), (roles.Highlight, "accent"), (roles.PlaceholderText, "muted"),
                       (roles.ToolTipBase, "field"), (roles.ToolTipText, "fg"), (roles.Mid, "line"),
                       (roles.Link, "link"), (roles.LinkVisited, "link")):
        out.setColor(role, QColor(colours[name]))
    out.setColor(roles.HighlightedText, QColor("white"))
    out.setColor(QPalette.ColorGroup.Disabled, roles.Text, QColor(colours["muted"]))
    out.setColor(QPalette.ColorGroup.Disabled, roles.ButtonText, QColor(colours["muted"]))
    out.setColor(QPalette.ColorGroup.Disabled, roles.WindowText, QColor(colours["muted"]))
    return out


def error_colour(palette: QPalette) -> str:
    """Red that reads on this palette's text background (a dark red vanishes on a dark one)."""
    dark = palette.color(QPalette.ColorRole.Base).lightness() < 128
    return (DARK if dark else LIGHT)["error"]
