#!/usr/bin/env bash
# Usage: launch/local_multiprocess.sh N WORKDIR [extra clp-pretrain flags...]
# N processes on this machine, each with 2 CPU devices, coordinated on localhost.
set -euo pipefail
n=$1 workdir=$2; shift 2
export JAX_COORDINATOR_ADDRESS=localhost:12355 JAX_NUM_PROCESSES=$n JAX_PLATFORMS=cpu
export XLA_FLAGS=--xla_force_host_platform_device_count=2
pids=()
for ((i = 0; i < n; i++)); do
  JAX_PROCESS_ID=$i clp-pretrain --config configs/default.py --workdir "$workdir" \
    --config.distributed=True --config.global_batch_size=$((4 * n)) "$@" &
  pids+=($!)
done
for pid in "${pids[@]}"; do wait "$pid"; done
