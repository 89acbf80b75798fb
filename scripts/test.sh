#!/usr/bin/env bash
# Set up the dev environment and run every check: lint, types, unit + integration tests.
#   bash scripts/test.sh            everything (the CI command)
#   bash scripts/test.sh -m "not slow"    pass extra pytest arguments (a -m replaces --all's "every tier")
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh dev,parity
# Headless Chromium opens the offline HTML report in tests/integration/test_report_html.py.
if ! command -v chromium >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing chromium (apt-get) for the report test"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi
# The pinned agent CLIs for tests/integration/test_scaffolds.py (kept in $PTB_TOOLS_DIR or .tools/).
if command -v npm >/dev/null 2>&1; then
  bash scripts/install-clis.sh
else
  echo "warning: npm is missing; the scaffold integration tests will be skipped" >&2
fi
py=.venv/bin/python
echo "== ruff"; "$py" -m ruff check ptb tests benchmarks hydra_plugins; "$py" -m ruff format --check ptb tests benchmarks hydra_plugins
echo "== mypy"; "$py" -m mypy
echo "== pytest"
# Each test run gets a fresh model cache so nothing carries over between CI runs.
export PTB_TEST_CACHE="${PTB_TEST_CACHE:-$(mktemp -d)/ptb-cache}"
# --all: every tier (plain pytest runs only the fast one; tests/conftest.py).
"$py" -m pytest -q --all "$@"
