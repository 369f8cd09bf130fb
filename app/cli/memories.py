"""What each `engram` subcommand does (the argument parsing is in app.cli)."""
from __future__ import annotations

import argparse
import getpass
import json
import os
import re
import sys
from dataclasses import asdict
from typing import Any

from storage import paths
from storage.keys import KeyVault
from storage.memory import KINDS, Memory
from storage.search import SearchOptions

from app.cli.input import CliError, ask_passphrase, check_new_passphrase, config, memory_from_json, parse_when


def _open_store() -> Any:
    from storage.store import MemoryStore

    if not paths.key_file().exists():
        raise CliError(f"no store at {paths.home()}: create one with `engram init`")
    return MemoryStore.open(ask_passphrase())


def init(args: argparse.Namespace) -> int:
    from storage.store import MemoryStore

    if paths.key_file().exists():
        raise CliError(f"a store already exists at {paths.home()}; nothing was changed")
    passphrase = check_new_passphrase(ask_passphrase("New passphrase: "), "nothing was created")
    if not os.environ.get("ENGRAM_PASSPHRASE") and getpass.getpass("Repeat it: ") != passphrase:
        raise CliError("the two passphrases differ; nothing was created")
    print("Deriving the key (about a second)...", file=sys.stderr)
    store, recovery_key = MemoryStore.create(passphrase, kdf_seconds=config().get("security.kdf_target_seconds"))
    store.close()
    print(f"Created an encrypted store at {paths.home()}")
    print("\nRecovery key (shown only now; write it down and keep it apart from this computer):\n")
    print(f"    {recovery_key}\n")
    print("It opens your store if you forget the passphrase: `engram passwd --recovery-key`.")
    return 0


def add(args: argparse.Namespace) -> int:
    from agents.secrets import keep_secrets

    memories = _memories_from_args(args)
    store = _open_store()
    # Whatever is given here (a screen, a line, a fact typed by hand, a vault entry's caption) has its secrets
    # masked before it is first written, as capture and import do (later masking would leave them in old
    # versions and in the keyword index), and kept, sealed, in the vault. Only the ids given are printed, not
    # the vault entries filed on the way.
    filed = keep_secrets(store, memories)[len(memories):]
    ids = store.add([*memories, *filed])[:len(memories)]
    for memory_id in ids:
        print(memory_id)
    return 0


def _memories_from_args(args: argparse.Namespace) -> list[Memory]:
    if args.json_input:
        raw_text = sys.stdin.read() if args.json_input == "-" else _read_text(args.json_input)
        try:
            document = json.loads(raw_text)
        except json.JSONDecodeError as exc:
            raise CliError(f"the JSON input is not valid JSON ({exc}); nothing was stored") from None
        except RecursionError:
            raise CliError("the JSON input is nested too deeply; nothing was stored") from None
        items = document if isinstance(document, list) else [document]
        if not all(isinstance(item, dict) for item in items):
            raise CliError("the JSON input must be an object or a list of objects, one per memory; nothing was stored")
        return [memory_from_json({"kind": args.kind, **item}) for item in items]
    text = sys.stdin.read().strip() if args.text == "-" else args.text
    if not text:
        raise CliError(f"what should be remembered? give the {KINDS[args.kind].text_field} as text")
    fields: dict[str, Any] = {}
    for pair in args.field:
        name, sep, value = pair.partition("=")
        if not sep:
            raise CliError(f"--field takes NAME=VALUE, got {pair!r}")
        fields[name] = value.split(";") if name == "steps" else value
    raw: dict[str, Any] = {"kind": args.kind, "text": text, "fields": fields, "app": args.app,
                           "title": args.title, "tags": args.tag}
    if args.time:
        raw["time"] = args.time
    if args.ended:
        raw["ended"] = args.ended
    if args.kind == "vault":
        raw["secret_value"] = _read_secret(args)
    return [memory_from_json(raw)]


