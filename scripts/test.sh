#!/usr/bin/env bash
# Install wta with its test extra into .venv, then lint, type-check (the package and tests/)
# and run the whole suite under coverage, failing below the branch coverage that
# pyproject.toml sets ([tool.coverage.report] fail_under).
# This is the README's test command, and what CI runs (.ci/run).
# Arguments go to pytest; with any, the coverage is reported but not enforced, since a
# part of the suite covers only a part of the code.
set -euo pipefail
cd "$(dirname "$0")/.."

python3 -m venv .venv
.venv/bin/python -m pip install --quiet --disable-pip-version-check -e '.[test]'

# The report's browser test renders the page in Chromium: install it when it is missing and
# this runs as root (as CI does); otherwise that test skips and says why.
if [ ! -x /usr/bin/chromium ] && [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null; then
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; } \
        >/dev/null 2>&1 || echo "scripts/test.sh: could not install chromium" >&2
fi

.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/mypy

.venv/bin/python -m coverage erase
set +e
# `wta run` processes that tests start are measured too ([tool.coverage.run] patch)
.venv/bin/python -m coverage run -m pytest "$@"
code=$?
set -e
if [ "$code" -eq 5 ]; then
    echo "scripts/test.sh: pytest collected no tests, so the suite proves nothing; failing" >&2
    exit 1
fi
if [ "$code" -ne 0 ]; then
    exit "$code"
fi
.venv/bin/python -m coverage combine --quiet
if [ "$#" -eq 0 ]; then
    .venv/bin/python -m coverage report
else
    .venv/bin/python -m coverage report --fail-under=0
fi
