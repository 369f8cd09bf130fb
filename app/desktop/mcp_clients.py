"""Settings' "Agents" tab: the MCP clients (scopes, last use, revoke) and the audit of their calls.

Registering stays on the command line (`engram mcp add-client`), where the passphrase is asked:
a click in an unlocked window should not be all it takes to hand memory to a program.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any

from app.desktop.ops import run_in_background
from app.qt import (QAbstractItemView, QHBoxLayout, QHeaderView, QLabel, QMessageBox, QPushButton, QTableWidget,
                    QTableWidgetItem, QVBoxLayout, QWidget)

CLIENT_COLUMNS = ("Agent", "May", "Added", "Last used", "")
AUDIT_COLUMNS = ("When", "Agent", "Tool", "Arguments (shape only)", "Results", "Outcome")


def _local(stamp: str | None) -> str:
    if not stamp:
        return "never"
    try:
        return datetime.fromisoformat(stamp).astimezone().strftime("%Y-%m-%d %H:%M")
    except ValueError:
        return stamp


def _table(columns: tuple[str, ...], stretch: int) -> QTableWidget:
    table = QTableWidget(0, len(columns))
    table.setHorizontalHeaderLabels(list(columns))
    table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    table.verticalHeader().setVisible(False)
    table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
    table.horizontalHeader().setSectionResizeMode(stretch, QHeaderView.ResizeMode.Stretch)
    return table


class AgentsTab(QWidget):
    """`service`: app.mcp.service.McpService (clients, revoke, audit_entries)."""

    def __init__(self, service: Any) -> None:
        super().__init__()
        self.service = service
        intro = QLabel("Agents such as Claude Desktop or Cursor can search and add to your memory over MCP. "
                       "Register one in a terminal with <b>engram mcp add-client NAME --scopes read</b> "
                       "(see the README, “Agents”). Every call is listed below; while Engram is locked they get "
                       "nothing. Vault values never leave.")
        intro.setWordWrap(True)
        self.clients = _table(CLIENT_COLUMNS, stretch=0)
        self.audit = _table(AUDIT_COLUMNS, stretch=len(AUDIT_COLUMNS) - 1)
        self.status = QLabel("")
        refresh = QPushButton("Refresh")
        refresh.clicked.connect(self.refresh)
        row = QHBoxLayout()
        row.addWidget(self.status, stretch=1)
        row.addWidget(refresh)
        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addWidget(QLabel("<b>Registered agents</b>"))
        layout.addWidget(self.clients, stretch=1)
        layout.addWidget(QLabel("<b>Recent calls</b> (newest first; what was asked is not kept, only its shape)"))
        layout.addWidget(self.audit, stretch=2)
        layout.addLayout(row)
        self.refresh()

    def refresh(self) -> None:
        run_in_background(lambda: (self.service.clients(), self.service.audit_entries(300)), self._show,
                          lambda exc: self.status.setText(str(exc)), owner=self)

    def _show(self, found: tuple[list[Any], list[Any]]) -> None:
        clients, entries = found
        self.clients.setRowCount(len(clients))
        for row, client in enumerate(clients):
            for column, text in enumerate((client.name, ", ".join(client.scopes), _local(client.created),
                                           _local(client.last_used))):
                self.clients.setItem(row, column, QTableWidgetItem(text))
            revoke = QPushButton("Revoke")
            revoke.clicked.connect(lambda _=False, name=client.name: self.revoke(name))
            self.clients.setCellWidget(row, len(CLIENT_COLUMNS) - 1, revoke)
        self.audit.setRowCount(len(entries))
        for row, entry in enumerate(entries):
            shape = ", ".join(f"{k}: {v}" for k, v in entry.args.items())
            for column, text in enumerate((_local(entry.at), entry.client, entry.tool, shape, str(entry.results),
                                           entry.outcome)):
                item = QTableWidgetItem(text)
                item.setToolTip(text)
                self.audit.setItem(row, column, item)
        self.status.setText(f"{len(clients)} agent(s) registered." if clients else
                            "No agent registered yet.")

    def revoke(self, name: str) -> None:
        answer = QMessageBox.question(self, "Engram", f"Revoke “{name}”? Its token stops working at once; "
                                      "to use Engram again it must be registered anew.")
        if answer != QMessageBox.StandardButton.Yes:
            return
        run_in_background(lambda: self.service.revoke(name), lambda _: self.refresh(),
                          lambda exc: self.status.setText(str(exc)), owner=self)
