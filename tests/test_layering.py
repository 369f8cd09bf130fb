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


def _module_graph(packages: tuple[str, ...]) -> dict[str, set[str]]:
    """Module -> the project modules it imports anywhere in it (lazy imports too; TYPE_CHECKING blocks not)."""
    paths = {}
    for package in packages:
        for path in (REPO / package).rglob("*.py"):
            name = ".".join(path.relative_to(REPO).with_suffix("").parts)
            paths[name.removesuffix(".__init__")] = path
    graph: dict[str, set[str]] = {}
    for name, path in paths.items():
        found: set[str] = set()

        class Imports(ast.NodeVisitor):
            def visit_If(self, node: ast.If) -> None:
                if not (isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING"):
                    self.generic_visit(node)

            def visit_Import(self, node: ast.Import) -> None:
                found.update(a.name for a in node.names)

            def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
                if node.module and not node.level:
                    found.update(f"{node.module}.{a.name}" if f"{node.module}.{a.name}" in paths else node.module
                                 for a in node.names)

        Imports().visit(ast.parse(path.read_text(encoding="utf-8")))
        graph[name] = {m for m in found if m in paths and m != name}
    return graph


def test_no_module_imports_one_that_imports_it_back() -> None:
    """Shared types live below the modules that use them (capture's window types, the shortcut, the
    benchmark registry), so no two modules need each other."""
    graph = _module_graph(("app", "agents", "storage", "bench"))

    def reaches(start: str, goal: str) -> bool:
        seen, todo = set(), [start]
        while todo:
            module = todo.pop()
            if module == goal:
                return True
            if module not in seen:
                seen.add(module)
                todo.extend(graph[module])
        return False

    circles = sorted({tuple(sorted((a, b))) for a in graph for b in graph[a] if reaches(b, a)})
    assert not circles, circles
