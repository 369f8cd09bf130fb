#!/usr/bin/env bash
# Set up (if needed) and run the whole test suite. Arguments are passed to pytest.
set -uo pipefail
cd "$(dirname "$0")/.."
bash installer/setup.sh --test || exit 1
# Two processes (pytest-xdist), a test file to each at a time: the slowest tests wait on processes of their own
# (the bundle's build, the command line, Xvfb), so one pytest leaves the second core idle, and a file's model
# fixtures load once. Files go out in the order tests/conftest.py gives them (longest first), not xdist's
# most-tests-first, which left the one-test bundle build for last. `-n 0` among the arguments runs one process.
.venv/bin/python -m pytest -n 2 --dist loadfile --no-loadscope-reorder "$@"
status=$?
if [ "$status" -eq 5 ]; then
  echo "pytest collected no tests: that is a failure, not a pass" >&2
  exit 1
fi
exit "$status"
