#!/usr/bin/env bash
# A single-node Slurm cluster on this machine, for the Slurm backend's tests and for trying
# `nb1s1 experiment run --backend slurm` without a cluster.
#
#   scripts/slurm-local.sh start    # installs slurm-wlm + munge when missing, starts the daemons
#   scripts/slurm-local.sh status   # daemons, sinfo
#   scripts/slurm-local.sh stop     # stops the daemons (the folder is kept; `start` reuses it)
#   scripts/slurm-local.sh env      # prints `export SLURM_CONF=...` for the clients
#
# Everything (configuration, munge key and socket, spool, state, logs) lives in one folder,
# $NB1S1_SLURM_DIR (default /tmp/nb1s1-slurm). No systemd: munged, slurmctld and slurmd are
# started directly and must run as root (SlurmUser=SlurmdUser=root). Containers usually have no
# writable cgroup tree, so the cluster uses proctrack/linuxproc and task/none (no cgroup plugins).
# Ports default to 16817/16818 (not Slurm's 6817/6818) so a system Slurm is left alone.
# Clients (sbatch, squeue, ...) find the cluster through SLURM_CONF=$NB1S1_SLURM_DIR/slurm.conf.
set -euo pipefail

DIR="${NB1S1_SLURM_DIR:-/tmp/nb1s1-slurm}"
CTLD_PORT="${NB1S1_SLURM_CTLD_PORT:-16817}"
SLURMD_PORT="${NB1S1_SLURM_SLURMD_PORT:-16818}"
CONF="$DIR/slurm.conf"
SOCK="$DIR/munge/munge.socket.2"

die() { echo "slurm-local: $*" >&2; exit 1; }

install_packages() {
  command -v slurmctld >/dev/null && command -v slurmd >/dev/null &&
    command -v munged >/dev/null && command -v sbatch >/dev/null && return 0
  [ "$(id -u)" = 0 ] || die "slurm-wlm/munge are missing and installing them needs root"
  echo "slurm-local: installing slurm-wlm and munge (apt-get)" >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    slurm-wlm slurm-client munge >/dev/null
}

write_config() {
  local node cpus mem
  node="$(hostname -s)"
  cpus="$(nproc)"
  # Advertise a little less memory than the machine has, so slurmd never drains itself.
  mem="$(awk '/MemTotal/ {print int($2 / 1024 * 0.9)}' /proc/meminfo)"
  mkdir -p "$DIR"/{munge,state,spool,log}
  chmod 700 "$DIR/munge"
  cat >"$CONF.tmp" <<EOF
# Written by scripts/slurm-local.sh; regenerated on every start.
ClusterName=nb1s1-local
SlurmctldHost=$node(127.0.0.1)
SlurmctldPort=$CTLD_PORT
SlurmdPort=$SLURMD_PORT
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket=$SOCK
CredType=cred/munge
StateSaveLocation=$DIR/state
SlurmdSpoolDir=$DIR/spool/slurmd-%n
SlurmctldPidFile=$DIR/slurmctld.pid
SlurmdPidFile=$DIR/slurmd.pid
SlurmctldLogFile=$DIR/log/slurmctld.log
SlurmdLogFile=$DIR/log/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
# No cgroups in a container: track processes through /proc, bind no tasks.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/filetxt
JobCompLoc=$DIR/log/jobcomp.txt
MpiDefault=none
SwitchType=switch/none
LaunchParameters=use_interactive_step
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
ReturnToService=2
# Quick turnaround for tests: the scheduler runs often, finished jobs linger 5 minutes in squeue.
SchedulerParameters=sched_interval=2,bf_interval=2
MinJobAge=300
KillWait=10
InactiveLimit=0
Waittime=0
SlurmdTimeout=60
NodeName=$node NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=debug Nodes=$node Default=YES MaxTime=INFINITE State=UP OverSubscribe=NO
EOF
  mv "$CONF.tmp" "$CONF"
  if [ ! -s "$DIR/munge/munge.key" ]; then
    dd if=/dev/urandom of="$DIR/munge/munge.key" bs=1024 count=1 status=none
    chmod 400 "$DIR/munge/munge.key"
  fi
}

pid_alive() { [ -s "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

start_munge() {
  pid_alive "$DIR/munge/munged.pid" && return 0
  munged --force --socket="$SOCK" --key-file="$DIR/munge/munge.key" \
    --pid-file="$DIR/munge/munged.pid" --log-file="$DIR/log/munged.log" \
    --seed-file="$DIR/munge/munged.seed" ||
    die "munged did not start: $(tail -n 5 "$DIR/log/munged.log" 2>/dev/null)"
  munge -S "$SOCK" -n | unmunge -S "$SOCK" >/dev/null ||
    die "munge does not round-trip a credential through $SOCK"
}

start_daemon() { # name pidfile
  local name="$1" pid="$2"
  pid_alive "$pid" && return 0
  "$name" -f "$CONF" || die "$name did not start: $(tail -n 20 "$DIR/log/$name.log" 2>/dev/null)"
  for _ in $(seq 1 50); do pid_alive "$pid" && return 0; sleep 0.1; done
  die "$name exited at start: $(tail -n 20 "$DIR/log/$name.log" 2>/dev/null)"
}

wait_ready() {
  export SLURM_CONF="$CONF"
  local state=""
  for _ in $(seq 1 60); do
    state="$(sinfo -h -N -o '%T' 2>/dev/null | head -n 1 || true)"
    case "$state" in idle*|mixed*|allocated*) return 0 ;; esac
    sleep 0.5
  done
  die "the node did not come up (state '${state:-none}'); logs: $DIR/log/slurmctld.log, $DIR/log/slurmd.log
$(tail -n 10 "$DIR/log/slurmctld.log" 2>/dev/null)
$(tail -n 10 "$DIR/log/slurmd.log" 2>/dev/null)"
}

start() {
  [ "$(id -u)" = 0 ] || die "the daemons run as root (SlurmUser=root); run start as root"
  install_packages
  write_config
  start_munge
  start_daemon slurmctld "$DIR/slurmctld.pid"
  start_daemon slurmd "$DIR/slurmd.pid"
  wait_ready
  # A node left drained by an earlier session (or a test) is returned to service.
  scontrol update nodename="$(hostname -s)" state=resume >/dev/null 2>&1 || true
  echo "slurm-local: running; export SLURM_CONF=$CONF"
}

stop_pid() { # pidfile
  pid_alive "$1" || return 0
  local pid; pid="$(cat "$1")"
  kill "$pid"
  for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
  kill -9 "$pid" 2>/dev/null || true
}

stop() {
  stop_pid "$DIR/slurmd.pid"
  stop_pid "$DIR/slurmctld.pid"
  stop_pid "$DIR/munge/munged.pid"
  echo "slurm-local: stopped"
}

status() {
  local ok=0
  for d in munge/munged slurmctld slurmd; do
    if pid_alive "$DIR/$d.pid"; then echo "$(basename "$d"): running (pid $(cat "$DIR/$d.pid"))"
    else echo "$(basename "$d"): stopped"; ok=1; fi
  done
  [ "$ok" = 0 ] && SLURM_CONF="$CONF" sinfo
  return "$ok"
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) status ;;
  env) echo "export SLURM_CONF=$CONF" ;;
  *) die "usage: $0 start|stop|status|env" ;;
esac
