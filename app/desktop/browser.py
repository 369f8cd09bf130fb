"""The memory browser: everything Engram remembers, one tab per kind, to read, correct and forget.

- Core memory is editable text: what the user writes there is theirs (trust
  "user"), and the agents never overwrite a user-stated fact with a weaker one.
  What another chat says against a known fact waits below it as a suggestion,
  to take or dismiss (agents/managers/core.py).
- Each other kind is a table (newest first, filter as you type, sortable
  columns); a row can be opened (the memory with its sources), edited or deleted
  (with confirmation; deleting is physical, see the store's contract).
- Vault values are masked. "Reveal" shows one for 30 s, and asks for the
  passphrase again when the store was unlocked more than five minutes ago.
All store work runs in the background (ops.run_in_background).
"""
from __future__ import annotations

import html
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from agents.secrets import keep_secrets
from storage.memory import Memory, Trust
from storage.search import Hit

from app.desktop.clipboard import copy_for_a_while
from app.desktop.ops import run_in_background
from app.qt import (QAbstractItemView, QHBoxLayout, QHeaderView, QInputDialog, QLabel, QLineEdit, QListWidget,
                    QListWidgetItem, QMessageBox, QPlainTextEdit, QPushButton, QTableWidget, QTableWidgetItem,
                    QTabWidget, QTimer, QVBoxLayout, QWidget, Qt)

TABS = (("core", "About you"), ("episodic", "Events"), ("semantic", "Facts"), ("procedural", "How-tos"),
        ("resource", "Resources"), ("vault", "Vault"))
REVEAL_SECONDS = 30
ASK_AGAIN_AFTER_SECONDS = 300
_ROWS = 2000
MASK = "••••••••"


class MemoryBrowser(QWidget):
    def __init__(self, store: Any, open_hit: Callable[[Hit], None],
                 ask_passphrase: Callable[[], str | None] | None = None) -> None:
        super().__init__()
        self.setWindowTitle("Engram — Memories")
        self.resize(980, 640)
        self.store, self._open_hit = store, open_hit
        self._ask_passphrase = ask_passphrase or self._passphrase_dialog
        self.tabs = QTabWidget()
        self.tables: dict[str, _KindTable] = {}
        self.core = _CoreEditor(self)
        self.tabs.addTab(self.core, TABS[0][1])
        for kind, label in TABS[1:]:
            table = _KindTable(self, kind)
            self.tables[kind] = table
            self.tabs.addTab(table, label)
        layout = QVBoxLayout(self)
        layout.addWidget(self.tabs)
        self.tabs.currentChanged.connect(lambda _: self.refresh_current())
        self.refresh_current()

    def refresh_current(self) -> None:
        widget = self.tabs.currentWidget()
        if isinstance(widget, (_KindTable, _CoreEditor)):
            widget.load()

    def confirm(self, question: str) -> bool:
        answer = QMessageBox.question(self, "Engram", question,
                                      QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Cancel,
                                      QMessageBox.StandardButton.Cancel)
        return bool(answer == QMessageBox.StandardButton.Yes)

    def _passphrase_dialog(self) -> str | None:
        text, ok = QInputDialog.getText(self, "Engram", "Your passphrase, to show a vault value:",
                                        QLineEdit.EchoMode.Password)
        return text if ok else None

    def may_reveal(self) -> bool:
        """Recently unlocked, or the passphrase typed again (checked off the GUI thread's way: ~1 s of KDF)."""
        vault = self.store.vault
        if vault.unlocked_for <= ASK_AGAIN_AFTER_SECONDS:
            return True
        passphrase = self._ask_passphrase()
        return bool(passphrase) and bool(vault.verify(passphrase))


