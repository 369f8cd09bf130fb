"""`engram digest`, `consolidate`, `export` and `model`: the memory agents and the store as a whole."""
from __future__ import annotations

import argparse
import sys
from typing import Any

from app.cli.input import CliError, config


def register(sub: Any) -> None:
    p = sub.add_parser("digest", help="sort new frames and messages into memories now (the app does it by itself)")
    p.set_defaults(func=digest)
    p = sub.add_parser("consolidate", help="merge near-duplicate facts and link related memories now "
                                           "(the app does it nightly)")
    p.set_defaults(func=consolidate)
    p = sub.add_parser("export", help="write everything (still encrypted) to one archive, as a backup")
    p.add_argument("path", help="where to write the .tar.gz")
    p.set_defaults(func=export)
    p = sub.add_parser("model", help="show which language model is active and what it is trusted with; "
                                     "'engram model use FILE.gguf' (or 'built-in', or a model server on this "
                                     "computer: http://127.0.0.1:PORT/v1) chooses one; 'engram model list' shows "
                                     "the models Engram can fetch, 'engram model pull NAME' fetches one and uses it")
    p.add_argument("action", nargs="?", choices=["use", "list", "pull"],
                   help="use: make FILE the model (checked by loading it); list: the catalogue; pull: download NAME "
                        "from the catalogue (resumable, checked by SHA-256), then use it")
    p.add_argument("file", nargs="?", help="a GGUF file, 'built-in' for the model Engram ships with, or the address "
                                           "of an OpenAI-compatible server on this computer (llama-server, Ollama, "
                                           "LM Studio); with pull: a name from 'engram model list'")
    p.add_argument("--keep-current", action="store_true", help="with pull: download only, keep the model in use")
    p.add_argument("--name", default="", help="with a server: which of its models (default: the first it lists)")
    p.add_argument("--test", action="store_true", help="load it and run one structured call")
    p.set_defaults(func=model)


def digest(args: argparse.Namespace) -> int:
    from app.agent_service import build_digester
    from app.cli.memories import _open_store

    store = _open_store()
    summary = run_digest(build_digester(store))
    print(describe_digest(summary))
    return 0


def run_digest(digester: Any) -> Any:
    from app.cli.progress import ProgressBar

    bar = ProgressBar("Sorting into memories") if sys.stderr.isatty() else None
    try:
        return digester.run(progress=bar)
    finally:
        if bar is not None:
            bar.close()


def describe_digest(summary: Any) -> str:
    if not summary.observations:
        return "Nothing new to sort into memories."
    made = ", ".join(f"{summary.made(kind)} {kind}" for kind in
                     ("core", "episodic", "semantic", "procedural", "resource", "vault") if summary.made(kind))
    return f"Sorted {summary.describe_sources()} into memories: {made or 'nothing new to remember'}."


def consolidate(args: argparse.Namespace) -> int:
    from agents.consolidate import Consolidator
    from app.cli.memories import _open_store

    print(f"Consolidated: {Consolidator(_open_store()).run()}.")
    return 0


def export(args: argparse.Namespace) -> int:
    from pathlib import Path

    from app.archive import export_archive
    from app.cli.memories import _open_store

    try:
        written = export_archive(_open_store(), Path(args.path))
    except ValueError as exc:
        raise CliError(str(exc)) from None
    print(f"Exported to {written} ({written.stat().st_size / 1e6:,.1f} MB). It opens only with your passphrase "
          "or recovery key: unpack it as the data folder (ENGRAM_HOME) of any Engram.")
    return 0


def model(args: argparse.Namespace) -> int:
    from agents.llm import ModelError, route_with_llm
    from agents.llm_choice import configured_llm

    cfg = config()
    if args.action == "use":
        return use_model(cfg, args.file, args.name)
    if args.action == "list":
        return list_models(cfg)
    if args.action == "pull":
        return pull_model(cfg, args.file, args.keep_current)
    llm = configured_llm(cfg)
    try:
        info = llm.load()
        print(f"Model: {info.describe()}")
        if not info.served_at:
            print(f"File:  {info.path}")
        if info.tier == "small":
            print("Memories are sorted by the deterministic extractors and the meaning router"
                  + ("; Ask's answers are written by this model, cited and checked against their sources."
                     if info.writes else "; Ask's answers are quoted from your memories (a base model does not write).")
                  + "\nFor better answers: engram model pull qwen2.5-coder-1.5b; for summaries too, a 1.5-4B instruct "
                    "GGUF that passes the self-test (engram model use FILE.gguf).")
        if args.test:
            print(f"Test: 'My passport number is X1234567' -> {route_with_llm(llm, 'My passport number is X1234567')}")
    except ModelError as exc:
        raise CliError(str(exc)) from None
    finally:
        llm.close()
    return 0


