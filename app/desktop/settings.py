"""Settings: every option of storage/config.py as a form, plus the account actions.

The form is generated from the declared options (type, default, help), so a
new setting appears here without UI work: numbers are spin boxes, switches are
check boxes, lists are one item per line. Tabs follow what the user is
thinking of (Capture, Retention, Model and agents, Desktop and security); the
technical knobs (image scale, WebP quality, context sizes, ...) wait on an
"Advanced" tab, and the account actions (change passphrase, export, delete
everything) are on their own tab. Each option is labelled in the user's words,
with its unit spelled out (LABELS); the help line says more. Changes are saved to config.toml on "Save"; capture and the
agents pick them up the next time Engram is unlocked.
"""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from storage.config import OPTIONS, Config, Option

from app.desktop.ops import run_in_background
from app.qt import (QCheckBox, QDoubleSpinBox, QFileDialog, QFormLayout, QFrame, QHBoxLayout, QInputDialog, QLabel,
                    QLineEdit, QMessageBox, QPlainTextEdit, QPushButton, QScrollArea, QSpinBox, QTabWidget, QVBoxLayout,
                    QWidget)

TABS = (("Capture", ("capture.",)), ("Retention", ("retention.",)),
        ("Model and agents", ("model.", "ask.", "agents.")), ("Search", ("search.",)),
        ("Desktop and security", ("desktop.", "security.")))
# Options people should not meet in a form (tuning knobs measured by the benchmarks).
_HIDDEN = frozenset({"search.vector_index_min_rows", "security.kdf_memory_mib", "search.keyword_weight",
                     "search.vector_weight"})
# Knobs that change how Engram works inside rather than what it does: on the "Advanced" tab, in this order.
ADVANCED = ("capture.image_scale", "capture.webp_quality", "capture.moving_picture_seconds", "model.context_tokens",
            "ask.context_tokens", "agents.digest_every_seconds", "search.recency_weight",
            "search.recency_half_life_days", "security.kdf_target_seconds")
LABELS = {
    "capture.enabled": "Capture the screen",
    "capture.interval_seconds": "Look at the screen every (seconds)",
    "capture.monitors": "Monitors to capture",
    "capture.quiet_hours": "Quiet hours (no capture)",
    "capture.min_free_disk_mb": "Keep this much disk free (megabytes)",
    "capture.idle_after_seconds": "Stop capturing when you are away for (seconds)",
    "capture.image_scale": "Size of stored screenshots (1 = full size)",
    "capture.webp_quality": "Screenshot image quality (WebP, 1 to 100)",
    "capture.moving_picture_seconds": "While a video plays, keep a screen every (seconds)",
    "capture.excluded_apps": "Apps never captured",
    "capture.allow_without_window_info": "Capture even when window titles can't be read",
    "capture.excluded_title_keywords": "Never capture windows whose title contains",
    "retention.max_gb": "Space for screenshots (gigabytes)",
    "retention.max_age_days": "Forget screens older than (days)",
    "retention.text_only_after_days": "Keep only the text of screens older than (days)",
    "model.gguf_path": "Language model file",
    "model.endpoint": "Or a model server on this computer (its address)",
    "model.endpoint_model": "Which model of that server",
    "model.context_tokens": "The model's working memory (tokens)",
    "ask.use_small_model": "Let a base model write answers",
    "ask.context_tokens": "Notes an answer may draw on (tokens)",
    "desktop.start_at_login": "Start Engram when you log in",
    "desktop.hotkey": "Search shortcut",
    "security.use_keyring": "Unlock from the system keyring",
    "security.auto_lock_minutes": "Lock when you are away for (minutes)",
    "security.kdf_target_seconds": "Time to check your passphrase (seconds)",
    "agents.user_names": "Your names in imported chats",
    "agents.digest_every_seconds": "Sort what is new into memories every (seconds)",
    "agents.consolidate_at": "Tidy up memories each night at (HH:MM)",
    "search.default_k": "Results per search",
    "search.recency_weight": "Prefer newer memories (0 = not at all)",
    "search.recency_half_life_days": "Newer memories' head start halves after (days)",
}


def label_of(option: Option) -> str:
    if option.name in LABELS:
        return LABELS[option.name]
    words = option.name.split(".", 1)[1].replace("_", " ")  # an option added without a label yet
    return words[:1].upper() + words[1:]