def _read_text(path: str) -> str:
    try:
        with open(path, encoding="utf-8") as file:
            return file.read()
    except OSError as exc:
        raise CliError(f"cannot read {path} ({exc.strerror or type(exc).__name__}); nothing was stored") from None
    except UnicodeDecodeError:
        raise CliError(f"{path} is not UTF-8 text; nothing was stored") from None


def _read_secret(args: argparse.Namespace) -> str:
    if args.secret_stdin:
        return sys.stdin.readline().rstrip("\n")
    if not sys.stdin.isatty():
        raise CliError("vault entries need a secret value: pass --secret-stdin and pipe it in")
    return getpass.getpass("Secret value (hidden): ")


def search(args: argparse.Namespace) -> int:
    cfg = config()
    options = SearchOptions(
        kinds=[t.strip() for t in args.types.split(",")] if args.types else None,
        since=parse_when(args.since), until=parse_when(args.until, end=True), app=args.app,
        k=args.k or cfg.get("search.default_k"), mode=args.mode,
        keyword_weight=cfg.get("search.keyword_weight"), vector_weight=cfg.get("search.vector_weight"),
        recency_weight=cfg.get("search.recency_weight"),
        recency_half_life_days=cfg.get("search.recency_half_life_days"),
    )
    result = _open_store().search(args.query, options)
    if args.json:
        print(json.dumps({
            "query": result.query_text, "time_phrase": result.time_phrase, "time_ignored": result.time_ignored,
            "since": _iso(result.since), "until": _iso(result.until),
            "hits": [{**asdict(h), "time": _iso(h.time)} for h in result.hits],
        }, ensure_ascii=False, indent=2))
        return 0
    if result.time_phrase:
        print(f"({result.time_phrase}: {_local(result.since)} to {_local(result.until)})")
    if result.time_ignored:
        print("(nothing from that time: these match all of your words, at any time)")
    if not result.hits:
        print("Nothing found.")
    for hit in result.hits:
        where = f" · {hit.app}" if hit.app else ""
        damaged = "  [damaged: failed its integrity check]" if hit.damaged else ""
        print(f"{hit.id}  {hit.kind:<10} {_local(hit.time)}{where}{damaged}\n    {_highlight(hit.snippet, hit.matched)}")
    return 0


def show(args: argparse.Namespace) -> int:
    memory = _open_store().get(args.id)
    if memory is None:
        raise CliError(f"no memory with id {args.id}")
    secret = memory.secret if args.reveal else ("••••••" if memory.secret else None)
    data = {"id": memory.id, "kind": memory.kind, KINDS[memory.kind].text_field: memory.text, **memory.fields,
            "time": _iso(memory.time), "ended": _iso(memory.ended), "app": memory.app, "title": memory.title,
            "trust": memory.trust.name.lower(), "source_kind": memory.source_kind, "source_ids": memory.source_ids,
            "tags": memory.tags, "created": _iso(memory.created), "updated": _iso(memory.updated),
            "history": memory.history}
    if memory.kind == "vault":
        data["secret_value"] = secret
    if memory.damaged:
        data["damaged"] = list(memory.damaged)
    if args.json:
        print(json.dumps(data, ensure_ascii=False, indent=2))
    else:
        for key, value in data.items():
            if value not in (None, "", [], {}):
                print(f"{key:>12}: {value}")
    return 0


