"""`engram autofill`: values for a form's fields from core memory and the vault (after unlock)."""
from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from app.cli.input import CliError


def register(sub: Any) -> None:
    p = sub.add_parser("autofill", help="fill a form's fields from what Engram knows about you",
                       description="Values come from your core memory and the vault; an unknown field gets "
                                   "nothing rather than a guess. Values are printed, never logged.")
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--fields", help='comma-separated labels, e.g. "First name,E-mail,IBAN"')
    source.add_argument("--form", type=Path, help="an HTML file: its inputs' labels are read")
    p.add_argument("--json", action="store_true", help="a JSON object: field -> {value, confidence, alternatives}")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from agents.autofill import fill
    from agents.form_reader import read_form
    from agents.managers.core import CoreManager
    from app.cli.memories import _open_store

    if args.form is not None:
        try:
            fields = read_form(args.form.expanduser().read_text(encoding="utf-8", errors="replace"))
        except OSError as exc:
            raise CliError(f"cannot read {args.form}: {exc.strerror}") from None
        if not fields:
            raise CliError(f"{args.form} has no form fields to fill")
        keys, labels = [f.key for f in fields], [f.label for f in fields]
    else:
        labels = [label.strip() for label in args.fields.split(",") if label.strip()]
        if not labels:
            raise CliError("give at least one field label")
        keys = labels
    store = _open_store()
    results = fill(labels, store.get(CoreManager.memory_id), store.list_range(kinds=["vault"], limit=100_000))
    if args.json:
        print(json.dumps({key: {"label": r.label, "field": r.field, "value": r.value,
                                "confidence": r.confidence, "alternatives": r.alternatives}
                          for key, r in zip(keys, results)}, indent=2, ensure_ascii=False))
        return 0
    width = max(len(label) for label in labels)
    for r in results:
        shown = r.value if r.value is not None else ("(not known)" if r.field else "(field not understood)")
        extra = f"   also: {', '.join(r.alternatives)}" if r.alternatives else ""
        print(f"{r.label:<{width}}  {shown}{extra}")
    return 0
