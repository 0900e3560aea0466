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

# What a person sees is tested as a person sees it: the report in Chromium, the live table
# in tmux. Install what is missing when this runs as root (as CI does); otherwise those tests
# skip and say why.
missing=()
[ -x /usr/bin/chromium ] || missing+=(chromium)
command -v tmux >/dev/null || missing+=(tmux)
if [ "${#missing[@]}" -gt 0 ] && [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null; then
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"; } \
        >/dev/null 2>&1 || echo "scripts/test.sh: could not install ${missing[*]}" >&2
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
