#!/usr/bin/env bash
# A real single-node Slurm cluster on 127.0.0.1 for weft's Slurm executor tests and benchmarks.
# Debian 12, root, no systemd. Everything lives in one state folder.
#
#   tests/slurm/cluster.sh start    # idempotent; prints only `export SLURM_CONF=...` on stdout
#   tests/slurm/cluster.sh stop     # stops the daemons this script started (and their jobs)
#   tests/slurm/cluster.sh status   # exit 0 when the cluster answers, else 1
#
#   eval "$(tests/slurm/cluster.sh start)"
#
# Environment:
#   WEFT_SLURM_DIR         state folder (default /tmp/weft-slurm); `$WEFT_SLURM_DIR/env` holds the export line
#   WEFT_SLURM_CPUS        CPUs the node declares, whatever the machine has (default 16, so that at least
#                          8 one-CPU jobs run at once on a 2-CPU machine)
#   WEFT_SLURM_CTLD_PORT   slurmctld port (default 16817)
#   WEFT_SLURM_SLURMD_PORT slurmd port (default 16818)
#
# Logs go to stderr and to $WEFT_SLURM_DIR/log/. Pidfiles: $DIR/slurmctld.pid, $DIR/slurmd.pid, and
# $DIR/munge/munged.pid only when this script started munged (a munged that already works is reused).
set -euo pipefail

DIR=${WEFT_SLURM_DIR:-/tmp/weft-slurm}
CPUS=${WEFT_SLURM_CPUS:-16}
CTLD_PORT=${WEFT_SLURM_CTLD_PORT:-16817}
SLURMD_PORT=${WEFT_SLURM_SLURMD_PORT:-16818}
PACKAGES=(slurmctld slurmd slurm-client munge)
CONF=$DIR/slurm.conf
ENV_LINE="export SLURM_CONF=$CONF"

log() { echo "cluster.sh: $*" >&2; }
die() { log "$*"; exit 1; }

# The cluster answers when sinfo (with this folder's slurm.conf) shows the node up (idle, mixed,
# allocated, completing).
UP_STATES='^(idle|mixed|allocated|completing)$'
# Without a live slurmctld of this folder the answer is no at once (sinfo would retry for ~9 s).
answers() {
  if [[ ! -f $CONF ]] || ! live_pid "$DIR/slurmctld.pid" >/dev/null; then
    return 1
  fi
  local state
  state=$(SLURM_CONF=$CONF timeout 10 sinfo -h -n localhost -o %T 2>/dev/null) || return 1
  [[ $state =~ $UP_STATES ]]
}

# pid in a pidfile if that process is alive, else nothing (and status 1).
live_pid() {
  local pid
  [[ -s $1 ]] || return 1
  pid=$(<"$1")
  if [[ ! $pid =~ ^[0-9]+$ ]] || ! kill -0 "$pid" 2>/dev/null; then
    return 1
  fi
  echo "$pid"
}

# Stops the process of a pidfile: TERM, up to 10 s, then KILL; waits until it is gone.
stop_pidfile() {
  local name=$1 file=$2 pid
  pid=$(live_pid "$file") || { rm -f "$file"; return 0; }
  log "stopping $name (pid $pid)"
  kill "$pid" 2>/dev/null || true
  for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  if kill -0 "$pid" 2>/dev/null; then
    log "$name did not stop in 10 s: SIGKILL"
    kill -9 "$pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  fi
  rm -f "$file"
}

