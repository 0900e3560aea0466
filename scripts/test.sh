#!/usr/bin/env bash
# Install wta with its test extra into .venv, then lint, type-check and run the whole suite.
# This is the README's test command, and what CI runs (.ci/run).
set -euo pipefail
cd "$(dirname "$0")/.."

python3 -m venv .venv
.venv/bin/python -m pip install --quiet --disable-pip-version-check -e '.[test]'

.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/mypy

set +e
.venv/bin/python -m pytest "$@"
code=$?
set -e
if [ "$code" -eq 5 ]; then
    echo "scripts/test.sh: pytest collected no tests, so the suite proves nothing; failing" >&2
    exit 1
fi
exit "$code"
