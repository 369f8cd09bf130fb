"""`python -m app.cli ...`: the `engram` command (how autostart entries and MCP clients may start it)."""
import sys

from app.cli import main

sys.exit(main())
