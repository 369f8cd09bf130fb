"""Engram for other agents: a local MCP server that respects the lock, the vault and the user's say.

Who does what:
- `server.py` speaks MCP (stdio, or streamable HTTP on 127.0.0.1) in the `engram mcp` process. It holds
  no keys and never opens the store: every tool call is relayed (`relay.py`) over the desktop app's
  single-instance local socket.
- `service.py` runs inside the desktop app (on a worker thread): it checks the client's token and
  scopes, answers "Engram is locked" while locked, runs the tool (`tools.py`) and writes the audit.
- `clients.py` is the registry of clients and their tokens; `audit.py` the encrypted audit log.
None of these import Qt; the desktop's side of the socket is `app/desktop/mcp_bridge.py`.
"""
