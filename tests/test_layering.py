"""House rules that keep the core usable without a screen: storage/ and agents/ never import Qt."""
import ast
import subprocess
import sys
from pathlib import Path

from conftest import REPO

GUI_MODULES = ("PySide6", "PyQt5", "PyQt6", "shiboken6")


def imported_modules(package: str) -> set[tuple[str, str]]:
    found = set()
    for path in (REPO / package).rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                found |= {(str(path), a.name) for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module:
                found.add((str(path), node.module))
    return found


def test_core_packages_import_no_gui_and_storage_no_agents() -> None:
    for package in ("storage", "agents"):
        bad = {(p, m) for p, m in imported_modules(package) if m.split(".")[0] in GUI_MODULES + ("app",)}
        assert not bad, bad
    assert not {(p, m) for p, m in imported_modules("storage") if m.split(".")[0] == "agents"}


def test_engram_help_is_fast_because_heavy_imports_are_lazy() -> None:
    code = ("import sys, app.cli; app.cli._parser(); "
            "heavy = [m for m in ('lancedb', 'pyarrow', 'PySide6', 'llama_cpp', 'tokenizers') if m in sys.modules]; "
            "print(','.join(heavy))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, check=True)
    assert done.stdout.strip() == ""


def test_core_packages_are_strictly_typed() -> None:
    done = subprocess.run([sys.executable, "-m", "mypy", "storage", "agents"], capture_output=True, text=True, cwd=REPO)
    assert done.returncode == 0, done.stdout + done.stderr
