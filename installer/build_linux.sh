#!/usr/bin/env bash
# Builds the self-contained Linux bundle: a PyInstaller one-folder app in dist/engram/ (run
# dist/engram/engram; no Python needed on the target, only the system's X and GL libraries),
# and dist/engram-linux-x86_64.tar.gz to hand around.
#
#   bash installer/build_linux.sh [--dist DIR] [--no-archive]
#
# It builds from the checkout's .venv (made by installer/setup.sh if missing); PyInstaller itself goes
# into a separate build environment (~/.cache/engram-build) that reuses .venv's packages.
set -euo pipefail
cd "$(dirname "$0")/.."
repo="$(pwd)"
say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

dist="$repo/dist"
archive=1
while [ $# -gt 0 ]; do
  case "$1" in
    --dist) mkdir -p "${2:?--dist needs a directory}"; dist="$(cd "$2" && pwd)"; shift ;;
    --no-archive) archive=0 ;;
    *) echo "build_linux.sh: unknown option $1" >&2; exit 2 ;;
  esac
  shift
done

[ -x .venv/bin/python ] || bash installer/setup.sh
build_home="${ENGRAM_BUILD_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/engram-build}"
venv="$build_home/venv"
if [ ! -x "$venv/bin/pyinstaller" ]; then
  say "Making the build environment in $venv"
  .venv/bin/python -m venv "$venv"
  site="$(.venv/bin/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
  own="$("$venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
  echo "$site" > "$own/engram-packages.pth"
  "$venv/bin/python" -m pip install -q "pyinstaller>=6.10,<7" "pyinstaller-hooks-contrib>=2024.8"
fi
# .venv's llama.cpp is compiled for this processor; the bundle runs on others: a portable build (AVX2) goes
# into the build environment, ahead of .venv's.
bash installer/llama_wheel.sh "$venv/bin/python" --portable

# What is found at run time by path or by distribution name, not by import, has to be named (the icons,
# the OCR models, the embedding model's zip, the LLM's six part packages...): installer/bundle_parts.py
# holds the list, shared with the Windows and macOS spec (installer/engram.spec).
mapfile -t collect < <(.venv/bin/python installer/bundle_parts.py linux)
[ ${#collect[@]} -gt 0 ] || { echo "build_linux.sh: installer/bundle_parts.py listed nothing" >&2; exit 1; }

say "Building the bundle (a few minutes)"
"$venv/bin/pyinstaller" --noconfirm --clean --log-level WARN --onedir --name engram \
  --distpath "$dist" --workpath "$build_home/work" --specpath "$build_home" \
  --paths "$repo" "${collect[@]}" "$repo/installer/bundle_main.py"
say "Built $dist/engram ($(du -sh "$dist/engram" | cut -f1)); run $dist/engram/engram"
if [ "$archive" = 1 ]; then
  tar -C "$dist" -czf "$dist/engram-linux-x86_64.tar.gz" engram
  say "To hand around: $dist/engram-linux-x86_64.tar.gz ($(du -sh "$dist/engram-linux-x86_64.tar.gz" | cut -f1))"
fi
