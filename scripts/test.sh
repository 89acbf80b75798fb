#!/usr/bin/env bash
# Set up the dev environment and run every check: lint, types, unit + integration tests.
#   bash scripts/test.sh            everything (the CI command)
#   bash scripts/test.sh -m "not slow"    pass extra pytest arguments
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh dev
py=.venv/bin/python
echo "== ruff"; "$py" -m ruff check ptb tests benchmarks; "$py" -m ruff format --check ptb tests benchmarks
echo "== mypy"; "$py" -m mypy
echo "== pytest"
# Each test run gets a fresh model cache so nothing carries over between CI runs.
export PTB_TEST_CACHE="${PTB_TEST_CACHE:-$(mktemp -d)/ptb-cache}"
"$py" -m pytest -q "$@"
