"""Every user-facing setting, declared once: name, type, default, one line of help.

The settings window, `engram config`, and the code all read this table, so an
option cannot exist in one place and be missing from another. Values live in
`config.toml` under the data directory; unknown keys are kept but ignored, a
value of the wrong type is reported and the default used.
"""
from __future__ import annotations

import logging
import os
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from storage import paths

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Option:
    name: str
    type: type
    default: Any
    help: str


OPTIONS: tuple[Option, ...] = (
    # Search
    Option("search.default_k", int, 10, "How many results a search returns by default."),
    Option("search.keyword_weight", float, 1.0, "Weight of keyword (BM25) ranks in hybrid fusion."),
    Option("search.vector_weight", float, 0.5, "Weight of meaning (vector) ranks in hybrid fusion."),
    Option("search.recency_weight", float, 0.1, "How much newer memories are preferred (0 = not at all)."),
    Option("search.recency_half_life_days", float, 30.0, "Age at which the recency boost halves."),
    Option("search.vector_index_min_rows", int, 50_000, "Build an ANN vector index once this many rows exist; below, search is exact."),
    # Security
    Option("security.kdf_target_seconds", float, 1.0, "Time the passphrase key derivation is tuned to take."),
    Option("security.kdf_memory_mib", int, 64, "Memory the passphrase key derivation uses (at least 64)."),
    Option("security.use_keyring", bool, False, "Unlock from the system keyring (whoever is logged in as you can then open Engram)."),
    Option("security.auto_lock_minutes", int, 15, "Lock after this many idle minutes (0 = never)."),
    # The store (not in the settings window)
    Option("store.writer_wait_seconds", float, 120.0, "How long a write waits for another Engram's write to "
           "finish before giving up (it says that it waits)."),
    # Capture
    Option("capture.enabled", bool, True, "Capture the screen while Engram is unlocked (asked at first run)."),
    Option("capture.interval_seconds", float, 3.0, "Seconds between screen grabs."),
    Option("capture.monitors", list, [], "Which monitors to capture, by number, one per line (1 = the first); "
           "empty = all of them."),
    Option("capture.quiet_hours", list, [], "Never capture at these times, one range per line, local time: "
           "18:00-08:00, Sat,Sun 00:00-24:00, Mon-Fri 12:00-13:00."),
    Option("capture.min_free_disk_mb", int, 1024, "Stop capturing below this much free disk space."),
    Option("capture.idle_after_seconds", float, 300.0, "Capture nothing after this long without keyboard or mouse input."),
    Option("capture.image_scale", float, 1.0, "Scale of stored screenshots (0.5 = half width and height)."),
    Option("capture.webp_quality", int, 60, "WebP quality of stored screenshots (1-100)."),
    Option("capture.moving_picture_seconds", float, 60.0, "While only a video or animation moves on screen, keep "
           "one frame this often (0 = every frame); anything changing beside it is kept at once."),
    Option("capture.excluded_apps", list, ["keepassxc", "keepass", "keepass2", "1password", "bitwarden", "enpass",
                                            "seahorse", "kwalletmanager5"],
           "Apps never captured (process names); their windows are blacked out when visible."),
    Option("capture.allow_without_window_info", bool, False,
           "Capture even where window titles can't be read (Wayland): exclusions then cannot work."),
    Option("capture.excluded_title_keywords", list, [], "Windows whose title contains one of these are never captured."),
    # Retention
    Option("retention.max_gb", float, 10.0, "Storage budget for captured frames, in GB."),
    Option("retention.max_age_days", int, 365, "Forget frames older than this many days (0 = never)."),
    Option("retention.text_only_after_days", int, 0, "Drop screenshots but keep their text after this many days (0 = never)."),
    # Model
    Option("model.gguf_path", str, "", "A GGUF model file to use instead of the packaged default."),
    Option("model.endpoint", str, "", "An OpenAI-compatible model server on this computer (llama-server, Ollama, "
           "LM Studio), e.g. http://127.0.0.1:11434/v1; used instead of the model file when set."),
    Option("model.endpoint_model", str, "", "Which of that server's models to use (empty: the first it lists)."),
    Option("model.context_tokens", int, 4096, "The model's context window (larger costs memory and time)."),
    Option("ask.use_small_model", bool, False, "Let a base (not instruction-tuned) model write answers too (it rarely "
           "cites its sources; answers are quoted when it does not)."),
    Option("ask.context_tokens", int, 1800, "How much evidence an answer may draw on, in tokens."),
    Option("desktop.start_at_login", bool, False, "Start Engram (locked) when you log in."),
    Option("desktop.hotkey", str, "Ctrl+Shift+Space", "The shortcut that opens the search box from anywhere."),
    # Memory agents
    Option("agents.user_names", list, [], "Your names as they appear in imported chats (their lines can become core memory)."),
    Option("agents.digest_every_seconds", float, 30.0, "How often new frames and messages are sorted into memories."),
    Option("agents.consolidate_at", str, "03:30", "When the nightly consolidation runs (local time, HH:MM)."),
)

_BY_NAME = {o.name: o for o in OPTIONS}


class Config:
    """Typed read access to settings, with defaults for anything unset."""

    def __init__(self, values: dict[str, Any] | None = None) -> None:
        self._values: dict[str, Any] = {}
        for name, value in (values or {}).items():
            self.set(name, value)

    @classmethod
    def load(cls, path: Path | None = None) -> "Config":
        path = path or paths.config_file()
        if not path.exists():
            return cls()
        try:
            raw = tomllib.loads(path.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            log.warning("config file %s is unreadable (%s); using defaults", path, exc)
            return cls()
        config = cls()
        for name, value in _flatten(raw).items():
            try:
                config.set(name, value)
            except (KeyError, TypeError) as exc:
                log.warning("ignoring setting %s: %s", name, exc)
        return config

    def save(self, path: Path | None = None) -> None:
        path = path or paths.config_file()
        paths.ensure(path.parent)
        sections: dict[str, list[str]] = {}
        for name, value in sorted(self._values.items()):
            section, key = name.split(".", 1)
            sections.setdefault(section, []).append(f"{key} = {_toml_value(value)}")
        text = "\n\n".join(f"[{s}]\n" + "\n".join(lines) for s, lines in sections.items())
        tmp = path.with_suffix(".tmp")
        with os.fdopen(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w", encoding="utf-8") as file:
            file.write(text + "\n")
        os.replace(tmp, path)

    def get(self, name: str) -> Any:
        option = _BY_NAME[name]
        return self._values.get(name, option.default)

    def set(self, name: str, value: Any) -> None:
        option = _BY_NAME.get(name)
        if option is None:
            raise KeyError(f"unknown setting {name!r}")
        if option.type is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if not isinstance(value, option.type) or isinstance(value, bool) != (option.type is bool):
            # The type only, never the value: this reaches the log, and a value may be a name or a path.
            raise TypeError(f"{name} must be {_a(option.type.__name__)}, not {_a(type(value).__name__)}")
        self._values[name] = value


def _a(noun: str) -> str:
    return f"{'an' if noun[0] in 'aeiou' else 'a'} {noun}"


def _flatten(raw: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in raw.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(_flatten(value, name + "."))
        else:
            flat[name] = value
    return flat


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return repr(value)