def delete(args: argparse.Namespace) -> int:
    from agents.forget import forget, forget_range

    if not args.ids and not args.range:
        raise CliError("say what to forget: one or more ids, or --range SINCE UNTIL")
    store = _open_store()
    if args.range:
        since, until = parse_when(args.range[0]), parse_when(args.range[1], end=True)
        assert since is not None and until is not None
        kinds = [t.strip() for t in args.types.split(",")] if args.types else None
        what = f"everything{' of type ' + ','.join(kinds) if kinds else ''} from {_local(since)} to {_local(until)}"
        _confirm(args, f"Forget {what}? This cannot be undone.")
        forgotten = forget_range(store, since, until, kinds)
    else:
        _confirm(args, f"Forget {len(args.ids)} memor{'y' if len(args.ids) == 1 else 'ies'}? This cannot be undone.")
        forgotten = forget(store, args.ids)
    removed = forgotten.sources + forgotten.derived
    print(f"Forgot {removed} memor{'y' if removed == 1 else 'ies'}"
          f"{f' ({forgotten.derived} made only from them)' if forgotten.derived else ''}."
          + (f" {forgotten.trimmed} other memor{'y' if forgotten.trimmed == 1 else 'ies'} no longer name them as a source."
             if forgotten.trimmed else ""))
    if removed:
        print(_erased(store), flush=True)
    return 0


def _erased(store: Any) -> str:
    """Erase what was just forgotten from disk before the command ends: the Engram app may not be running
    to do it in its hourly upkeep (storage/upkeep.py)."""
    from storage.locking import WriterBusy
    from storage.upkeep import erase_now, pending_erase

    if not pending_erase(store):
        return "Erased from disk."
    print("Erasing it from disk…", flush=True)
    try:
        report = erase_now(store)
    except WriterBusy:
        return "Not yet erased from disk (the store is busy): the running Engram app's hourly upkeep erases it."
    return "Erased from disk." if report.erased else \
        "Not all of it is erased from disk yet (the store was busy): the Engram app's hourly upkeep erases the rest."


def _confirm(args: argparse.Namespace, question: str) -> None:
    if args.yes:
        return
    if not sys.stdin.isatty():
        raise CliError("refusing to delete without confirmation: add --yes")
    if input(f"{question} [y/N] ").strip().lower() not in ("y", "yes"):
        raise CliError("nothing was deleted")


def stats(args: argparse.Namespace) -> int:
    store = _open_store()
    info = store.stats()
    if args.json:
        print(json.dumps(asdict(info), indent=2))
        return 0
    print(f"Store: {paths.home()}")
    print(f"Memories: {info.rows}")
    for kind, count in info.by_kind.items():
        print(f"  {kind:<11}{count}")
    print(f"On disk: {info.bytes_on_disk / 1e6:.1f} MB in {info.versions} version(s); indexes: {', '.join(info.indexes) or 'none yet'}")
    return 0


def passwd(args: argparse.Namespace) -> int:
    vault = KeyVault.load(paths.key_file())
    if args.recovery_key:
        vault.unlock_with_recovery_key(getpass.getpass("Recovery key: ") if sys.stdin.isatty() else sys.stdin.readline())
    else:
        vault.unlock(ask_passphrase("Current passphrase: "))
    new = getpass.getpass("New passphrase: ") if sys.stdin.isatty() else sys.stdin.readline().rstrip("\n")
    check_new_passphrase(new, "nothing was changed")
    if sys.stdin.isatty() and getpass.getpass("Repeat it: ") != new:
        raise CliError("the two passphrases differ; nothing was changed")
    vault.change_passphrase(new, target_seconds=config().get("security.kdf_target_seconds"))
    vault.lock()
    print("Passphrase changed. Your recovery key still works.")
    return 0


def reindex(args: argparse.Namespace) -> int:
    store = _open_store()
    built = store.build_indexes()
    print(f"Indexes up to date{': built ' + ', '.join(built) if built else ''}.")
    return 0


def _highlight(snippet: str, matched: list[str]) -> str:
    """Bold the matched words, on a terminal only (pipes and files get plain text)."""
    if not matched or not sys.stdout.isatty():
        return snippet
    pattern = re.compile(r"\b(" + "|".join(re.escape(w) for w in matched) + r")\b")
    return pattern.sub("\033[1m\\1\033[0m", snippet)


def _iso(moment: Any) -> str | None:
    return moment.isoformat() if moment else None


def _local(moment: Any) -> str:
    return moment.astimezone().strftime("%Y-%m-%d %H:%M") if moment else "?"
