#!/usr/bin/env bash
# Set up (if needed) and start Engram. Arguments are passed to `engram`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash installer/setup.sh
exec .venv/bin/engram "$@"
