#!/usr/bin/env bash
# A one-node SLURM cluster on this machine (slurmctld + slurmd on localhost, CPU only), for the
# cluster tests and for trying `python -m mnistbench cluster submit` before a real cluster.
#
#   scripts/local-slurm.sh install   apt-get install slurm-wlm and munge (Debian/Ubuntu, as root)
#   scripts/local-slurm.sh start     write /etc/slurm/slurm.conf (only if there is none, or ours),
#                                    start munged, slurmctld and slurmd, wait until the node is idle
#   scripts/local-slurm.sh stop      stop the three daemons; remove the slurm.conf this script wrote
#   scripts/local-slurm.sh status    sinfo and squeue
#
# Needs root (the daemons). No cgroups (they often do not work in a container or VM): processes are
# tracked by their parent (proctrack/linuxproc). A requeued job waits CRED_EXPIRE seconds before it
# starts again (SLURM's default is 120 s; 5, its least, keeps the tests short).
set -euo pipefail

CONF=${SLURM_CONF:-/etc/slurm/slurm.conf}
MARK="# written by mnistbench scripts/local-slurm.sh"
STATE=/var/lib/slurm-mnistbench
LOGS=/var/log/slurm-mnistbench
CRED_EXPIRE=${CRED_EXPIRE:-5}

say() { echo "local-slurm: $*" >&2; }
die() { say "$*"; exit 1; }

ours() { [ -f "$CONF" ] && head -n 1 "$CONF" | grep -qxF "$MARK"; }

install() {
  if command -v slurmctld >/dev/null && command -v slurmd >/dev/null && command -v munged >/dev/null; then
    say "already installed: slurm-wlm $(dpkg-query -W -f='${Version}' slurm-wlm 2>/dev/null || echo '(not from apt)')"
    return
  fi
  [ "$(id -u)" = 0 ] || die "install needs root"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends slurm-wlm munge >/dev/null
  say "installed: slurm-wlm $(dpkg-query -W -f='${Version}' slurm-wlm)"
}

write_conf() {
  local node host name
  host=$(hostname -s)
  # The node as slurmd sees the hardware (CPUs, sockets, cores, memory), so the two agree.
  node=$(slurmd -C | head -n 1)
  [[ "$node" == NodeName=* ]] || die "slurmd -C did not describe this node: $node"
  name=${node%% *}
  name=${name#NodeName=}
  mkdir -p "$(dirname "$CONF")" "$STATE/ctld" "$STATE/d" "$LOGS"
  cat > "$CONF" <<EOF
$MARK
ClusterName=mnistbench-local
SlurmctldHost=$host(127.0.0.1)
SlurmUser=root
AuthType=auth/munge
AuthInfo=cred_expire=$CRED_EXPIRE
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SchedulerType=sched/backfill
SchedulerParameters=bf_interval=5,sched_interval=5
JobRequeue=1
KillWait=15
MinJobAge=3600
ReturnToService=2
StateSaveLocation=$STATE/ctld
SlurmdSpoolDir=$STATE/d
SlurmctldPidFile=/run/slurmctld-mnistbench.pid
SlurmdPidFile=/run/slurmd-mnistbench.pid
SlurmctldLogFile=$LOGS/slurmctld.log
SlurmdLogFile=$LOGS/slurmd.log
$node NodeAddr=127.0.0.1 State=UNKNOWN
PartitionName=debug Nodes=$name Default=YES MaxTime=INFINITE State=UP
EOF
}

start_munge() {
  if munge -n </dev/null 2>/dev/null | unmunge >/dev/null 2>&1; then
    return  # a munged already answers
  fi
  if [ ! -s /etc/munge/munge.key ]; then
    mkdir -p /etc/munge
    dd if=/dev/urandom of=/etc/munge/munge.key bs=1 count=1024 status=none
    chown munge:munge /etc/munge/munge.key 2>/dev/null || true
    chmod 400 /etc/munge/munge.key
  fi
  mkdir -p /run/munge /var/log/munge /var/lib/munge
  chown munge:munge /run/munge /var/log/munge /var/lib/munge 2>/dev/null || true
  if id munge >/dev/null 2>&1; then
    runuser -u munge -- /usr/sbin/munged
  else
    /usr/sbin/munged --force
  fi
  touch "$STATE/munged-started-here"  # so that stop ends only a munged this script started
}

wait_idle() {
  local state=""
  for _ in $(seq 60); do
    state=$(sinfo -h -o %T 2>/dev/null | head -n 1 || true)
    [ "$state" = idle ] && return 0
    sleep 1
  done
  die "the node did not become idle (state: '${state:-no answer}'); see $LOGS/slurmctld.log and $LOGS/slurmd.log"
}

start() {
  [ "$(id -u)" = 0 ] || die "start needs root (it starts the SLURM daemons)"
  command -v slurmctld >/dev/null || die "SLURM is not installed: run '$0 install' (Debian/Ubuntu)"
  if [ -f "$CONF" ] && ! ours; then
    die "$CONF exists and was not written by this script; not touching it"
  fi
  write_conf
  mkdir -p "$STATE"
  start_munge
  pgrep -F /run/slurmctld-mnistbench.pid >/dev/null 2>&1 || slurmctld -c  # -c: no jobs from an earlier start
  pgrep -F /run/slurmd-mnistbench.pid >/dev/null 2>&1 || slurmd
  wait_idle
  say "one-node cluster up: $(sinfo -h -o '%P %D node(s) %c CPUs %T')"
}

stop() {
  if ours; then
    scancel --quiet --user root 2>/dev/null || true
    scontrol shutdown >/dev/null 2>&1 || true
    for pidfile in /run/slurmctld-mnistbench.pid /run/slurmd-mnistbench.pid; do
      for _ in $(seq 30); do pgrep -F "$pidfile" >/dev/null 2>&1 || break; sleep 1; done
      if pgrep -F "$pidfile" >/dev/null 2>&1; then kill "$(cat "$pidfile")" 2>/dev/null || true; fi
      rm -f "$pidfile"
    done
    rm -f "$CONF"
  fi
  if [ -f "$STATE/munged-started-here" ] && [ -f /run/munge/munged.pid ]; then
    kill "$(cat /run/munge/munged.pid)" 2>/dev/null || true
    rm -f "$STATE/munged-started-here"
  fi
  say "stopped"
}

case "${1:-}" in
  install) install ;;
  start) start ;;
  stop) stop ;;
  status) sinfo; squeue ;;
  *) echo "usage: $0 {install|start|stop|status}" >&2; exit 2 ;;
esac
