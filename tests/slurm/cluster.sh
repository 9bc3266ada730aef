#!/usr/bin/env bash
# A single-node Slurm on this machine, for the integration test of profiles/slurm.
#
#   tests/slurm/cluster.sh up   STATE_DIR   installs slurm-wlm and munge when missing, starts
#                                           munged, slurmctld and slurmd from a slurm.conf
#                                           written into STATE_DIR, waits for the node to be idle
#   tests/slurm/cluster.sh down STATE_DIR   stops the daemons started by `up`
#
# Clients find the cluster through SLURM_CONF=STATE_DIR/slurm.conf (printed by `up`).
# Needs root (daemons, apt). Everything it writes lives in STATE_DIR, /run/munge,
# /var/log/munge and /run/slurm/conf (slurmd's config cache, removed by `down`); the
# machine's own /etc/slurm is not touched.
set -euo pipefail

action=${1:?usage: cluster.sh up|down STATE_DIR}
state=$(realpath -m "${2:?usage: cluster.sh up|down STATE_DIR}")

say() { echo "[slurm] $*" >&2; }

install_packages() {
    if command -v slurmctld >/dev/null && command -v slurmd >/dev/null \
        && command -v munged >/dev/null && command -v sbatch >/dev/null; then
        return
    fi
    say "installing slurm-wlm and munge from Debian"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2
    apt-get install -y -qq slurm-wlm munge >&2
}

start_munge() {
    mkdir -p /run/munge /var/log/munge /var/lib/munge /etc/munge
    if [ ! -s /etc/munge/munge.key ]; then
        dd if=/dev/urandom bs=1 count=1024 of=/etc/munge/munge.key status=none
    fi
    chown -R munge:munge /run/munge /var/log/munge /var/lib/munge /etc/munge
    chmod 0755 /run/munge
    chmod 0400 /etc/munge/munge.key
    if ! munge -n >/dev/null 2>&1; then
        say "starting munged"
        runuser -u munge -- munged --force
        for _ in $(seq 50); do munge -n >/dev/null 2>&1 && return; sleep 0.2; done
        say "munged did not come up"; exit 1
    fi
}

write_conf() {
    local host cpus mem
    host=$(hostname -s)
    cpus=$(nproc)
    # Leave a quarter of the memory to the system.
    mem=$(awk '/MemTotal/ {print int($2 / 1024 * 3 / 4)}' /proc/meminfo)
    mkdir -p "$state/spool/ctld" "$state/spool/d" "$state/log"
    cat >"$state/slurm.conf" <<CONF
ClusterName=rldynamics-test
SlurmctldHost=$host
SlurmUser=root
SlurmctldPort=${SLURMCTLD_PORT:-6817}
SlurmctldParameters=enable_configless
SlurmdPort=${SLURMD_PORT:-6818}
AuthType=auth/munge
StateSaveLocation=$state/spool/ctld
SlurmdSpoolDir=$state/spool/d
SlurmctldPidFile=$state/slurmctld.pid
SlurmdPidFile=$state/slurmd.pid
SlurmctldLogFile=$state/log/slurmctld.log
SlurmdLogFile=$state/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
SchedulerType=sched/backfill
MpiDefault=none
ReturnToService=2
MinJobAge=300
InactiveLimit=0
KillWait=5
Waittime=0
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
NodeName=$host CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE State=UP
CONF
    # slurmd reads a cgroup.conf only with cgroup plugins; none are used here.
}

up() {
    install_packages
    start_munge
    write_conf
    export SLURM_CONF=$state/slurm.conf
    say "starting slurmctld and slurmd ($SLURM_CONF)"
    slurmctld -i
    # slurmd runs configless: it fetches slurm.conf from slurmctld and caches it in
    # /run/slurm/conf, where commands inside jobs find it. (The executor's job step drops
    # SLURM_CONF from the environment of the commands it runs.)
    env -u SLURM_CONF slurmd --conf-server "$(hostname -s):${SLURMCTLD_PORT:-6817}"
    local host
    host=$(hostname -s)
    for _ in $(seq 120); do
        node_state=$(sinfo -h -n "$host" -o %t 2>/dev/null || true)
        case "$node_state" in
            idle | mix | alloc) echo "$SLURM_CONF"; say "node $host is $node_state"; return ;;
        esac
        sleep 0.5
    done
    say "the node did not become idle (state: '${node_state:-none}'); logs in $state/log"
    tail -n 20 "$state/log/"*.log >&2 || true
    exit 1
}

down() {
    for daemon in slurmd slurmctld; do
        pidfile=$state/$daemon.pid
        if [ -s "$pidfile" ]; then
            kill "$(cat "$pidfile")" 2>/dev/null || true
        fi
    done
    for _ in $(seq 50); do
        alive=0
        for daemon in slurmd slurmctld; do
            pidfile=$state/$daemon.pid
            [ -s "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null && alive=1
        done
        [ $alive = 0 ] && break
        sleep 0.2
    done
    # The config cache of the configless slurmd: stale once the cluster is gone.
    rm -rf /run/slurm/conf
    say "stopped"
}

case "$action" in
    up) up ;;
    down) down ;;
    *) echo "usage: cluster.sh up|down STATE_DIR" >&2; exit 2 ;;
esac
