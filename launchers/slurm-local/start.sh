#!/usr/bin/env bash
# Bring up a real single-node SLURM cluster on this machine, without systemd: munged, MariaDB,
# slurmdbd, slurmctld and slurmd, all files under one folder. Idempotent: what already runs is
# kept. The last line of output is `export SLURM_CONF=<file>` (also written to <dir>/env.sh).
#
#   sudo launchers/slurm-local/start.sh
#   eval "$(sudo launchers/slurm-local/start.sh | tail -n 1)"
#
# Environment: PTB_SLURM_DIR (default /var/tmp/ptb-slurm), PTB_SLURM_PORT (slurmctld's port,
# default 6817; slurmd and slurmdbd take the next two), PTB_SLURM_TIMEOUT (seconds to wait for
# each daemon, default 60).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=SCRIPTDIR/common.sh
source "$HERE/common.sh"

PACKAGES=(slurm-wlm slurmdbd munge mariadb-server)
TIMEOUT=${PTB_SLURM_TIMEOUT:-60}
HOST=$(uname -n)
HOST=${HOST%%.*}
CHANGED=0

now_ms() { echo $(($(date +%s%N) / 1000000)); }

elapsed() {  # elapsed START_MS
  local ms=$(($(now_ms) - $1))
  printf '%d.%03d s' $((ms / 1000)) $((ms % 1000))
}

fail() {  # fail MESSAGE [LOG_FILE...]: print MESSAGE, the node's state and log tails; exit
  local file
  log "ERROR: $1"
  shift
  if [[ ${SLURM_CONF:-} == "$CONF" ]] && live_pid slurmctld >/dev/null; then
    echo "---- sinfo ----" >&2
    sinfo -N -o '%N %T %E' >&2 || true
  fi
  for file in "$@"; do
    [[ -s $file ]] || continue
    echo "---- last lines of $file ----" >&2
    tail -n 25 "$file" >&2
  done
  exit 1
}

wait_for() {  # wait_for DAEMON COMMAND...: retry COMMAND every 0.1 s until it succeeds; fail
  # with DAEMON's log as soon as DAEMON has exited, or after TIMEOUT seconds
  local daemon=$1 deadline=$(($(now_ms) + TIMEOUT * 1000)) out
  shift
  until out=$("$@" 2>&1); do
    if [[ -s $(pid_file "$daemon") ]] && ! live_pid "$daemon" >/dev/null; then
      fail "$daemon exited while starting" "$(log_file "$daemon")"
    fi
    if (($(now_ms) > deadline)); then
      printf -- '---- last output of %s ----\n%s\n' "$*" "$out" >&2
      fail "$daemon not ready after $TIMEOUT s (waited for: $*)" "$(log_file "$daemon")"
    fi
    sleep 0.1
  done
}

daemon_port() {  # daemon_port NAME: the TCP port NAME listens on
  case $1 in
    slurmctld) echo "$PORT" ;;
    slurmd) echo $((PORT + 1)) ;;
    slurmdbd) echo $((PORT + 2)) ;;
  esac
}

