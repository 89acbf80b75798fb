#!/usr/bin/env bash
# Stop the single-node SLURM cluster that start.sh brought up, daemon by daemon through its pid
# file, and wait for each to exit. Nothing running is fine.
#
#   sudo launchers/slurm-local/stop.sh          # PTB_SLURM_DIR picks the cluster (default /var/tmp/ptb-slurm)
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=SCRIPTDIR/common.sh
source "$HERE/common.sh"

main() {
  local daemon failed=0
  for daemon in "${DAEMONS[@]}"; do
    stop_daemon "$daemon" || failed=1
  done
  if ((failed)); then
    log "some daemons did not stop (see above)"
    return 1
  fi
  log "stopped (state kept in $DIR)"
}

main "$@"
