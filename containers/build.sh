#!/usr/bin/env bash
# Build ptb's Apptainer images (see containers/README.md).
#
#   containers/build.sh agent|eval|all [OUTPUT_DIR] [-- APPTAINER_BUILD_OPTIONS...]
#
# Writes OUTPUT_DIR/ptb-<image>-<ptb version>.sif (OUTPUT_DIR defaults to the current folder),
# labelled with ptb's version and git commit. Options after `--` go to `apptainer build`, e.g.
# `-- --fakeroot` without root or `-- --notest` to skip the image's self-test. The build needs
# network (Docker Hub, PyPI, npm, NodeSource) and ~40 GB in APPTAINER_TMPDIR/APPTAINER_CACHEDIR.
set -euo pipefail

usage() {
  cat >&2 <<'EOF'
usage: containers/build.sh agent|eval|all [OUTPUT_DIR] [-- APPTAINER_BUILD_OPTIONS...]
  agent  the agent's sandbox image (sandbox=apptainer sandbox.image=...)
  eval   the evaluation image (python -m ptb.evaluate on GPU nodes)
  all    both
EOF
}

die() {
  printf 'containers/build.sh: %s\n' "$1" >&2
  exit 1
}

if [[ $# -lt 1 ]]; then
  usage
  exit 2
fi
case "$1" in
  agent | eval) images=("$1") ;;
  all) images=(eval agent) ;;
  -h | --help)
    usage
    exit 0
    ;;
  *)
    printf 'containers/build.sh: unknown image %q\n' "$1" >&2
    usage
    exit 2
    ;;
esac
shift
out="."
if [[ $# -gt 0 && $1 != "--" ]]; then
  out="$1"
  shift
fi
if [[ $# -gt 0 ]]; then
  [[ $1 == "--" ]] || die "unexpected argument '$1' (apptainer options go after --)"
  shift
fi
extra=("$@")

if ! command -v apptainer >/dev/null 2>&1; then
  die "apptainer is not on PATH: install Apptainer >= 1.2 (https://apptainer.org/docs/admin/main/installation.html) or, on a cluster, \`module load apptainer\`"
fi
version="$(apptainer --version)"
if [[ $version =~ ([0-9]+)\.([0-9]+) ]]; then
  major="${BASH_REMATCH[1]}"
  minor="${BASH_REMATCH[2]}"
  if ((major < 1 || (major == 1 && minor < 2))); then
    die "$version is too old: the definition files use build arguments (Apptainer >= 1.2)"
  fi
else
  die "cannot read the Apptainer version from '$version'"
fi

src="${BASH_SOURCE[0]}"
[[ $src == */* ]] && here="${src%/*}" || here="."
repo="$(cd "$here/.." && pwd)"
ptb_version="$(sed -n 's/^version = "\(.*\)"$/\1/p' "$repo/pyproject.toml")"
[[ -n $ptb_version ]] || die "cannot read ptb's version from $repo/pyproject.toml"
commit="${PTB_GIT_COMMIT:-}"
if [[ -z $commit ]]; then
  commit="$(git -C "$repo" rev-parse --short=12 HEAD 2>/dev/null || echo unknown)"
  if [[ $commit != unknown ]] && ! git -C "$repo" diff --quiet HEAD -- ptb pyproject.toml containers; then
    commit="$commit-dirty"
  fi
fi
mkdir -p "$out"
out="$(cd "$out" && pwd)"

partial=""
cleanup() {
  if [[ -n $partial ]]; then
    rm -f -- "$partial"
  fi
}
trap cleanup EXIT

cd "$repo" # the definition files' %files paths are relative to the repository root
for image in "${images[@]}"; do
  dest="$out/ptb-$image-$ptb_version.sif"
  partial="$dest.partial"
  rm -f -- "$partial"
  cmd=(
    apptainer build "${extra[@]}"
    --build-arg "ptb_version=$ptb_version"
    --build-arg "ptb_commit=$commit"
    "$partial" "containers/$image.def"
  )
  printf '+ %s\n' "${cmd[*]}" >&2
  "${cmd[@]}"
  # Replace the image only once the new one is complete: running jobs keep the old file open.
  mv -f -- "$partial" "$dest"
  partial=""
  printf 'built %s\n' "$dest"
done
if [[ " ${images[*]} " == *" agent "* ]]; then
  printf 'use it with: python -m ptb sandbox=apptainer sandbox.image=%s\n' \
    "$out/ptb-agent-$ptb_version.sif"
fi
