#!/usr/bin/env bash
# Create (or update) the project's virtual environment in .venv.
#   bash scripts/setup.sh          runtime only
#   bash scripts/setup.sh dev      + test and lint tools
# On a machine without an NVIDIA GPU, torch is held to the CPU build (constraints/cpu.txt).
set -euo pipefail
cd "$(dirname "$0")/.."
extras="${1:-}"
venv="${PTB_VENV:-.venv}"
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
fi
pip=("$venv/bin/python" -m pip install --quiet --disable-pip-version-check)
constraints=()
if ! command -v nvidia-smi >/dev/null 2>&1; then
  constraints=(-c constraints/cpu.txt)
  # Install torch on its own first so no other package's resolution can pick a CUDA build.
  "${pip[@]}" "${constraints[@]}" "torch==2.13.0"
fi
target="."
[ -n "$extras" ] && target=".[$extras]"
"${pip[@]}" "${constraints[@]}" -e "$target"
echo "ptb environment ready: $venv (extras: ${extras:-none})"
