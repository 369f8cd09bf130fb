"""`engram mcp ...`: serve MCP, and register, list and revoke the clients that may use it."""
from __future__ import annotations

import argparse
import json
from typing import Any

from app.cli.input import CliError


def register(sub: Any) -> None:
    p = sub.add_parser("mcp", help="let AI agents (Claude Desktop, Cursor, ...) use Engram over MCP",
                       description="Serve MCP over stdio (for a client that launches `engram mcp`) or, with --http, "
                                   "over streamable HTTP on 127.0.0.1. The running Engram app answers every call; "
                                   "while it is locked every call answers 'Engram is locked'.")
    p.add_argument("--http", action="store_true", help="serve streamable HTTP on 127.0.0.1 (bearer tokens)")
    p.add_argument("--port", type=int, default=8765, help="the HTTP port (default 8765)")
    p.set_defaults(func=serve)
    actions = p.add_subparsers(dest="mcp_command", metavar="ACTION")

    a = actions.add_parser("add-client", help="register a client; prints its token once")
    a.add_argument("name", help="what to call it (shown in Settings and the audit), e.g. claude-desktop")
    a.add_argument("--scopes", default="read", help="read, write, images (comma-separated; default read)")
    a.set_defaults(func=add_client)

    a = actions.add_parser("clients", help="the registered clients, their scopes and last use")
    a.add_argument("--json", action="store_true")
    a.set_defaults(func=list_clients)

    a = actions.add_parser("revoke", help="take a client's token away")
    a.add_argument("name")
    a.set_defaults(func=revoke)

    a = actions.add_parser("audit", help="the latest MCP calls (client, tool, arguments' shape, results)")
    a.add_argument("-n", type=int, default=50, help="how many (default 50)")
    a.add_argument("--json", action="store_true")
    a.set_defaults(func=audit)


def serve(args: argparse.Namespace) -> int:
    from app.mcp import server

    if args.http:
        if not 1 <= args.port <= 65535:
            raise CliError("--port must be from 1 to 65535")
        _check_port_free(args.port)
        return server.run_http(args.port)
    return server.run_stdio()


def _check_port_free(port: int) -> None:
    import socket

    from app.mcp.server import HOST

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind((HOST, port))
        except OSError:
            raise CliError(f"port {port} on 127.0.0.1 is taken (another `engram mcp --http`?); "
                           "choose another with --port") from None


def _content_key() -> bytes:
    """The passphrase proves the user is the one granting access; only the key file is read, not the store."""
    from storage import paths
    from storage.keys import KeyVault

    from app.cli.input import ask_passphrase

    if not paths.key_file().exists():
        raise CliError(f"no store at {paths.home()}: create one with `engram init`")
    vault = KeyVault.load(paths.key_file())
    vault.unlock(ask_passphrase())
    try:
        return vault.keys.content
    finally:
        vault.lock()


def _registry_call(fn: Any) -> Any:
    from app.mcp.clients import RegistryError

    try:
        return fn()
    except RegistryError as exc:
        raise CliError(str(exc)) from None


def add_client(args: argparse.Namespace) -> int:
    from app.mcp.clients import SCOPES, ClientRegistry, parse_scopes

    scopes = _registry_call(lambda: parse_scopes(args.scopes))
    key = _content_key()
    token = _registry_call(lambda: ClientRegistry().add(key, args.name, scopes))
    print(f"Registered {args.name!r} with scopes: {', '.join(scopes)}")
    for scope in scopes:
        print(f"  {scope}: {SCOPES[scope]}")
    print("\nIts token (shown only now; give it to the client, keep it out of shared files):\n")
    print(f"    {token}\n")
    print("stdio clients: set ENGRAM_MCP_TOKEN to it in the client's configuration (see README, 'Agents').")
    print("HTTP clients: send it as 'Authorization: Bearer <token>' to http://127.0.0.1:8765/mcp (`engram mcp --http`).")
    return 0


def list_clients(args: argparse.Namespace) -> int:
    from app.mcp.clients import ClientRegistry

    clients = _registry_call(lambda: ClientRegistry().list(_content_key()))
    if args.json:
        print(json.dumps([{"name": c.name, "scopes": list(c.scopes), "created": c.created, "last_used": c.last_used}
                          for c in clients], indent=2))
        return 0
    if not clients:
        print("No MCP clients registered. Add one with: engram mcp add-client NAME --scopes read")
    for c in clients:
        print(f"{c.name:<24} {','.join(c.scopes):<18} added {c.created[:10]}  last used {c.last_used or 'never'}")
    return 0


def revoke(args: argparse.Namespace) -> int:
    from app.mcp.clients import ClientRegistry

    key = _content_key()
    if not _registry_call(lambda: ClientRegistry().revoke(key, args.name)):
        raise CliError(f"no client named {args.name!r} (see `engram mcp clients`)")
    print(f"Revoked {args.name!r}: its token is refused from now on.")
    return 0


def audit(args: argparse.Namespace) -> int:
    from app.mcp.audit import AuditLog

    entries = AuditLog().read(_content_key(), limit=max(1, args.n))
    if args.json:
        from dataclasses import asdict

        print(json.dumps([asdict(e) for e in entries], indent=2))
        return 0
    if not entries:
        print("No MCP calls yet.")
    for e in entries:
        shape = ", ".join(f"{k}: {v}" for k, v in e.args.items())
        print(f"{e.at}  {e.client:<18} {e.tool:<16} {e.results:>4} result(s)  {e.outcome}  ({shape})")
    return 0
