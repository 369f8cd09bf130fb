"""How one recall result is drawn: the kind's icon, the snippet with the matched words in bold, the
app and time below it, and a thumbnail on the right for screens.

A delegate paints the rows instead of one rich-text label per row: twenty QLabels took about 33 ms
of the GUI thread per result set (their layout runs for every row, visible or not); painting the
few visible rows takes a millisecond or two.
"""
from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

from app.desktop.pixmaps import fitted
from app.qt import (QAbstractTextDocumentLayout, QIcon, QPalette, QPixmap, QRectF, QSize, QStyle,
                    QStyledItemDelegate, QStyleOptionViewItem, Qt, QTextDocument)

ICONS = Path(__file__).resolve().parents[2] / "assets" / "icons"
ROW_HEIGHT = 66
ICON_SIDE = 22
THUMB = QSize(96, 54)
PAD = 8

KIND_ROLE = Qt.ItemDataRole.UserRole          # the hit's kind: which icon
SNIPPET_ROLE = Qt.ItemDataRole.UserRole + 1   # rich text, matched words in bold
META_ROLE = Qt.ItemDataRole.UserRole + 2      # "SCREEN · Firefox · 5 min ago"
# Qt.ItemDataRole.DecorationRole holds the thumbnail (a QPixmap) once it has been loaded.


@cache
def kind_icon(kind: str) -> QIcon:
    path = ICONS / f"{kind}.svg"
    return QIcon(str(path if path.exists() else ICONS / "resource.svg"))


class ResultDelegate(QStyledItemDelegate):
    def sizeHint(self, option: QStyleOptionViewItem, index: Any) -> QSize:  # noqa: N802 (Qt's name)
        return QSize(0, ROW_HEIGHT)  # as wide as the list: the text wraps and elides

    def paint(self, painter: Any, option: QStyleOptionViewItem, index: Any) -> None:
        background = QStyleOptionViewItem(option)
        self.initStyleOption(background, index)
        background.text, background.icon = "", QIcon()
        widget = option.widget
        style = widget.style() if widget is not None else None
        if style is not None:  # the selection and hover background, as the style sheet has them
            style.drawControl(QStyle.ControlElement.CE_ItemViewItem, background, painter, widget)
        rect = option.rect.adjusted(PAD, PAD, -PAD, -PAD)
        painter.save()
        kind_icon(str(index.data(KIND_ROLE))).paint(painter, rect.left(), rect.top() + 2, ICON_SIDE, ICON_SIDE)
        text_left = rect.left() + ICON_SIDE + PAD
        text_right = rect.right()
        thumb = index.data(Qt.ItemDataRole.DecorationRole)
        if isinstance(thumb, QPixmap) and not thumb.isNull():
            scaled = fitted(thumb, THUMB, painter.device().devicePixelRatioF())
            size = scaled.deviceIndependentSize()
            painter.drawPixmap(round(rect.right() - size.width()), round(rect.top() + (rect.height() - size.height()) / 2),
                               scaled)
            text_right -= THUMB.width() + PAD
        width = max(40, text_right - text_left)
        metrics = option.fontMetrics
        meta_height = metrics.height()
        # The snippet: at most the lines that fit above the meta line, clipped there.
        document = QTextDocument()
        document.setDefaultFont(option.font)
        document.setDocumentMargin(0)
        document.setHtml(str(index.data(SNIPPET_ROLE) or ""))
        document.setTextWidth(width)
        context = QAbstractTextDocumentLayout.PaintContext()
        context.palette.setColor(QPalette.ColorRole.Text, option.palette.color(QPalette.ColorRole.Text))
        snippet_height = min(rect.height() - meta_height - 2, round(document.size().height()))
        context.clip = QRectF(0, 0, width, snippet_height)
        painter.translate(text_left, rect.top())
        painter.setClipRect(context.clip)
        document.documentLayout().draw(painter, context)
        painter.setClipping(False)
        painter.setPen(option.palette.color(QPalette.ColorRole.PlaceholderText))
        meta = metrics.elidedText(str(index.data(META_ROLE) or ""), Qt.TextElideMode.ElideRight, width)
        painter.drawText(0, snippet_height + 4 + metrics.ascent(), meta)
        painter.restore()