install_packages() {
  local missing=() package
  for package in "${PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q 'install ok installed' || missing+=("$package")
  done
  ((${#missing[@]} == 0)) && return 0
  [[ $(id -u) -eq 0 ]] || die "missing packages: ${missing[*]} (run as root, or install them: apt-get install ${missing[*]})"
  log "installing ${missing[*]} (log: $DIR/apt.log)"
  export DEBIAN_FRONTEND=noninteractive
  if ! apt-get install -y -q --no-install-recommends "${missing[@]}" >"$DIR/apt.log" 2>&1; then
    log "install failed without apt-get update; updating the package lists"
    if ! { apt-get update -q && apt-get install -y -q --no-install-recommends "${missing[@]}"; } >>"$DIR/apt.log" 2>&1; then
      cat "$DIR/apt.log" >&2
      die "installing ${missing[*]} failed"
    fi
  fi
}

munge_works() { munge -n 2>/dev/null | unmunge >/dev/null 2>&1; }

start_munge() {
  if munge_works; then
    return 0
  fi
  if [[ ! -s /etc/munge/munge.key ]]; then
    log "creating /etc/munge/munge.key"
    install -d -m 700 -o munge -g munge /etc/munge
    dd if=/dev/urandom of=/etc/munge/munge.key bs=1 count=1024 status=none
    chown munge:munge /etc/munge/munge.key
    chmod 400 /etc/munge/munge.key
  fi
  # munged refuses folders it does not own; it runs as user munge.
  install -d -o munge -g munge -m 755 /run/munge
  install -d -o munge -g munge -m 700 "$DIR/munge"
  log "starting munged"
  runuser -u munge -- /usr/sbin/munged --force --socket=/run/munge/munge.socket.2 \
    --pid-file="$DIR/munge/munged.pid" --log-file="$DIR/munge/munged.log" \
    --seed-file="$DIR/munge/munge.seed" >&2
  for _ in $(seq 50); do munge_works && return 0; sleep 0.1; done
  cat "$DIR/munge/munged.log" >&2 2>/dev/null || true
  die "munged does not answer"
}

write_conf() {
  mkdir -p "$DIR"/{state,spool,log}
  cat >"$CONF.new" <<EOF
# Written by tests/slurm/cluster.sh: one node named localhost on 127.0.0.1, everything under $DIR.
ClusterName=weftci
SlurmctldHost=localhost(127.0.0.1)
SlurmctldPort=$CTLD_PORT
SlurmdPort=$SLURMD_PORT
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
MpiDefault=none
StateSaveLocation=$DIR/state
SlurmdSpoolDir=$DIR/spool
SlurmctldPidFile=$DIR/slurmctld.pid
SlurmdPidFile=$DIR/slurmd.pid
SlurmctldLogFile=$DIR/log/slurmctld.log
SlurmdLogFile=$DIR/log/slurmd.log
LogTimeFormat=iso8601_ms
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
# No slurmdbd: 'sacct -c' reads this job-completion file instead.
JobCompType=jobcomp/filetxt
JobCompLoc=$DIR/log/jobcomp.txt
# Ended jobs stay visible to squeue/scontrol for an hour.
MinJobAge=3600
MaxJobCount=100000
KillWait=5
# A node whose slurmd stops answering is DOWN and its jobs NODE_FAIL ~25 s later (measured with 5; the
# default 300 would take minutes); a node that registers again comes back by itself (ReturnToService=2).
# 'scontrol update nodename=localhost state=down reason=x' fails its running jobs at once.
SlurmdTimeout=5
ReturnToService=2
MessageTimeout=10
SchedulerType=sched/backfill
# slurmctld starts pending batch jobs on a 1 s tick, but only every batch_sched_delay seconds (default 3):
# with 0 a no-op job goes from sbatch to COMPLETED in ~1 s instead of ~3 s (measured: 200 no-op jobs,
# 8 at a time, polled by squeue every 250 ms, 24 s instead of 68 s).
SchedulerParameters=batch_sched_delay=0
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
# The node declares $CPUS CPUs whatever the machine has (config_overrides), so that many one-CPU
# jobs run at once even on two cores.
SlurmdParameters=config_overrides
NodeName=localhost NodeAddr=127.0.0.1 CPUs=$CPUS Sockets=1 CoresPerSocket=$CPUS ThreadsPerCore=1 RealMemory=1000 State=UNKNOWN
PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP
EOF
  mv "$CONF.new" "$CONF"
}

start() {
  mkdir -p "$DIR"
  chmod 755 "$DIR"
  if answers; then
    log "the cluster in $DIR answers already"
    echo "$ENV_LINE" >"$DIR/env"
    echo "$ENV_LINE"
    return 0
  fi
  install_packages
  start_munge
  # Daemons of this folder that run but do not answer (half started, or the node is down) start again.
  stop_pidfile slurmd "$DIR/slurmd.pid"
  stop_pidfile slurmctld "$DIR/slurmctld.pid"
  write_conf
  export SLURM_CONF=$CONF
  # The state folder is kept between starts: job ids go on increasing, so an id never names an old
  # job of the job-completion file ('sacct -c') too.
  log "starting slurmctld and slurmd (logs: $DIR/log)"
  /usr/sbin/slurmctld -f "$CONF" || { tail -n 30 "$DIR/log/slurmctld.log" >&2; die "slurmctld did not start"; }
  /usr/sbin/slurmd -f "$CONF" -N localhost || { tail -n 30 "$DIR/log/slurmd.log" >&2; die "slurmd did not start"; }
  local state= resumed=0
  for _ in $(seq 120); do
    state=$(timeout 10 sinfo -h -n localhost -o %T 2>/dev/null || true)
    [[ $state =~ $UP_STATES ]] && break
    # A node left drained by an earlier run (the state folder is kept) is resumed once; a DOWN node
    # comes back by itself when slurmd registers (ReturnToService=2).
    if [[ $state =~ ^drain && $resumed == 0 ]]; then
      log "node is $state: resuming it"
      scontrol update nodename=localhost state=resume >&2 || true
      resumed=1
    fi
    sleep 0.25
  done
  if [[ ! $state =~ $UP_STATES ]]; then
    tail -n 30 "$DIR/log/slurmctld.log" "$DIR/log/slurmd.log" >&2 || true
    die "the node is '${state:-not answering}', not up, after 30 s"
  fi
  echo "$ENV_LINE" >"$DIR/env"
  log "cluster up: $(sinfo -h -o '%P %D %c CPUs %T')"
  echo "$ENV_LINE"
}

stop() {
  # Jobs of this cluster are canceled first, so that no slurmstepd outlives slurmd.
  local jobs
  if answers && jobs=$(SLURM_CONF=$CONF squeue -h -o %i 2>/dev/null) && [[ -n $jobs ]]; then
    log "canceling the cluster's jobs: ${jobs//$'\n'/ }"
    # shellcheck disable=SC2086 # one argument per job id
    SLURM_CONF=$CONF scancel --full --signal=KILL $jobs 2>/dev/null || true
    # shellcheck disable=SC2086
    SLURM_CONF=$CONF scancel $jobs 2>/dev/null || true
    for _ in $(seq 40); do
      [[ -z $(SLURM_CONF=$CONF squeue -h -t running,completing -o %i 2>/dev/null) ]] && break
      sleep 0.25
    done
  fi
  stop_pidfile slurmd "$DIR/slurmd.pid"
  stop_pidfile slurmctld "$DIR/slurmctld.pid"
  stop_pidfile munged "$DIR/munge/munged.pid"
}

status() {
  if answers; then
    SLURM_CONF=$CONF sinfo -h -o '%P %D %c CPUs %T' >&2
    return 0
  fi
  log "the cluster in $DIR does not answer"
  return 1
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) status ;;
  *)
    echo "usage: $0 start|stop|status   (state folder: \$WEFT_SLURM_DIR, default /tmp/weft-slurm)" >&2
    exit 2
    ;;
esac
