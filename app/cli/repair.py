"""`engram repair`: find damaged store files, say what saving the rest costs, ask, and repair (storage/repair.py)."""
from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime
from typing import Any

from storage import paths

from app.cli.input import CliError, ask_passphrase, config


def register(sub: Any) -> None:
    p = sub.add_parser("repair", help="check the store's files; save what a damaged one leaves readable")
    p.add_argument("--yes", action="store_true", help="repair without asking (what is lost is still said first)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from storage.repair import diagnose, repair

    if not paths.key_file().exists():
        raise CliError(f"no store at {paths.home()}: nothing to repair")
    passphrase = _owner_passphrase()
    store_dir = paths.store_dir()
    print("Reading every file of the store (a while for a big one)...", file=sys.stderr, flush=True)
    found = diagnose(store_dir)
    if not found.damaged:
        pictures = _say_damaged_pictures(passphrase)
        print(f"No damage found in the store's tables and indexes; {pictures} screen picture(s) damaged or "
              "missing, above."
              if pictures else "No damage found in the store's files.")
        _say_rows_changed(args, passphrase)
        return 0
    print("\n".join(found.lines()))
    if found.unusable:
        return 1
    aside = paths.home() / "damaged" / datetime.now().strftime("%Y%m%d-%H%M%S")
    _confirm(args, f"Repair now? What is taken out is kept in {aside}, not deleted.")
    done, had_vector = repair(store_dir, found, aside, config().get("store.writer_wait_seconds"))
    from storage.store import MemoryStore

    store = MemoryStore.open(passphrase)
    try:
        built = store.rebuild_indexes(had_vector)
        store.accept_rows()  # the rows the repair took out are not "changed outside Engram"
    finally:
        store.close()
    print("\n".join([*done, f"built the search indexes again ({', '.join(built) or 'none needed'})",
                     f"Repaired. A note of what was done is in {aside / 'REPAIR.txt'}."]))
    _say_damaged_pictures(passphrase)
    return 0


def _say_rows_changed(args: argparse.Namespace, passphrase: str) -> bool:
    """Whether the stored rows are those Engram wrote (storage/ledger.py); if not, say how not and offer to
    take the store as it is. Returns whether rows had changed."""
    from storage.store import MemoryStore

    store = MemoryStore.open(passphrase)
    try:
        check = store.check_rows()
        if check.ok:
            print(f"The {check.rows} stored rows are the ones Engram wrote.")
            return False
        print("The stored rows are not the ones Engram wrote (a file put back from a backup, a disk tool, or "
              "someone editing the store without your passphrase):")
        print("\n".join("  " + line for line in check.lines()))
        print("Engram cannot tell which rows, nor put them back; a copy made by `engram export` before this can.")
        _confirm(args, "Take the store as it is now? Nothing in it changes; Engram stops reporting this.")
        print(f"Taken as it is now: {store.accept_rows()} rows.")
        return True
    finally:
        store.close()


def _say_damaged_pictures(passphrase: str) -> int:
    """Screens whose picture file fails its check or is gone, one line each (their text is kept; nothing is
    changed)."""
    from storage.repair import damaged_pictures
    from storage.store import MemoryStore

    store = MemoryStore.open(passphrase)
    try:
        bad = damaged_pictures(store)
    finally:
        store.close()
    for frame_id, how in bad.items():
        print(f"this screen's picture is {how}: frame {frame_id} (its text is kept; `engram frame {frame_id}` "
              "says the same)")
    return len(bad)


def _owner_passphrase() -> str:
    """Only whoever holds the passphrase repairs: the key must open and belong to this store."""
    from storage import binding
    from storage.keys import KeyVault

    passphrase = ask_passphrase()
    vault = KeyVault.load(paths.key_file())
    vault.unlock_with_either(passphrase)
    meta_file = paths.store_dir() / "engram-store.json"
    try:
        meta = json.loads(meta_file.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        meta = {}
    if isinstance(meta, dict) and binding.is_bound(meta):
        binding.check(meta, vault)
    vault.lock()
    return passphrase


def _confirm(args: argparse.Namespace, question: str) -> None:
    if args.yes:
        return
    if not sys.stdin.isatty():
        raise CliError("repairing changes the store: run `engram repair --yes` to go ahead (nothing was changed)")
    if input(f"{question} [y/N] ").strip().lower() not in ("y", "yes"):
        raise CliError("nothing was changed")