def use_model(cfg: Any, file: str | None, name: str = "") -> int:
    """Load the file (or ask the server) once: one that does not work is refused and the settings left as they
    were; then save it."""
    from pathlib import Path

    from agents.llm import LocalLLM, ModelError
    from agents.llm_endpoint import EndpointLLM

    if not file:
        raise CliError("say which model: engram model use FILE.gguf (or: engram model use built-in, or the "
                       "address of a model server on this computer)")
    served = file.startswith(("http://", "https://"))
    configured = "" if file == "built-in" or served else str(Path(file).expanduser().resolve())
    try:
        llm: Any = EndpointLLM(file, name, context_tokens=cfg.get("model.context_tokens")) if served else \
            LocalLLM(configured=configured, context_tokens=cfg.get("model.context_tokens"))
        try:
            info = llm.load()
        finally:
            llm.close()
    except ModelError as exc:
        raise CliError(f"{exc}; the model in use is unchanged") from None
    if served:
        cfg.set("model.endpoint", llm.url)
        cfg.set("model.endpoint_model", info.name)
    else:
        cfg.set("model.gguf_path", configured)
        cfg.set("model.endpoint", "")
        cfg.set("model.endpoint_model", "")
    cfg.save()
    print(f"Now using {info.describe()}")
    print("Ask writes its answers with it." if info.writes else
          "It is a base model: Ask will quote your memories instead of writing answers.")
    return 0


def list_models(cfg: Any) -> int:
    from agents.llm import PACKAGED_MODEL
    from agents.model_catalogue import CATALOGUE, pulled
    from storage import paths

    in_use = "" if cfg.get("model.endpoint") else (cfg.get("model.gguf_path") or str(paths.model_dir() / PACKAGED_MODEL))
    for entry in CATALOGUE:
        path = pulled(entry)
        state = ("in use" if path and str(path) == in_use else "downloaded") if path else \
            f"{entry.download_size / 1e6:,.0f} MB to download"
        print(f"{entry.name:<22} {entry.title}")
        print(f"{'':<22} {entry.parameters} parameters, {entry.size / 1e6:,.0f} MB file, needs ~{entry.ram_mb:,} MB "
              f"of memory; {entry.licence}; {state}")
        print(f"{'':<22} from {entry.source}")
    print("\nengram model pull NAME downloads one (checked by its SHA-256; run it again to go on after a break) "
          "and uses it.")
    return 0


def pull_model(cfg: Any, name: str | None, keep_current: bool) -> int:
    """Download NAME, check it, then choose it as `use_model` does (loading it once first)."""
    from agents.llm import ModelError
    from agents.model_catalogue import find, pull
    from app.cli.progress import ProgressBar

    if not name:
        raise CliError("say which model: engram model pull NAME (engram model list shows them)")
    try:
        entry = find(name)
        print(f"Downloading {entry.title}: {entry.download_size / 1e6:,.0f} MB from {entry.source}.")
        bar = ProgressBar("Downloading (MB)") if sys.stderr.isatty() else None
        try:
            path = pull(entry, progress=(lambda done, total: bar(done >> 20, total >> 20)) if bar else None)
        finally:
            if bar is not None:
                bar.close()
    except ModelError as exc:
        raise CliError(str(exc)) from None
    except KeyboardInterrupt:
        raise CliError("stopped; what was downloaded is kept, and 'engram model pull' goes on from there") from None
    print(f"Checked and saved as {path}.")
    if keep_current:
        print(f"The model in use is unchanged; 'engram model use {path}' chooses this one.")
        return 0
    return use_model(cfg, str(path))
