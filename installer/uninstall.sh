#!/usr/bin/env bash
# Removes Engram as installer/install.sh put it (the program, the command, the menu entry, the icon,
# start at login), then asks whether to remove your memories too, saying where they are.
#
#   bash ~/.local/share/engram-app/uninstall.sh [--keep-memories | --yes]
#
# --keep-memories  keep them (install again later and unlock them with the same passphrase)
# --yes            remove them too, without asking: they cannot be recovered
# Without a terminal to ask in and without either option, the memories are kept.
set -euo pipefail

data_home="${XDG_DATA_HOME:-$HOME/.local/share}"
app_dir="${ENGRAM_APP_DIR:-$data_home/engram-app}"
venv="$app_dir/venv"
bin_link="$HOME/.local/bin/engram"
menu_entry="$data_home/applications/engram.desktop"
icon="$data_home/icons/hicolor/scalable/apps/engram.svg"
autostart_entry="${XDG_CONFIG_HOME:-$HOME/.config}/autostart/engram.desktop"

memories=ask
while [ $# -gt 0 ]; do
  case "$1" in
    --keep-memories) memories=keep ;;
    --yes) memories=remove ;;
    -h|--help) sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "uninstall.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done

say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

# Refuse to delete anything that is not plainly Engram's (a mistyped variable must not cost a home).
remove() {
  local path="$1"
  case "$path" in
    ""|"/"|"$HOME"|"$HOME/"|"$data_home"|"$data_home/") echo "uninstall.sh: refusing to remove '$path'" >&2; exit 1 ;;
  esac
  case "$(basename "$path")" in
    *engram*) rm -rf -- "$path" ;;
    *) echo "uninstall.sh: refusing to remove '$path' (not named engram)" >&2; exit 1 ;;
  esac
}

have_python=0
[ -x "$venv/bin/python" ] && "$venv/bin/python" -c 'import app.doctor' 2>/dev/null && have_python=1

# Where the memories are: Engram's own answer (ENGRAM_HOME or the XDG data dir), else the same rule.
if [ "$have_python" = 1 ]; then
  store_home="$("$venv/bin/python" -c 'from storage import paths; print(paths.home())')"
  if "$venv/bin/python" -c 'import sys; from app.doctor import engram_running; sys.exit(not engram_running())'; then
    echo "Engram is running: quit it first (tray menu -> Quit Engram), then run this again." >&2
    exit 1
  fi
else
  store_home="${ENGRAM_HOME:-$data_home/engram}"
fi

if [ "$memories" = ask ]; then
  memories=keep
  if [ -d "$store_home" ] && [ -t 0 ]; then
    size="$(du -sh "$store_home" 2>/dev/null | cut -f1)"
    echo "Your memories (encrypted, $size) are in $store_home."
    read -r -p "Remove them too? They cannot be recovered. Type 'remove' to remove them, Enter to keep them: " answer
    [ "$answer" = remove ] && memories=remove
  fi
fi

# Start at login goes with the program; the setting is turned off too, so a later install asks again.
if [ "$have_python" = 1 ] && [ "$memories" = keep ]; then
  "$venv/bin/python" - <<'EOF'
from app import autostart
from storage import paths
from storage.config import Config

if paths.config_file().exists():
    config = Config.load()
    config.set("desktop.start_at_login", False)
    config.save()
autostart.set_enabled(False)
EOF
fi
[ -f "$autostart_entry" ] && remove "$autostart_entry"
[ -f "$menu_entry" ] && remove "$menu_entry"
[ -f "$icon" ] && remove "$icon"
if [ -L "$bin_link" ] && [ "$(readlink "$bin_link")" = "$venv/bin/engram" ]; then
  remove "$bin_link"
fi
command -v update-desktop-database >/dev/null && update-desktop-database -q "$(dirname "$menu_entry")" || true

if [ "$memories" = remove ]; then
  if [ "$have_python" = 1 ]; then
    "$venv/bin/python" -c 'from app.keyring_unlock import forget; forget()' || true  # the kept passphrase
  fi
  [ -d "$store_home" ] && remove "$store_home"
  say "Removed your memories ($store_home)"
elif [ -d "$store_home" ]; then
  # The language model assembled there at the first question is the program's, not yours.
  [ -d "$store_home/models" ] && rm -rf -- "$store_home/models"
  say "Kept your memories in $store_home (install Engram again to open them, or delete that folder)"
fi
remove "$app_dir"
say "Engram is uninstalled"
