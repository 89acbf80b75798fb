#!/usr/bin/env bash
# Install the pinned agent CLIs (conf/scaffold/*.yaml: npm_package + version) with npm.
#   bash scripts/install-clis.sh                  all five into .tools/ (git-ignored)
#   bash scripts/install-clis.sh claude_code      only the named scaffolds
#   PTB_TOOLS_DIR=/opt/ptb-tools bash scripts/install-clis.sh    another prefix (CI caches it)
# Each CLI gets its own npm prefix, <tools>/<scaffold>/, so one package's dependencies never
# shadow another's; ptb finds the executables in <tools>/<scaffold>/bin (see ptb/scaffolds/tools.py).
# A CLI whose pinned version is already there is skipped, so re-running is cheap.
set -euo pipefail
cd "$(dirname "$0")/.."
tools="${PTB_TOOLS_DIR:-.tools}"
mkdir -p "$tools"
if ! command -v npm >/dev/null 2>&1; then
  echo "error: npm is missing; install Node.js 20+ (e.g. apt-get install nodejs npm)" >&2
  exit 2
fi
names=("$@")
if [ ${#names[@]} -eq 0 ]; then
  names=(claude_code codex_cli gemini_cli opencode qwen_code)
fi
field() { sed -n "s/^$1: *\"\{0,1\}\([^\"]*\)\"\{0,1\} *$/\1/p" "$2"; }
for name in "${names[@]}"; do
  conf="conf/scaffold/$name.yaml"
  [ -f "$conf" ] || { echo "error: no scaffold config $conf" >&2; exit 2; }
  pkg="$(field npm_package "$conf")"
  version="$(field version "$conf")"
  [ -n "$pkg" ] && [ -n "$version" ] || { echo "error: $conf lacks npm_package/version" >&2; exit 2; }
  prefix="$tools/$name"
  stamp="$prefix/.installed"
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$pkg@$version" ]; then
    echo "$name: $pkg@$version already installed in $prefix"
    continue
  fi
  echo "$name: installing $pkg@$version into $prefix"
  rm -rf "$prefix"
  npm install --global --prefix "$prefix" --no-audit --no-fund --loglevel=error "$pkg@$version"
  echo "$pkg@$version" > "$stamp"
done
