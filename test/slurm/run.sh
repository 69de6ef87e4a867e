#!/usr/bin/env bash
# npm run test:slurm — issue 10 §7, scale-out on a real scheduler. Sets up a single-node Slurm on
# localhost (Debian's slurm-wlm: munged, slurmctld, slurmd; every file of it in one temp dir),
# then submits exactly the docs' scripts:
#   examples/slurm/cld-shards.sbatch        as a job array, and cld-merge.sbatch after it
#   examples/slurm/landscape-shards.sbatch  as a job array, and landscape-merge.sbatch after it
# (dependencies --dependency=afterok:<array job>), and checks that each merged result equals one
# in-memory run of the same command (test/slurm/check.mjs says how exactly). It also validates the
# Kubernetes Jobs in examples/kubernetes/ and runs their commands here (there is no cluster).
# The cluster is torn down (daemons stopped, temp dir removed) on every exit, failures included.
#
# Needs: slurmctld slurmd sbatch munged (apt-get install slurm-wlm munge), python3-yaml, the
# built CLI (npm run build) and the native addon. Runs as root, or as a user with sudo for the
# daemons. Environment: SLURM_TEST_KEEP=1 keeps the temp dir; SLURM_TEST_SHARDS (default 4).
set -euo pipefail
T0=$(date +%s%N)
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
SHARDS="${SLURM_TEST_SHARDS:-4}"
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
say() { printf 'test:slurm %6.1fs  %s\n' "$(( ($(date +%s%N) - T0) / 1000000 ))e-3" "$*"; }

missing=()
for c in slurmctld slurmd sbatch squeue scontrol munged munge node python3; do command -v "$c" >/dev/null || missing+=("$c"); done
# The YAML check needs PyYAML: the python3 on PATH may be another one than Debian's (pyenv).
PYTHON_YAML=""
for p in python3 /usr/bin/python3; do
  command -v "$p" >/dev/null && "$p" -c 'import yaml' 2>/dev/null && { PYTHON_YAML=$(command -v "$p"); break; }
