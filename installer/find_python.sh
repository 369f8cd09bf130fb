# Sourced by setup.sh and install.sh: sets $python to a Python 3.11 or newer on this machine, or stops.
python=""
for candidate in python3.11 python3.12 python3.13 python3; do
  if command -v "$candidate" >/dev/null && "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
    python="$candidate"; break
  fi
done
[ -n "$python" ] || { echo "Engram needs Python 3.11 or newer." >&2; exit 1; }
