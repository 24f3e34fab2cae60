#!/usr/bin/env bash
# Usage: launch/tpu_pod.sh TPU_NAME ZONE WORKDIR [extra clp-pretrain flags...]
# Runs CLP pretraining on every worker of a TPU VM pod slice. The repo must be checked out and
# installed (pip install -e .) at ~/clp_jax on every worker, and the data_dir readable by all.
set -euo pipefail
tpu=$1 zone=$2 workdir=$3; shift 3
chips=$(gcloud compute tpus tpu-vm describe "$tpu" --zone "$zone" --format='value(acceleratorType)' | grep -o '[0-9]*$')
gcloud compute tpus tpu-vm ssh "$tpu" --zone "$zone" --worker=all --command \
  "cd ~/clp_jax && clp-pretrain --config configs/voxceleb_pretrain.py:chips=$chips --workdir $workdir --config.distributed=True $*"
