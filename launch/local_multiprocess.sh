#!/usr/bin/env bash
# N processes of one multi-host run on this machine, coordinated on localhost: a rehearsal of a
# TPU pod or GPU cluster run, and what the two-process tests run.
#
# Usage: launch/local_multiprocess.sh [--dry_run] N -- clp-pretrain --config CONFIG --workdir DIR [flags...]
#   N           processes; each gets CLP_LOCAL_DEVICES CPU devices (default 2)
#   --dry_run   print the commands, with their environment, and run nothing
# Environment: JAX_COORDINATOR_ADDRESS (default localhost:12355), CLP_LOCAL_DEVICES.
#
# Every process runs the same command with --config.distributed=True; process i gets
# JAX_PROCESS_ID=i. The global batch (config.global_batch_size) is split over all N x devices.
# If a process fails or is killed, the others are stopped and the script exits with that status:
# run the same command again and every process resumes from the last checkpoint in the workdir.
set -euo pipefail
usage() { sed -n '5,9p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
dry_run=0
if [[ ${1:-} == --dry_run ]]; then dry_run=1; shift; fi
[[ $# -ge 3 && ${2:-} == -- && ${1:-} =~ ^[1-9][0-9]*$ ]] || usage
n=$1; shift 2
address=${JAX_COORDINATOR_ADDRESS:-localhost:12355}
devices=${CLP_LOCAL_DEVICES:-2}
env_for() {
  echo "JAX_COORDINATOR_ADDRESS=$address JAX_NUM_PROCESSES=$n JAX_PROCESS_ID=$1 JAX_PLATFORMS=cpu" \
       "XLA_FLAGS=--xla_force_host_platform_device_count=$devices"
}
if ((dry_run)); then
  for ((i = 0; i < n; i++)); do
    echo "$(env_for "$i") $* --config.distributed=True"
  done
  exit 0
fi
pids=()
signal_all() { for pid in "${pids[@]}"; do kill "-$1" "$pid" 2>/dev/null || true; done; }
# SIGTERM or Ctrl-C to the launcher: passed on to every process, which save one common step and
# exit (JAX's preemption service), as on a preempted cluster.
trap 'signal_all TERM; wait; exit 143' TERM INT
for ((i = 0; i < n; i++)); do
  env $(env_for "$i") "$@" --config.distributed=True &
  pids+=($!)
done
for ((left = n; left > 0; left--)); do
  # The first process to end decides: a failure stops the rest (they would wait in a collective).
  status=0
  wait -n || status=$?
  if ((status)); then
    # The others cannot save without it (checkpoints are collective) and would wait in the next
    # collective until JAX's heartbeat timeout: stop them now; the last checkpoint is the state.
    echo "local_multiprocess: a process exited with status $status; stopping the others" >&2
    signal_all KILL
    wait || true
    exit "$status"
  fi
done
