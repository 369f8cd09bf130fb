"""`engram import FORMAT PATH`: bring a chat history in as messages (see agents.importers)."""
from __future__ import annotations

import argparse
import logging
import sys
from datetime import datetime, tzinfo
from pathlib import Path
from typing import Any

from agents.importers import FORMATS
from agents.importers.turns import MAX_MESSAGE_CHARACTERS

from app.cli.input import CliError

log = logging.getLogger(__name__)


def register(sub: Any) -> None:
    """Add the `import` subcommand to the `engram` subparsers."""
    p = sub.add_parser("import", help="import a chat history (ChatGPT, WhatsApp, Telegram, JSON Lines, LoCoMo)",
                       description="Import a chat history as messages. Importing the same file again adds\n"
                                   "only what is new; a file that cannot be read is not imported at all.",
                       epilog="formats:\n" + "\n".join(f"  {name:<9} {fmt.help}" for name, fmt in FORMATS.items()),
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("format", choices=list(FORMATS), metavar="FORMAT", help=f"one of: {', '.join(FORMATS)} (below)")
    p.add_argument("path", type=Path, metavar="PATH", help="the exported file")
    p.add_argument("--tz", metavar="ZONE", help="the time zone of exports that give wall-clock times (WhatsApp, "
                                                "LoCoMo, JSON Lines without an offset), like Europe/Berlin; "
                                                "default this computer's")
    p.add_argument("--no-digest", action="store_true",
                   help="only store the messages; sort them into memories later (`engram digest` or the app)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from agents.importers import ImportFailed, import_file
    from app.cli.agents import describe_digest, run_digest
    from app.agent_service import build_digester
    from app.cli.memories import _open_store
    from app.cli.progress import ProgressBar

    zone = _zone(args.tz)
    store = _open_store()
    bar = ProgressBar("Importing") if sys.stderr.isatty() else None
    try:
        summary = import_file(store, args.format, args.path.expanduser(), progress=bar, tz=zone)
    except ImportFailed as exc:
        raise CliError(str(exc)) from None
    finally:
        if bar is not None:
            bar.close()
    log.info("import %s: %d new, %d already present", args.format, summary.new, summary.already_present)
    print(f"Imported {_count(summary.new, 'new message')} from {_count(summary.conversations, 'conversation')} "
          f"({_day(summary.first)} … {_day(summary.last)}); {summary.already_present:,} already present.")
    if summary.shortened:
        print(f"{_count(summary.shortened, 'message')} longer than {MAX_MESSAGE_CHARACTERS:,} characters "
              f"{'was' if summary.shortened == 1 else 'were'} cut there (marked at the cut).")
    if not args.no_digest:
        print(describe_digest(run_digest(build_digester(store))))
    return 0


def _zone(name: str | None) -> tzinfo | None:
    if not name:
        return None
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise CliError(f"unknown time zone {name!r}: give a name like Europe/Berlin or America/New_York") from None


def _count(n: int, noun: str) -> str:
    return f"{n:,} {noun}{'' if n == 1 else 's'}"


def _day(moment: datetime) -> str:
    return moment.astimezone().strftime("%Y-%m-%d")