class _KindTable(QWidget):
    COLUMNS = ("When", "What", "App", "Trust", "Sources")

    def __init__(self, browser: MemoryBrowser, kind: str) -> None:
        super().__init__()
        self.browser, self.kind = browser, kind
        self.memories: list[Memory] = []
        self.filter = QLineEdit()
        self.filter.setPlaceholderText("Filter…")
        self.filter.textChanged.connect(self._show)
        self.table = QTableWidget(0, len(self.COLUMNS) + (1 if kind == "vault" else 0))
        self.table.setHorizontalHeaderLabels(list(self.COLUMNS) + (["Value"] if kind == "vault" else []))
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSortingEnabled(True)
        header = self.table.horizontalHeader()
        for column in range(self.table.columnCount()):
            header.setSectionResizeMode(column, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        self.table.verticalHeader().setVisible(False)
        self.table.sortByColumn(0, Qt.SortOrder.DescendingOrder)
        self.table.doubleClicked.connect(lambda _: self.open_selected())
        self.status = QLabel("")
        buttons = QHBoxLayout()
        for label, action in (("Open", self.open_selected), ("Sources…", self.show_sources), ("Edit…", self.edit_selected),
                              ("Delete…", self.delete_selected)):
            button = QPushButton(label)
            button.clicked.connect(action)
            buttons.addWidget(button)
        if kind == "vault":
            for label, action in (("Reveal", self.reveal_selected), ("Copy value", self.copy_selected)):
                button = QPushButton(label)
                button.clicked.connect(action)
                buttons.addWidget(button)
        buttons.addStretch(1)
        buttons.addWidget(self.status)
        layout = QVBoxLayout(self)
        layout.addWidget(self.filter)
        layout.addWidget(self.table, stretch=1)
        layout.addLayout(buttons)

    def load(self) -> None:
        self.status.setText("Loading…")
        run_in_background(lambda: self.browser.store.list_range(kinds=[self.kind], limit=_ROWS, newest_first=True),
                          self._loaded, lambda exc: self.status.setText(f"Could not load: {exc}"), owner=self)

    def _loaded(self, memories: list[Memory]) -> None:
        self.memories = memories
        self._show()

    def _show(self) -> None:
        needle = self.filter.text().strip().lower()
        shown = [m for m in self.memories if not needle or needle in f"{m.text} {m.app} {m.title}".lower()]
        self.table.setSortingEnabled(False)
        self.table.setRowCount(len(shown))
        for row, memory in enumerate(shown):
            cells = [memory.time.astimezone().strftime("%Y-%m-%d %H:%M"), memory.text.replace("\n", " ")[:200],
                     memory.app, Trust(memory.trust).name.lower() + (" · faded" if "faded" in memory.tags else ""),
                     str(len(memory.source_ids))]
            if self.kind == "vault":
                cells.append(MASK)
            for column, value in enumerate(cells):
                item = QTableWidgetItem(value)
                item.setData(Qt.ItemDataRole.UserRole, memory.id)
                self.table.setItem(row, column, item)
        self.table.setSortingEnabled(True)
        self.status.setText(f"{len(shown):,} of {len(self.memories):,}" if needle else f"{len(shown):,}")

    def selected(self) -> Memory | None:
        row = self.table.currentRow()
        item = self.table.item(row, 0) if row >= 0 else None
        memory_id = item.data(Qt.ItemDataRole.UserRole) if item is not None else None
        return next((m for m in self.memories if m.id == memory_id), None)

    def open_selected(self) -> None:
        memory = self.selected()
        if memory is not None:
            self.browser._open_hit(Hit(memory.id, memory.kind, memory.time, memory.text, 0.0, memory.app,
                                       memory.title, memory.source_ids, memory.frame_id))

    def show_sources(self) -> None:
        """Where the memory came from: each screen or message, to open (a screen opens in the timeline)."""
        memory = self.selected()
        if memory is None or not memory.source_ids:
            self.status.setText("This memory has no recorded source (you added it yourself).")
            return
        run_in_background(lambda: _sources_of(self.browser.store, memory), self._sources_loaded,
                          lambda exc: self.status.setText(f"Could not read the sources: {exc}"), owner=self)

    def _sources_loaded(self, sources: list[Memory]) -> None:
        if not sources:
            self.status.setText("Its sources were forgotten since (deleted or expired).")
            return
        labels = [f"{s.time.astimezone():%Y-%m-%d %H:%M} · {s.kind}{' · ' + s.app if s.app else ''} · "
                  f"{' '.join(s.text.split())[:80]}" for s in sources]
        chosen, ok = QInputDialog.getItem(self, "Sources", "Where this memory came from:", labels, 0, False)
        if ok and chosen in labels:
            source = sources[labels.index(chosen)]
            self.browser._open_hit(Hit(source.id, source.kind, source.time, source.text, 0.0, source.app,
                                       source.title, source.source_ids, source.frame_id))

    def edit_selected(self) -> None:
        memory = self.selected()
        if memory is None:
            return
        text, ok = QInputDialog.getMultiLineText(self, "Edit memory", "What Engram should remember:", memory.text)
        if not ok or not text.strip() or text == memory.text:
            return
        # The user's own words outrank any source. A copy: the table shows what is stored until saved.
        edited = replace(memory, text=text.strip(), trust=Trust.USER, history=list(memory.history))
        store = self.browser.store

        def save() -> None:
            # A password or IBAN typed here is masked and filed in the vault before the text is written, as
            # on every other way in. The vault first: a crash between leaves it filed and the old text.
            filed = keep_secrets(store, [edited])[1:]
            if filed:
                store.save(filed)
            store.update(edited, who="user", what="edited in the browser")

        run_in_background(save, lambda _: self.load(), lambda exc: self.status.setText(f"Not saved: {exc}"),
                          owner=self)

    def delete_selected(self) -> None:
        memory = self.selected()
        if memory is None or not self.browser.confirm(
                f"Forget this {self.kind} memory for good?\n\n{memory.text[:200]}\n\n"
                + ("It is erased from disk at once; " if memory.kind == "vault" else
                   "It disappears now and is erased from disk within the hour; ")
                + "this cannot be undone."):
            return
        run_in_background(lambda: self.browser.store.delete([memory.id]), lambda _: self.load(),
                          lambda exc: self.status.setText(f"Not deleted: {exc}"), owner=self)

    def reveal_selected(self) -> None:
        memory = self.selected()
        if memory is None or not memory.secret or not self.browser.may_reveal():
            return
        row = self.table.currentRow()
        item = self.table.item(row, len(self.COLUMNS))
        if item is None:
            return
        item.setText(memory.secret)
        # Masked again after a while, or when the list is reloaded.
        QTimer.singleShot(REVEAL_SECONDS * 1000, lambda: _mask_if_alive(self.table, item))

    def copy_selected(self) -> None:
        memory = self.selected()
        if memory is not None and memory.secret:
            copy_for_a_while(memory.secret)
            self.status.setText(f"Copied; cleared from the clipboard in {REVEAL_SECONDS} s")


def _sources_of(store: Any, memory: Memory) -> list[Memory]:
    """On a worker thread: the frames and messages behind a memory that still exist, oldest first."""
    found = [store.get(ref.split(":", 1)[1]) for ref in memory.source_ids if ":" in ref]
    return sorted((m for m in found if m is not None), key=lambda m: m.time)


def _mask_if_alive(table: QTableWidget, item: QTableWidgetItem) -> None:
    from app.qt import isValid

    if isValid(table) and isValid(item):
        item.setText(MASK)


class _CoreEditor(QWidget):
    def __init__(self, browser: MemoryBrowser) -> None:
        super().__init__()
        self.browser = browser
        self.memory: Memory | None = None
        self.note = QLabel("What Engram always knows about you. It is shown to the model with every question; "
                           "edit freely: what you write here outranks anything Engram picked up.")
        self.note.setWordWrap(True)
        self.text = QPlainTextEdit()
        self.save = QPushButton("Save")
        self.save.clicked.connect(self.save_text)
        self.status = QLabel("")
        row = QHBoxLayout()
        row.addWidget(self.save)
        row.addStretch(1)
        row.addWidget(self.status)
        layout = QVBoxLayout(self)
        layout.addWidget(self.note)
        layout.addWidget(self.text, stretch=1)
        layout.addLayout(row)
        layout.addWidget(self._suggestions_box())

    def _suggestions_box(self) -> QWidget:
        self.suggestions_box = QWidget()
        note = QLabel("Other chats say something different about you. Nothing changes until you choose:")
        note.setWordWrap(True)
        self.suggestions = QListWidget()
        self.suggestions.setMaximumHeight(120)
        take = QPushButton("Use this instead")
        take.clicked.connect(self.take_suggestion)
        dismiss = QPushButton("Dismiss")
        dismiss.clicked.connect(self.dismiss_suggestion)
        self._writers = (self.save, take, dismiss)
        buttons = QHBoxLayout()
        buttons.addWidget(take)
        buttons.addWidget(dismiss)
        buttons.addStretch(1)
        box = QVBoxLayout(self.suggestions_box)
        box.setContentsMargins(0, 8, 0, 0)
        box.addWidget(note)
        box.addWidget(self.suggestions)
        box.addLayout(buttons)
        self.suggestions_box.setVisible(False)
        return self.suggestions_box

    def load(self) -> None:
        from agents.managers.core import CoreManager

        run_in_background(lambda: self.browser.store.get(CoreManager.memory_id), self._loaded, owner=self)

    def _loaded(self, memory: Memory | None) -> None:
        self.memory = memory
        self.text.setPlainText(memory.text if memory else "")
        self.status.setText("" if memory else "Nothing yet: tell Engram about yourself here.")
        self._show_suggestions()

    def _show_suggestions(self) -> None:
        from agents.managers.core import suggestions

        self.suggestions.clear()
        for suggestion in suggestions(self.memory):
            known = [f["value"] for f in (self.memory.fields.get("facts") if self.memory else None) or []
                     if f["type"] == suggestion["type"]]
            instead = f" (instead of “{known[0]}”)" if known else ""
            item = QListWidgetItem(f"{suggestion['value']}{instead} — said in {suggestion.get('seen_in') or 'a chat'}, "
                                   f"{str(suggestion.get('at', ''))[:10]}")
            item.setData(Qt.ItemDataRole.UserRole, suggestion["value"])
            self.suggestions.addItem(item)
        self.suggestions_box.setVisible(self.suggestions.count() > 0)

    def take_suggestion(self) -> None:
        from agents.managers.core import take_suggestion

        self._decide(take_suggestion)

    def dismiss_suggestion(self) -> None:
        from agents.managers.core import dismiss_suggestion

        self._decide(dismiss_suggestion)

    def _decide(self, how: Callable[[Memory, str], Memory]) -> None:
        item = self.suggestions.currentItem()
        if item is None or self.memory is None:
            return
        memory = how(replace(self.memory, fields=dict(self.memory.fields), history=list(self.memory.history)),
                     str(item.data(Qt.ItemDataRole.UserRole)))
        self._write(lambda: self.browser.store.save([memory]), lambda: self._loaded(memory))

    def save_text(self) -> None:
        from agents.managers.core import edited_by_user

        memory = edited_by_user(self.memory, self.text.toPlainText())
        store = self.browser.store
        # Secrets typed here are masked (and kept in the vault) before the text is first written.
        self._write(lambda: store.save(keep_secrets(store, [memory])), lambda: self._saved(memory))

    def _write(self, work: Callable[[], Any], then: Callable[[], None]) -> None:
        """One write at a time: each is made from the memory as last loaded, so a second one started before the
        first is done (Save, then "Use this instead") would put back what the first changed."""
        if not self.save.isEnabled():
            return
        for button in self._writers:
            button.setEnabled(False)
        self.status.setText("Saving…")

        def done(_: Any) -> None:
            self._writable()
            then()

        def failed(exc: Exception) -> None:
            self._writable()
            self.status.setText(f"Not saved: {html.escape(str(exc))}")

        run_in_background(work, done, failed, owner=self)

    def _writable(self) -> None:
        for button in self._writers:
            button.setEnabled(True)

    def _saved(self, memory: Memory) -> None:
        self.memory = memory
        self.status.setText("Saved")