port_in_use() {  # port_in_use PORT: something accepts connections on 127.0.0.1:PORT
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

ensure_packages() {
  local pkg missing=() t0
  for pkg in "${PACKAGES[@]}"; do
    [[ $(dpkg-query -W -f='${db:Status-Abbrev}' "$pkg" 2>/dev/null) == ii* ]] || missing+=("$pkg")
  done
  ((${#missing[@]})) || return 0
  command -v apt-get >/dev/null || fail "missing ${missing[*]}, and no apt-get to install them"
  log "installing ${missing[*]}"
  t0=$(now_ms)
  local apt=(apt-get install -y -q --no-install-recommends "${missing[@]}")
  if ! DEBIAN_FRONTEND=noninteractive "${apt[@]}" >"$DIR/log/apt.log" 2>&1; then
    apt-get update -q >>"$DIR/log/apt.log" 2>&1 || true
    DEBIAN_FRONTEND=noninteractive "${apt[@]}" >>"$DIR/log/apt.log" 2>&1 ||
      fail "apt-get install ${missing[*]} failed" "$DIR/log/apt.log"
  fi
  log "packages installed in $(elapsed "$t0")"
}

make_dirs() {
  mkdir -p "$DIR"/{etc,run,log,state,spool,dev} "$MUNGE_DIR" "$DB_DIR"
  chmod 755 "$DIR" "$DIR/etc" "$DIR/dev" "$MUNGE_DIR"
}

make_fake_gpus() {  # character devices with NVIDIA's major number, as gres.conf names them
  local i
  for i in 0 1; do
    [[ -c $DIR/dev/nvidia$i ]] || mknod -m 660 "$DIR/dev/nvidia$i" c 195 "$i"
  done
}

db_password() {  # generated once per cluster, kept next to the database
  local file=$DB_DIR/slurm.pass
  if [[ ! -s $file ]]; then
    (umask 077 && tr -dc 'A-Za-z0-9' </dev/urandom | head -c 24 >"$file")
  fi
  cat "$file"
}

render() {  # render TEMPLATE KEY=VALUE...: print TEMPLATE with each @KEY@ replaced
  local text kv
  text=$(<"$1")
  shift
  for kv in "$@"; do
    text=${text//"@${kv%%=*}@"/"${kv#*=}"}
  done
  [[ ! $text =~ @[A-Z_]+@ ]] || fail "unfilled placeholder ${BASH_REMATCH[0]} in template"
  printf '%s\n' "$text"
}

install_file() {  # install_file PATH MODE CONTENT: write only when the content differs
  if [[ -f $1 && $(<"$1") == "$3" ]]; then
    return 0
  fi
  (umask 077 && printf '%s\n' "$3" >"$1.tmp")
  chmod "$2" "$1.tmp"
  mv "$1.tmp" "$1"
  CHANGED=1
}

write_configs() {
  local cpus mem_kb memory vars slurm_conf gres_conf password dbd_conf
  cpus=$(nproc)
  mem_kb=$(awk '/^MemTotal:/ {print $2}' /proc/meminfo)
  memory=$((mem_kb * 95 / 102400))  # a bit below the real, or slurmd drains the node
  vars=(
    "DIR=$DIR" "HOST=$HOST" "CPUS=$cpus" "MEMORY=$memory" "MUNGE_SOCKET=$MUNGE_SOCKET"
    "CTLD_PORT=$PORT" "SLURMD_PORT=$((PORT + 1))" "DBD_PORT=$((PORT + 2))"
  )
  # Assignments, not arguments, so that a failed render stops the script.
  slurm_conf=$(render "$HERE/slurm.conf.in" "${vars[@]}")
  gres_conf=$(render "$HERE/gres.conf.in" "${vars[@]}")
  password=$(db_password)
  dbd_conf=$(render "$HERE/slurmdbd.conf.in" "${vars[@]}" "DB_PASS=$password")
  install_file "$CONF" 644 "$slurm_conf"
  install_file "$DIR/etc/gres.conf" 644 "$gres_conf"
  install_file "$DIR/etc/slurmdbd.conf" 600 "$dbd_conf"
}

start_munged() {
  local key=$MUNGE_DIR/munge.key
  live_pid munged >/dev/null && return 0
  rm -f "$(pid_file munged)"
  [[ -s $key ]] || mungekey --create --keyfile="$key"
  chown -R munge:munge "$MUNGE_DIR"
  chmod 600 "$key"
  rm -f "$MUNGE_SOCKET"
  runuser -u munge -- munged --socket="$MUNGE_SOCKET" --key-file="$key" \
    --pid-file="$(pid_file munged)" --log-file="$(log_file munged)" \
    --seed-file="$MUNGE_DIR/munged.seed" </dev/null >/dev/null 2>&1 ||
    fail "munged did not start" "$(log_file munged)"
  wait_for munged munge_roundtrip
}

munge_roundtrip() { munge -n -S "$MUNGE_SOCKET" | unmunge -S "$MUNGE_SOCKET"; }

db() { mariadb --no-defaults --socket="$DB_SOCKET" -u root "$@"; }

db_up() { db -e 'SELECT 1'; }

start_mariadb() {
  local data=$DB_DIR/data logfile
  logfile=$(log_file mariadbd)
  chown mysql:mysql "$DB_DIR"
  chmod 700 "$DB_DIR"
  if ! live_pid mariadbd >/dev/null; then
    rm -f "$(pid_file mariadbd)"
    if [[ ! -d $data/mysql ]]; then
      log "initialising MariaDB in $data"
      mariadb-install-db --no-defaults --user=mysql --datadir="$data" --skip-test-db \
        --auth-root-authentication-method=socket >"$DB_DIR/install.log" 2>&1 ||
        fail "mariadb-install-db failed" "$DB_DIR/install.log"
    fi
    setsid mariadbd --no-defaults --user=mysql --datadir="$data" --socket="$DB_SOCKET" \
      --pid-file="$(pid_file mariadbd)" --log-error="$logfile" --skip-networking \
      --innodb-buffer-pool-size=128M --innodb-lock-wait-timeout=900 \
      </dev/null >>"$logfile" 2>&1 &
  fi
  wait_for mariadbd db_up
  # On stdin, not argv: the password stays out of `ps`.
  db --batch <<<"CREATE USER IF NOT EXISTS 'slurm'@'localhost';
    ALTER USER 'slurm'@'localhost' IDENTIFIED BY '$(db_password)';
    GRANT ALL ON slurm_acct_db.* TO 'slurm'@'localhost';" ||
    fail "could not create the database user 'slurm'" "$logfile"
}

check_ports() {  # before starting anything: the ports of the SLURM daemons not yet up are free
  local daemon port
  for daemon in slurmdbd slurmctld slurmd; do
    live_pid "$daemon" >/dev/null && continue
    port=$(daemon_port "$daemon")
    if port_in_use "$port"; then
      fail "port $port for $daemon is taken by another process (another cluster? set PTB_SLURM_PORT)"
    fi
  done
}

start_slurm_daemon() {  # start_slurm_daemon NAME ARG...: the daemons fork themselves
  live_pid "$1" >/dev/null && return 0
  rm -f "$(pid_file "$1")"
  MYSQL_UNIX_PORT=$DB_SOCKET "$@" </dev/null >>"$(log_file "$1")" 2>&1 ||
    fail "$1 did not start" "$(log_file "$1")"
}

ensure_cluster() {  # register the cluster in accounting (slurmctld would too, but later)
  local clusters
  clusters=$(sacctmgr -n -P list cluster format=cluster) ||
    fail "sacctmgr cannot reach slurmdbd" "$(log_file slurmdbd)"
  grep -qx ptb <<<"$clusters" || sacctmgr -i add cluster ptb >/dev/null ||
    fail "sacctmgr could not add cluster ptb" "$(log_file slurmdbd)"
}

node_up() {  # the node answers and takes jobs
  [[ $(sinfo -h -n "$HOST" -o %T) =~ ^(idle|mixed|allocated|completing)$ ]]
}

reap_orphans() {  # jobs the controller still counts as running whose processes died with slurmd
  # After a reboot or a killed session the saved state lists jobs as RUNNING that no process
  # carries any more; they would hold the node's CPUs for ever. Called only when this run
  # started slurmd, so no job can be half-launched. A job whose slurmstepd still answers is kept.
  local job requeue reaped=0
  for job in $(squeue -h -t RUNNING,COMPLETING -w "$HOST" -o %A); do
    scontrol listpids "$job" >/dev/null 2>&1 && continue
    requeue=$(scontrol -o show job "$job" | grep -o 'Requeue=[01]') || requeue=Requeue=0
    if [[ $requeue == Requeue=1 ]] && scontrol requeue "$job" 2>/dev/null; then
      log "job $job was running when the node went down; requeued it"
    else
      scancel "$job" || fail "could not cancel job $job, whose processes are gone"
      log "job $job was running when the node went down and cannot be requeued; cancelled it"
    fi
    reaped=$((reaped + 1))
  done
  ((reaped == 0)) || log "$reaped job(s) from before the restart cleared"
}

restart_if_reconfigured() {
  local daemon
  ((CHANGED)) || return 0
  for daemon in slurmd slurmctld slurmdbd; do
    if live_pid "$daemon" >/dev/null; then
      log "configuration changed: restarting $daemon"
      stop_daemon "$daemon"
    fi
  done
}

main() {
  local t0
  ((EUID == 0)) || fail "run as root: it installs packages, starts daemons and calls mknod"
  mkdir -p "$DIR/log"
  ensure_packages
  t0=$(now_ms)
  make_dirs
  make_fake_gpus
  write_configs
  restart_if_reconfigured
  check_ports
  export SLURM_CONF=$CONF
  start_munged
  start_mariadb
  start_slurm_daemon slurmdbd slurmdbd
  wait_for slurmdbd sacctmgr -n list cluster
  ensure_cluster
  start_slurm_daemon slurmctld slurmctld -f "$CONF"
  wait_for slurmctld scontrol ping
  local slurmd_was_up=0
  live_pid slurmd >/dev/null && slurmd_was_up=1
  start_slurm_daemon slurmd slurmd -f "$CONF" -N "$HOST"
  wait_for slurmd node_up
  ((slurmd_was_up)) || reap_orphans
  printf 'export SLURM_CONF=%s\n' "$CONF" >"$DIR/env.sh"
  log "cluster up in $(elapsed "$t0") (logs in $DIR/log)"
  printf 'export SLURM_CONF=%s\n' "$CONF"
}

main "$@"
