"""`engram ask "..."`: an answer from your memories, with its sources."""
from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from app.cli.input import config


def register(sub: Any) -> None:
    p = sub.add_parser("ask", help="ask about your past; the answer cites the memories it comes from")
    p.add_argument("question", help='e.g. "where did I put the router password" or "what did I do yesterday"')
    p.add_argument("--json", action="store_true", help="the answer, its mode and its sources as JSON")
    p.set_defaults(func=run)


def build_asker(store: Any, cfg: Any = None) -> Any:
    """The chosen model (a local server's, a GGUF, or the built-in one), loaded at the first question (a base
    model only quotes)."""
    from agents.ask import Asker
    from agents.llm_choice import configured_llm

    cfg = cfg or config()
    llm = configured_llm(cfg)
    return Asker(store, llm, use_small_model=cfg.get("ask.use_small_model"),
                 context_tokens=cfg.get("ask.context_tokens"))


def run(args: argparse.Namespace) -> int:
    from app.cli.memories import _open_store

    store = _open_store()
    asker = build_asker(store)
    streamed = not args.json and sys.stdout.isatty()
    try:
        answer = asker.ask(args.question, on_text=_print_piece if streamed else None,
                           on_reading=_say_reading if streamed else None)
    finally:
        if asker.llm is not None:
            asker.llm.close()
    if args.json:
        print(json.dumps({"question": answer.question, "answer": answer.text, "mode": answer.mode, "note": answer.note,
                          "context_tokens": answer.context_tokens,
                          "sources": [{"key": s.key, "id": s.memory_id, "kind": s.kind, "time": s.time.isoformat(),
                                       "app": s.app, "title": s.title, "frame_id": s.frame_id, "text": s.text}
                                      for s in answer.sources]}, indent=2, ensure_ascii=False))
        return 0
    if streamed:
        print()
    else:
        print(f"{answer.text}\n({answer.note})" if answer.note else answer.text)
    if answer.mode == "extractive" and not answer.note:
        print("(quoted from your memories)", file=sys.stderr)
    for source in answer.sources:
        where = " · ".join(p for p in (source.time.astimezone().strftime("%Y-%m-%d %H:%M"), source.app, source.kind) if p)
        print(f"  [{source.key}] {where}  {source.memory_id}\n       {source.excerpt()}")
    return 0


def _print_piece(piece: str) -> None:
    sys.stdout.write(piece)
    sys.stdout.flush()


def _say_reading(notes: list[Any]) -> None:
    """Before the model's first words (reading its notes takes seconds): what it is reading."""
    print(f"(reading {len(notes)} note{'s' if len(notes) != 1 else ''} from your memories…)", file=sys.stderr,
          flush=True)
