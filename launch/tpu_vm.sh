#!/usr/bin/env bash
# CLP pretraining on every worker (host) of a Cloud TPU VM slice.
#
# Usage: launch/tpu_vm.sh [--dry_run] [--accelerator TYPE] [--no_install] TPU_NAME ZONE WORKDIR [clp-pretrain flags...]
#   --accelerator TYPE  the slice's accelerator type (v4-32, v5litepod-16, ...); read with
#                       `gcloud compute tpus tpu-vm describe` when not given
#   --no_install        skip copying and installing this checkout on the workers
#   --dry_run           print the gcloud commands and run nothing
# WORKDIR must be storage every worker reads and writes (gs://...), and so must the data_dir.
#
# Steps: (1) copy this checkout to ~/clp_jax on every worker and pip install it with jax[tpu];
# (2) run the same clp-pretrain command on every worker (--worker=all) with
# --config.distributed=True; JAX finds the coordinator and process ids on TPU VMs itself.
# The config is configs/voxceleb_pretrain.py:devices=D, D the slice's JAX devices: one per chip on
# v4, v5p, v5e and v6e, one per TensorCore on v2 and v3. The accelerator type's number counts
# TensorCores on v2, v3, v4 and v5p (2 per chip) and chips on v5e and v6e, so v4-32 is 16 devices.
# Rerunning the same command after a preemption resumes from WORKDIR's last checkpoint.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
usage() { sed -n '4,10p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
dry_run=0 install=1 accelerator=
while [[ ${1:-} == --* ]]; do
  case $1 in
    --dry_run) dry_run=1; shift ;;
    --no_install) install=0; shift ;;
    --accelerator) accelerator=${2:?--accelerator needs a type}; shift 2 ;;
    *) echo "tpu_vm.sh: unknown option $1" >&2; usage ;;
  esac
done
[[ $# -ge 3 ]] || usage
tpu=$1 zone=$2 workdir=$3; shift 3
run() { if ((dry_run)); then printf '%q ' "$@"; echo; else "$@"; fi; }

if [[ -z $accelerator ]]; then
  if ((dry_run)); then
    echo "tpu_vm.sh: --dry_run needs --accelerator TYPE (it does not call gcloud describe)" >&2
    exit 2
  fi
  accelerator=$(gcloud compute tpus tpu-vm describe "$tpu" --zone "$zone" \
      --format='value(acceleratorType)')
fi
# JAX devices of the slice, from the accelerator type (see above).
if [[ ! $accelerator =~ ^(v[0-9]+[a-z]*|v5litepod)-([0-9]+)$ ]]; then
  echo "tpu_vm.sh: cannot read a device count from accelerator type '$accelerator'" \
       "(expected e.g. v4-32, v5p-128, v5litepod-16, v6e-64)" >&2
  exit 2
fi
generation=${BASH_REMATCH[1]} count=${BASH_REMATCH[2]}
case $generation in
  v4 | v5p) devices=$((count / 2)) ;;             # TensorCores, 2 per chip, 1 device per chip
  v2 | v3 | v5litepod | v5e | v6e) devices=$count ;;  # v2/v3: a device per core; v5e/v6e: chips
  *) echo "tpu_vm.sh: unknown TPU generation '$generation' in '$accelerator'" >&2; exit 2 ;;
esac
echo "tpu_vm.sh: $accelerator -> $devices JAX devices" >&2

ssh_all() { run gcloud compute tpus tpu-vm ssh "$tpu" --zone "$zone" --worker=all --command "$1"; }
if ((install)); then
  ssh_all "mkdir -p ~/clp_jax"
  run gcloud compute tpus tpu-vm scp --zone "$zone" --worker=all --recurse \
      "$here/setup.py" "$here/clp_jax" "$here/configs" "$here/data_builders" "$tpu:~/clp_jax/"
  ssh_all "cd ~/clp_jax && python3 -m pip install -q -e . 'jax[tpu]==0.10.2'"
fi
flags=$(printf '%q ' "$@")
ssh_all "cd ~/clp_jax && clp-pretrain --config configs/voxceleb_pretrain.py:devices=$devices \
--workdir $workdir --config.distributed=True $flags"
