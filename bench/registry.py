"""The benchmarks bench.run knows, in the order it runs them (below both run.py and results.py)."""
from __future__ import annotations

import importlib
from types import ModuleType

BENCHMARKS = ("store_latency", "locomo_retrieval", "screen_recall", "dedup_bench", "ocr_bench", "capture_bench",
              "agents_bench", "ask_bench", "reader_bench", "llm_speed", "ui_bench", "popup_bench", "app_memory",
              "mcp_bench", "bundle_bench", "write_bench", "year", "store_upkeep", "hour")
# Names whose module is called otherwise.
MODULES = {"hour": "hour_of_use"}
# Hours to days of machine time each: run only when named (`python -m bench.run year`).
LONG = frozenset({"year", "hour"})


def module_of(name: str) -> ModuleType:
    return importlib.import_module(f"bench.{MODULES.get(name, name)}")
