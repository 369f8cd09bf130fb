#!/usr/bin/env bash
# Set up (if needed) and run the whole test suite. Arguments are passed to pytest.
set -uo pipefail
cd "$(dirname "$0")/.."
bash installer/setup.sh --test || exit 1
.venv/bin/python -m pytest "$@"
status=$?
if [ "$status" -eq 5 ]; then
  echo "pytest collected no tests: that is a failure, not a pass" >&2
  exit 1
fi
exit "$status"