class SettingsWindow(QWidget):
    def __init__(self, actions: dict[str, Callable[..., Any]] | None = None, config_path: Path | None = None,
                 hotkey_problem: str = "", model_description: str = "") -> None:
        super().__init__()
        self.setWindowTitle("Engram — Settings")
        self.resize(880, 640)
        self._path = config_path
        self._actions = actions or {}
        self.config = Config.load(config_path)
        self.editors: dict[str, Any] = {}
        self.download_dialog: Any = None     # "Download…" next to the model file, while open
        self.tabs = QTabWidget()
        shown = [o for o in OPTIONS if o.name not in _HIDDEN]
        for title, prefixes in TABS:
            self.tabs.addTab(self._form([o for o in shown if o.name.startswith(prefixes) and o.name not in ADVANCED],
                                        title, hotkey_problem, model_description), title)
        by_name = {o.name: o for o in shown}
        self.tabs.addTab(self._form([by_name[n] for n in ADVANCED if n in by_name], "Advanced", hotkey_problem,
                                    model_description), "Advanced")
        self.tabs.addTab(self._account_tab(), "Your data")
        if "agents" in self._actions:  # the MCP service: its clients and the audit of their calls
            from app.desktop.mcp_clients import AgentsTab

            self.tabs.addTab(AgentsTab(self._actions["agents"]()), "Agents")
        self.status = QLabel("")
        save = QPushButton("Save")
        save.setDefault(True)
        save.clicked.connect(self.save)
        row = QHBoxLayout()
        row.addWidget(self.status, stretch=1)
        row.addWidget(save)
        layout = QVBoxLayout(self)
        layout.addWidget(self.tabs)
        layout.addLayout(row)

    # the generated form

    def _form(self, options: list[Option], title: str, hotkey_problem: str, model_description: str) -> QWidget:
        page = QWidget()
        form = QFormLayout(page)
        for option in options:
            editor = self._editor(option)
            editor.setToolTip(option.help)
            self.editors[option.name] = editor
            if option.name == "model.gguf_path":
                choose = QPushButton("Choose…")
                choose.clicked.connect(self.choose_model)
                download = QPushButton("Download…")
                download.setToolTip("Fetch a bigger model from Engram's catalogue")
                download.clicked.connect(self.download_model)
                holder = QWidget()
                row = QHBoxLayout(holder)
                row.setContentsMargins(0, 0, 0, 0)
                row.addWidget(editor, stretch=1)
                row.addWidget(choose)
                row.addWidget(download)
                form.addRow(label_of(option), holder)
            else:
                form.addRow(label_of(option), editor)
            hint = QLabel(option.help)
            hint.setWordWrap(True)
            hint.setProperty("role", "hint")
            form.addRow("", hint)
        if title == "Desktop and security" and hotkey_problem:
            note = QLabel(f"The shortcut does not work here: {hotkey_problem}. Bind the command "
                          "<b>engram recall</b> to a key in your desktop's keyboard settings instead.")
            note.setWordWrap(True)
            form.addRow("", note)
        if title == "Capture":
            always = QLabel("Always left out, whatever the lists say: private and incognito browser windows "
                            "(Firefox, Chrome, Edge, Safari, Brave) and Engram's own windows.")
            always.setWordWrap(True)
            form.addRow("Never captured", always)
        if title == "Advanced":
            note = QLabel("How Engram works inside. The defaults are measured (BENCHMARKS.md); change them "
                          "only for a reason.")
            note.setWordWrap(True)
            form.insertRow(0, note)
        if title == "Model and agents":
            self.model_status = QLabel(model_description or "The built-in Qwen2.5-Coder 0.5B Instruct: writes Ask's "
                                       "answers from your memories, cited; memories are made by the extractors "
                                       "and the meaning router.")
            self.model_status.setWordWrap(True)
            form.addRow("Active model", self.model_status)
        return _scrolling(page)

    def _editor(self, option: Option) -> Any:
        value = self.config.get(option.name)
        if option.type is bool:
            box = QCheckBox()
            box.setChecked(bool(value))
            return box
        if option.type is int:
            spin = QSpinBox()
            spin.setRange(0, 10_000_000)
            spin.setValue(int(value))
            return spin
        if option.type is float:
            dspin = QDoubleSpinBox()
            dspin.setRange(0.0, 1_000_000.0)
            dspin.setDecimals(2)
            dspin.setValue(float(value))
            return dspin
        if option.type is list:
            lines = QPlainTextEdit("\n".join(str(v) for v in value))
            lines.setMaximumHeight(90)
            return lines
        return QLineEdit(str(value))

    def values(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name, editor in self.editors.items():
            if isinstance(editor, QCheckBox):
                out[name] = editor.isChecked()
            elif isinstance(editor, (QSpinBox, QDoubleSpinBox)):
                out[name] = editor.value()
            elif isinstance(editor, QPlainTextEdit):
                out[name] = [line.strip() for line in editor.toPlainText().splitlines() if line.strip()]
            else:
                out[name] = editor.text().strip()
        return out

    def save(self) -> bool:
        from agents.llm import ModelError
        from agents.llm_endpoint import local_url
        from app.autostart import set_enabled
        from app.capture.factory import monitor_numbers
        from app.capture.quiet_hours import parse_schedule
        from app.desktop.hotkey import parse

        values = self.values()
        try:
            parse(values["desktop.hotkey"])
            hour, minute = (int(p) for p in values["agents.consolidate_at"].split(":"))
            if not (0 <= hour < 24 and 0 <= minute < 60):
                raise ValueError("the consolidation time must be HH:MM")
            parse_schedule(values["capture.quiet_hours"])
            monitor_numbers(values["capture.monitors"])
            if values["model.gguf_path"] and not Path(values["model.gguf_path"]).expanduser().is_file():
                raise ValueError(f"the model file {values['model.gguf_path']} does not exist")
            if values["model.endpoint"]:
                local_url(values["model.endpoint"])
        except (ValueError, ModelError) as exc:
            self.status.setText(f"Not saved: {exc}")
            return False
        for name, value in values.items():
            if value != self.config.get(name):
                self.config.set(name, value)
        self.config.save(self._path)
        if not values["security.use_keyring"]:
            from app.keyring_unlock import forget

            forget()  # turning it on takes effect at the next unlock, which has the passphrase
        try:
            set_enabled(values["desktop.start_at_login"])
        except OSError as exc:
            self.status.setText(f"Saved, but start at login could not be set: {exc}")
            return True
        self.status.setText("Saved. Capture and the agents use the new settings after the next unlock.")
        return True

    def choose_model(self) -> None:
        chosen, _ = QFileDialog.getOpenFileName(self, "Choose a GGUF model", str(Path.home()), "GGUF models (*.gguf)")
        if chosen:
            self.use_model_file(chosen)

    def download_model(self) -> None:
        from app.desktop.model_download import ModelDownloadDialog

        self.download_dialog = ModelDownloadDialog(lambda path: self.use_model_file(str(path)))
        self.download_dialog.show()

    def use_model_file(self, path: str) -> None:
        """Put a model file in the setting (saved with the others) and tell what it is by loading it once."""
        self.editors["model.gguf_path"].setText(path)
        self.model_status.setText("Checking the model…")
        test = self._actions.get("test_model")
        if test is not None:
            run_in_background(lambda: test(path), lambda text: self.model_status.setText(str(text)),
                              lambda exc: self.model_status.setText(f"This model cannot be used: {exc}"),
                              owner=self)

    # the account

    def _account_tab(self) -> QWidget:
        page = QWidget()
        layout = QVBoxLayout(page)
        for label, hint, handler in (
                ("Change passphrase…", "The store is not rewritten: its key is wrapped again.", self.change_passphrase),
                ("Export everything…", "One archive of your store, screenshots and settings, still encrypted: it "
                                       "opens only with your passphrase or recovery key.", self.export),
                ("Delete everything…", "Every memory, screenshot, key and setting is removed from this computer. "
                                       "This cannot be undone.", self.delete_everything)):
            button = QPushButton(label)
            button.clicked.connect(handler)
            text = QLabel(hint)
            text.setWordWrap(True)
            layout.addWidget(button)
            layout.addWidget(text)
        layout.addStretch(1)
        return page

    def change_passphrase(self) -> None:
        action = self._actions.get("change_passphrase")
        new, ok = QInputDialog.getText(self, "Engram", "New passphrase (at least 8 characters):",
                                       QLineEdit.EchoMode.Password)
        if not ok or action is None:
            return
        repeat, ok = QInputDialog.getText(self, "Engram", "The new passphrase again:", QLineEdit.EchoMode.Password)
        if not ok:
            return
        if new != repeat or len(new) < 8:
            self.status.setText("Not changed: the two passphrases differ or are shorter than 8 characters.")
            return
        self.status.setText("Changing the passphrase…")
        run_in_background(lambda: action(new), lambda _: self.status.setText("Passphrase changed."),
                          lambda exc: self.status.setText(f"Not changed: {exc}"), owner=self)

    def export(self) -> None:
        action = self._actions.get("export")
        chosen, _ = QFileDialog.getSaveFileName(self, "Export Engram", str(Path.home() / "engram-backup.tar.gz"),
                                                "Archives (*.tar.gz)")
        if not chosen or action is None:
            return
        self.status.setText("Exporting…")
        run_in_background(lambda: action(Path(chosen)), lambda path: self.status.setText(f"Exported to {path}."),
                          lambda exc: self.status.setText(f"Not exported: {exc}"), owner=self)

    def delete_everything(self) -> None:
        action = self._actions.get("delete_everything")
        typed, ok = QInputDialog.getText(self, "Delete everything",
                                         "This removes every memory, screenshot and key from this computer, and "
                                         "cannot be undone.\nType DELETE to confirm:")
        if not ok or typed.strip() != "DELETE" or action is None:
            if ok:
                QMessageBox.information(self, "Engram", "Nothing was deleted.")
            return
        action()


def _scrolling(page: QWidget) -> QScrollArea:
    """A form longer than the window scrolls instead of squeezing its rows."""
    area = QScrollArea()
    area.setWidget(page)
    area.setWidgetResizable(True)
    area.setFrameShape(QFrame.Shape.NoFrame)
    return area
