#!/usr/bin/env bash
# Regenerate containers/constraints.txt: every package (and version) the two images install from
# PyPI, resolved for the images' platform (Ubuntu 24.04, Python 3.12, x86_64) from ptb's own
# dependencies (pyproject.toml, extra `gpu`) and the two requirement files here. Run it after
# changing a pin; review the diff. Needs `uv` (pip install uv) and access to PyPI; it downloads
# package metadata only, not the wheels.
#
#   containers/lock.sh [extra uv pip compile options, e.g. --upgrade-package peft]
set -euo pipefail

here="$(cd "${BASH_SOURCE[0]%/*}" && pwd)"
repo="${here%/*}"
if ! command -v uv >/dev/null 2>&1; then
  echo "containers/lock.sh needs uv: pip install uv" >&2
  exit 1
fi
cd "$repo"
args=(
  uv pip compile
  --no-config
  --python-version 3.12
  --python-platform x86_64-manylinux_2_28
  --index-url https://pypi.org/simple
  --annotation-style line
  --custom-compile-command "containers/lock.sh"
  --extra gpu
  --output-file containers/constraints.txt
  pyproject.toml
  containers/eval-requirements.txt
  containers/agent-requirements.txt
  "$@"
)
"${args[@]}"
