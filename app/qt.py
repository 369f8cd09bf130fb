"""The one place Qt is imported from: app code says `from app.qt import ...`.

Keeping every Qt name behind one module means a Qt upgrade or binding change
touches one file, and a grep shows the core packages never reach Qt.
"""
from PySide6.QtCore import (QByteArray, QDate, QEvent, QObject, QPointF, QRectF, QSize, QSocketNotifier, Qt, QTime,
                            QTimer, Signal, Slot)
from PySide6.QtGui import (QAbstractTextDocumentLayout, QAction, QBrush, QColor, QFont, QGuiApplication, QIcon,
                           QImage, QKeySequence, QPainter, QPalette, QPen, QPixmap, QTextDocument)
from PySide6.QtNetwork import QLocalServer, QLocalSocket
from shiboken6 import isValid
from PySide6.QtWidgets import (QAbstractItemView, QApplication, QDialog, QDialogButtonBox, QFrame, QHBoxLayout,
                               QCheckBox, QDateEdit, QDoubleSpinBox, QFileDialog, QFormLayout, QHeaderView,
                               QInputDialog, QLabel, QSizePolicy, QSpinBox, QSplitter, QLineEdit, QTableWidget, QTableWidgetItem,
                               QTabWidget, QScrollArea,
                               QListWidget, QListWidgetItem, QMenu, QMessageBox, QPlainTextEdit, QProgressBar, QPushButton,
                               QStyle, QStyledItemDelegate, QStyleOptionViewItem, QSystemTrayIcon,
                               QTextBrowser, QTimeEdit, QVBoxLayout, QWidget)

__all__ = [
    "QSocketNotifier", "QCheckBox", "QDoubleSpinBox", "QFileDialog", "QFormLayout", "QSpinBox",
    "QBrush", "QDate", "QDateEdit", "QPen", "QPointF", "QRectF", "QSizePolicy", "QSplitter",
    "QAbstractItemView", "QHeaderView", "QInputDialog", "QTableWidget", "QTableWidgetItem", "QTabWidget",
    "QAction", "QApplication", "QByteArray", "QColor", "QDialog", "QDialogButtonBox", "QEvent", "QFont", "QFrame",
    "QGuiApplication", "QHBoxLayout", "QIcon", "QKeySequence", "QLabel", "QLineEdit", "QListWidget",
    "QListWidgetItem", "QLocalServer", "QLocalSocket", "QMenu", "QMessageBox", "QObject", "QPainter",
    "QPixmap", "QPlainTextEdit", "QPushButton", "QSize", "QSystemTrayIcon", "QTextBrowser", "QTimer",
    "QVBoxLayout", "QWidget", "Qt", "Signal", "Slot", "isValid",
    "QImage", "QTime", "QTimeEdit", "QScrollArea", "QProgressBar",
    "QAbstractTextDocumentLayout", "QPalette", "QTextDocument", "QStyle", "QStyledItemDelegate", "QStyleOptionViewItem",
]