done
[ -n "$PYTHON_YAML" ] || missing+=("python3-yaml")
export PYTHON_YAML
if [ ${#missing[@]} -gt 0 ]; then
  echo "test:slurm: missing ${missing[*]} (Debian: apt-get install slurm-wlm munge python3-yaml)" >&2
  exit 1
fi
[ -f "$ROOT/dist/cli/main.js" ] || { echo "test:slurm: dist/ is not built (npm run build)" >&2; exit 1; }

# munged wants execute permission for all on its socket's directories; the key stays 0400 in a 0700 dir.
WORK=$(mktemp -d "${TMPDIR:-/tmp}/riverbed-slurm.XXXXXX")
chmod 755 "$WORK"
C="$WORK/cluster"
mkdir -p "$C/key" "$C/run" "$C/log" "$C/state" "$C/spool" "$WORK/bin" "$WORK/ref"
chmod 700 "$C/key"
export SLURM_CONF="$C/slurm.conf"

teardown() {
  local rc=$?
  set +e
  # The daemons this script started, by the pids they wrote (read now: a stopping daemon removes its file).
  local pids="" p
  for p in "$C/run/slurmctld.pid" "$C/run/slurmd.pid" "$C/run/munged.pid"; do
    [ -s "$p" ] && pids="$pids $(cat "$p")"
  done
  if [ -s "$C/run/slurmctld.pid" ]; then
    # A failed run shows what the jobs said before the logs go.
    if [ "$rc" -ne 0 ]; then
      for f in "$WORK"/cld/logs/* "$WORK"/landscape/logs/* "$C"/log/slurmctld.log; do
        [ -f "$f" ] && { echo "----- $f"; tail -n 20 "$f"; }
      done
    fi
    # Jobs first (slurmd would wait for running steps), then the daemons.
    scancel --quiet --full $(squeue -h -o %A 2>/dev/null) 2>/dev/null
    for i in $(seq 1 100); do [ -z "$(squeue -h 2>/dev/null)" ] && break; sleep 0.1; done
    scontrol shutdown >/dev/null 2>&1 # slurmctld and slurmd
  fi
  [ -S "$C/run/munge.socket" ] && $SUDO munged --stop --socket="$C/run/munge.socket" >/dev/null 2>&1
  for i in $(seq 1 50); do
    local alive=""
    for p in $pids; do kill -0 "$p" 2>/dev/null && alive="$alive $p"; done
    [ -z "$alive" ] && break
    [ "$i" -eq 50 ] && $SUDO kill -9 $alive 2>/dev/null
    sleep 0.1
  done
  # A job step that outlived its slurmd: its command line names this run's unique temp dir.
  for p in $(pgrep -f -- "$WORK/" 2>/dev/null); do [ "$p" != $$ ] && $SUDO kill -9 "$p" 2>/dev/null; done
  local kept="temp state removed"
  if [ "${SLURM_TEST_KEEP:-0}" = 1 ]; then kept="temp state kept in $WORK"; else $SUDO rm -rf "$WORK"; fi
  say "$([ "$rc" -eq 0 ] && echo "passed" || echo "FAILED (exit $rc)"); cluster stopped, $kept"
}
trap teardown EXIT
trap 'exit 130' INT TERM

# --- the cluster ---------------------------------------------------------------------------------
dd if=/dev/urandom of="$C/key/munge.key" bs=1024 count=1 status=none
chmod 400 "$C/key/munge.key"
$SUDO munged --key-file="$C/key/munge.key" --socket="$C/run/munge.socket" --pid-file="$C/run/munged.pid" \
  --log-file="$C/log/munged.log" --seed-file="$C/key/munged.seed"
read -r CTLD_PORT SLURMD_PORT < <(python3 -c 'import socket
s = [socket.socket() for _ in range(2)]
for x in s: x.bind(("127.0.0.1", 0))
print(*[x.getsockname()[1] for x in s])')
# The node as slurmd sees it (CPUs, memory), named localhost.
NODE=$(slurmd -C | head -n 1 | sed -e 's/^NodeName=[^ ]*/NodeName=localhost NodeAddr=127.0.0.1/' -e 's/ UpTime=.*//')
cat >"$SLURM_CONF" <<EOF
# single-node test cluster of riverbed's test/slurm/run.sh (no systemd, no cgroups)
ClusterName=riverbedtest
SlurmctldHost=localhost
SlurmctldPort=$CTLD_PORT
SlurmdPort=$SLURMD_PORT
SlurmUser=$(id -un)
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$C/run/munge.socket
StateSaveLocation=$C/state
SlurmdSpoolDir=$C/spool
SlurmctldPidFile=$C/run/slurmctld.pid
SlurmdPidFile=$C/run/slurmd.pid
SlurmctldLogFile=$C/log/slurmctld.log
SlurmdLogFile=$C/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MpiDefault=none
SwitchType=switch/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
ReturnToService=2
MinJobAge=600
# Schedule as soon as a task ends (the default leaves ~3 s between rounds of tasks).
SchedulerParameters=sched_min_interval=0,batch_sched_delay=0
$NODE State=UNKNOWN
PartitionName=main Nodes=localhost Default=YES MaxTime=INFINITE State=UP
EOF
$SUDO slurmctld -f "$SLURM_CONF"
$SUDO slurmd -f "$SLURM_CONF" -N localhost
for i in $(seq 1 100); do
  [ "$(sinfo -h -n localhost -o %T 2>/dev/null)" = idle ] && break
  [ "$i" -eq 100 ] && { echo "test:slurm: the node did not come up idle: $(sinfo -h -o '%T %E' 2>&1)" >&2; exit 1; }
  sleep 0.2
done
say "cluster up: $(sinfo -h -o '%P %D node %c CPUs %m MB %T') (slurmctld :$CTLD_PORT, slurmd :$SLURMD_PORT)"

# --- inputs: a short recorded MNIST run (trajectories for CLD, weights for the landscape) -------
# `riverbed` is the built CLI; sbatch passes this PATH to the jobs (--export=ALL by default).
printf '#!/bin/sh\nexec %q %q "$@"\n' "$(command -v node)" "$ROOT/dist/cli/main.js" >"$WORK/bin/riverbed"
chmod 755 "$WORK/bin/riverbed"
export PATH="$WORK/bin:$PATH"
riverbed train --dataset mnist --train-size 2000 --val-size 500 --epochs 5 --hidden 32 --seed 1 \
  --backend native --record "$WORK/cld" --save "$WORK/w.safetensors" >"$WORK/ref/train.log"
mkdir -p "$WORK/landscape" && mv "$WORK/w.safetensors" "$WORK/landscape/"
mkdir -p "$WORK/cld/logs" "$WORK/landscape/logs"
say "inputs: 2000 MNIST digits × 5 epochs recorded, weights saved"

# --- the docs' jobs, on the cluster --------------------------------------------------------------
submit() { sbatch --parsable "$@" | cut -d';' -f1; }
CLD_ARRAY=$(submit --array=0-$((SHARDS - 1)) --chdir="$WORK/cld" --export=ALL,DATA="$WORK/cld" "$ROOT/examples/slurm/cld-shards.sbatch")
CLD_MERGE=$(submit --dependency=afterok:"$CLD_ARRAY" --chdir="$WORK/cld" --export=ALL,DATA="$WORK/cld" "$ROOT/examples/slurm/cld-merge.sbatch")
LS_ARRAY=$(submit --array=0-$((SHARDS - 1)) --chdir="$WORK/landscape" --export=ALL,RUN="$WORK/landscape" "$ROOT/examples/slurm/landscape-shards.sbatch")
LS_MERGE=$(submit --dependency=afterok:"$LS_ARRAY" --chdir="$WORK/landscape" --export=ALL,RUN="$WORK/landscape" "$ROOT/examples/slurm/landscape-merge.sbatch")
say "submitted: cld array $CLD_ARRAY (0-$((SHARDS - 1))) → merge $CLD_MERGE; landscape array $LS_ARRAY → merge $LS_MERGE"

# --- the references: one in-memory run of the same commands, one thread, meanwhile --------------
RIVERBED_THREADS=1 riverbed coreset cld --train-loss "$WORK/cld/train_loss.npy" --train-labels "$WORK/cld/train_labels.npy" \
  --val-loss "$WORK/cld/val_loss.npy" --val-labels "$WORK/cld/val_labels.npy" --backend native \
  --fraction 0.1 --out "$WORK/ref/cld-whole.json" --indices-npy "$WORK/ref/cld-whole.npy" \
  --scores "$WORK/ref/cld-scores.npy" >/dev/null
RIVERBED_THREADS=1 riverbed landscape slice --weights "$WORK/landscape/w.safetensors" --dataset mnist --samples 2000 \
  --grid 51x51 --seed 0 --backend native --out "$WORK/ref/landscape-whole.json" >/dev/null
say "references computed (one process each, unsharded)"

# --- wait for the merges; every job must have COMPLETED ------------------------------------------
state() { scontrol -o show job "$1" 2>/dev/null | grep -o 'JobState=[A-Z_]*' | cut -d= -f2 | sort | uniq -c | tr -s ' ' | paste -sd, -; }
deadline=$(( $(date +%s) + ${SLURM_TEST_TIMEOUT:-300} ))
while [ -n "$(squeue -h -j "$CLD_MERGE,$LS_MERGE" 2>/dev/null)" ]; do
  [ "$(date +%s)" -lt "$deadline" ] || { echo "test:slurm: jobs still queued after the timeout: $(squeue 2>&1)" >&2; exit 1; }
  sleep 0.5
done
for j in "$CLD_ARRAY" "$CLD_MERGE" "$LS_ARRAY" "$LS_MERGE"; do
  if scontrol -o show job "$j" | grep -o 'JobState=[A-Z_]*' | grep -qv 'JobState=COMPLETED'; then
    echo "test:slurm: job $j did not complete: $(state "$j")" >&2
    exit 1
  fi
done
say "all jobs COMPLETED: cld array $(state "$CLD_ARRAY"), landscape array $(state "$LS_ARRAY"), both merges"

# --- the checks ----------------------------------------------------------------------------------
node "$ROOT/test/slurm/check.mjs" cld "$WORK"
node "$ROOT/test/slurm/check.mjs" landscape "$WORK"
node "$ROOT/test/slurm/check.mjs" kube "$WORK" "$ROOT"
say "done"
