# shellcheck shell=bash disable=SC2034  # the variables are for the scripts that source this
# Shared by start.sh and stop.sh: where the cluster's files live and how to tell that a daemon
# recorded in a pid file is still ours and alive. Sourced, never run.

DIR=${PTB_SLURM_DIR:-/var/tmp/ptb-slurm}
PORT=${PTB_SLURM_PORT:-6817}  # slurmctld; slurmd listens on PORT+1, slurmdbd on PORT+2

# Slurm config files take paths unquoted: refuse anything that would need quoting.
if [[ ! $DIR =~ ^/[A-Za-z0-9._/-]+$ ]]; then
  echo "ptb-slurm: PTB_SLURM_DIR must be an absolute path of [A-Za-z0-9._/-], got '$DIR'" >&2
  exit 2
fi
if [[ ! $PORT =~ ^[0-9]+$ ]] || ((PORT < 1024 || PORT > 65530)); then
  echo "ptb-slurm: PTB_SLURM_PORT must be a port number in 1024..65530, got '$PORT'" >&2
  exit 2
fi

CONF=$DIR/etc/slurm.conf
MUNGE_DIR=$DIR/munge
MUNGE_SOCKET=$MUNGE_DIR/munge.socket
DB_DIR=$DIR/mariadb
DB_SOCKET=$DB_DIR/mariadb.sock

# Daemons in stop order; start order is the reverse.
DAEMONS=(slurmd slurmctld slurmdbd mariadbd munged)

log() {  # to stderr, and to <dir>/log/ptb-slurm.log once that exists
  echo "ptb-slurm: $*" >&2
  if [[ -d $DIR/log ]]; then
    echo "[$(date +%FT%T)] $*" 2>/dev/null >>"$DIR/log/ptb-slurm.log" || true
  fi
}

pid_file() {  # pid_file DAEMON
  case $1 in
    munged) echo "$MUNGE_DIR/munged.pid" ;;
    mariadbd) echo "$DB_DIR/mariadb.pid" ;;
    *) echo "$DIR/run/$1.pid" ;;
  esac
}

log_file() {  # log_file DAEMON
  case $1 in
    munged) echo "$MUNGE_DIR/munged.log" ;;
    mariadbd) echo "$DB_DIR/mariadb.log" ;;
    *) echo "$DIR/log/$1.log" ;;
  esac
}

process_alive() {  # process_alive PID NAME: PID runs, is not a zombie, and its command is NAME
  local stat
  [[ -r /proc/$1/stat ]] || return 1
  stat=$(<"/proc/$1/stat") || return 1
  [[ $stat == "$1 ($2) "* ]] || return 1  # a recycled pid belongs to some other command
  stat=${stat##*) }
  [[ ${stat%% *} != Z ]]
}

live_pid() {  # live_pid DAEMON: print the pid of our running DAEMON, or fail
  local file pid
  file=$(pid_file "$1")
  [[ -s $file ]] || return 1
  pid=$(<"$file")
  pid=${pid//[[:space:]]/}
  [[ $pid =~ ^[0-9]+$ ]] && process_alive "$pid" "$1" || return 1
  echo "$pid"
}

wait_gone() {  # wait_gone PID DAEMON TENTHS: wait up to TENTHS/10 s for the process to exit
  local i
  for ((i = 0; i < $3; i++)); do
    process_alive "$1" "$2" || return 0
    sleep 0.1
  done
}

stop_daemon() {  # stop_daemon DAEMON: SIGTERM, wait up to 30 s, then SIGKILL
  local pid
  pid=$(live_pid "$1") || { rm -f "$(pid_file "$1")"; return 0; }
  log "stopping $1 (pid $pid)"
  kill -TERM "$pid" 2>/dev/null || true
  wait_gone "$pid" "$1" 300
  if process_alive "$pid" "$1"; then
    log "$1 (pid $pid) ignored SIGTERM for 30 s; sending SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
    wait_gone "$pid" "$1" 50
  fi
  if process_alive "$pid" "$1"; then
    log "$1 (pid $pid) is still running"
    return 1
  fi
  rm -f "$(pid_file "$1")"
}
