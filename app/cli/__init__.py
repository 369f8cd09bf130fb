"""The `engram` command line.

Every command that reads or writes memories asks for the passphrase (hidden
prompt) or takes it from ENGRAM_PASSPHRASE for scripts; it is never echoed,
logged or accepted as an argument, where it would land in shell history.
"""
from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence

from storage import paths
from storage.keys import KeyFileError, VaultError
from storage.memory import KINDS

from app.cli.input import CliError

log = logging.getLogger("engram")


def main(argv: Sequence[str] | None = None) -> int:
    # LanceDB's own log lines (a damaged index's "Failed to read full text search configuration ...", its
    # deprecations) would print raw under Engram's words, which say what matters; set either to see them.
    os.environ.setdefault("LANCE_LOG", "error")
    os.environ.setdefault("LANCEDB_LOG", "error")
    parser = _parser()
    args = parser.parse_args(argv)
    paths.keep_private()  # the log, the store, exports: nothing Engram writes is for other users
    if args.command is None:
        return _welcome(parser)
    log_handler = _open_log()
    try:
        log.info("command %s", args.command)
        return int(args.func(args) or 0)
    except (CliError, VaultError, KeyFileError, ValueError) as exc:
        print(f"engram: {_damage_message(exc) or exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\nengram: interrupted; nothing half-written was kept", file=sys.stderr)
        return 130
    except Exception as exc:  # the store's own errors, disk full, ...
        from storage.locking import WriterBusy
        from storage.store import StoreError

        damage = _damage_message(exc)
        if damage or isinstance(exc, (StoreError, WriterBusy, OSError)):
            print(f"engram: {damage or exc}", file=sys.stderr)
            return 1
        # Type only: an exception message may quote captured text, and logs must not hold any.
        log.error("unexpected %s in %s", type(exc).__name__, args.command)
        raise
    except BaseException as exc:  # a Rust panic inside LanceDB is no Exception
        damage = _damage_message(exc)
        if not damage:
            raise
        print(f"engram: {damage}", file=sys.stderr)
        return 1
    finally:
        _close_log(log_handler)


def _damage_message(exc: BaseException) -> str:
    """What to say when a store file could not be read ('' for any other error)."""
    from storage.repair import damage_message, is_damage

    if not is_damage(exc):
        return ""
    log.error("damaged store file in %s", type(exc).__name__)  # the type only: no path, no content
    return damage_message(exc)


def _parser() -> argparse.ArgumentParser:
    from app.cli import agents, ask, autofill, capture, imports, memories, repair

    parser = argparse.ArgumentParser(prog="engram", description="Engram: a private memory of your desktop.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("init", help="create a new encrypted store")
    p.set_defaults(func=memories.init)

    p = sub.add_parser("add", help="remember something (any of the six kinds, a frame or a message)")
    p.add_argument("kind", choices=list(KINDS), help="; ".join(f"{k}: {v.help}" for k, v in KINDS.items()))
    p.add_argument("text", nargs="?", help="the main text (summary, caption, ...); '-' reads stdin")
    p.add_argument("--field", action="append", default=[], metavar="NAME=VALUE", help="a kind-specific field")
    p.add_argument("--json", dest="json_input", metavar="FILE", help="memories as JSON (object or list; '-' = stdin)")
    p.add_argument("--time", help="when it happened (ISO date/time, local zone); default now")
    p.add_argument("--until", dest="ended", help="when it ended (episodes)")
    p.add_argument("--app", default="", help="the app it was seen in")
    p.add_argument("--title", default="", help="the window or document title")
    p.add_argument("--tag", action="append", default=[], help="a tag (repeatable)")
    p.add_argument("--secret-stdin", action="store_true", help="vault: read the secret value from stdin")
    p.set_defaults(func=memories.add)

    p = sub.add_parser("search", help="find memories by meaning and keywords")
    p.add_argument("query", help="what to look for; time words like 'yesterday' become a filter")
    p.add_argument("--type", dest="types", help="comma-separated kinds: " + ",".join(KINDS))
    p.add_argument("--since", help="ISO date/time or words ('last week')")
    p.add_argument("--until", help="ISO date/time or words")
    p.add_argument("--app", help="only what was seen in this app")
    p.add_argument("-k", type=int, default=None, help="how many results (default 10)")
    p.add_argument("--mode", choices=("hybrid", "keyword", "vector"), default="hybrid")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=memories.search)

    p = sub.add_parser("show", help="show one memory in full")
    p.add_argument("id")
    p.add_argument("--reveal", action="store_true", help="show a vault entry's secret value")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=memories.show)

    p = sub.add_parser("delete", help="forget memories for good (physically removed from disk)")
    p.add_argument("ids", nargs="*", help="ids to forget")
    p.add_argument("--range", nargs=2, metavar=("SINCE", "UNTIL"), help="forget everything in this time range")
    p.add_argument("--type", dest="types", help="with --range: only these kinds")
    p.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    p.set_defaults(func=memories.delete)

    p = sub.add_parser("stats", help="what the store holds and its size on disk")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=memories.stats)

    p = sub.add_parser("passwd", help="change the passphrase (or reset it with the recovery key)")
    p.add_argument("--recovery-key", action="store_true", help="unlock with the recovery key instead")
    p.set_defaults(func=memories.passwd)

    capture.add_parsers(sub)
    imports.register(sub)
    agents.register(sub)
    autofill.register(sub)
    ask.register(sub)
    from app.mcp import commands as mcp_commands

    mcp_commands.register(sub)
    from app import doctor

    doctor.register(sub)

    p = sub.add_parser("recall", help="open the search box of the running Engram (bind this to a shortcut)")
    p.set_defaults(func=_recall)

    p = sub.add_parser("reindex", help="build search indexes now (normally automatic)")
    p.set_defaults(func=memories.reindex)
    repair.register(sub)
    return parser


def _recall(_args: argparse.Namespace) -> int:
    from app.desktop.main import recall

    return recall()


def _welcome(parser: argparse.ArgumentParser) -> int:
    """No command: start the desktop app where there is a screen, else explain the commands."""
    import os

    if os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY") or sys.platform in ("win32", "darwin"):
        from app.desktop.main import run

        log_handler = _open_log()  # the desktop app logs where the commands do
        try:
            return run()
        finally:
            _close_log(log_handler)
    if not paths.key_file().exists():
        print("Welcome to Engram. No store yet at", paths.home())
        print("Create one with:  engram init\n")
    print("(No display found: the desktop app needs one. The commands below work anywhere.)\n")
    parser.print_help()
    return 0


def _open_log() -> logging.Handler | None:
    """Events and errors only; never content. The log lives beside the data it describes."""
    try:
        handler = logging.FileHandler(paths.ensure(paths.log_dir()) / "engram.log", encoding="utf-8")
    except OSError:
        return None  # a read-only or full disk must not stop a search
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    return handler


def _close_log(handler: logging.Handler | None) -> None:
    if handler is not None:
        logging.getLogger().removeHandler(handler)
        handler.close()

