"""clp-pretrain: CLP pretraining from an ml_collections config.

  clp-pretrain --config configs/default.py --workdir runs/default [--config.key=value ...]

Rerunning the same command resumes from the workdir's latest checkpoint (also on another number
of devices). SIGTERM saves a checkpoint and exits cleanly.
"""

import sys

from absl import app
from absl import flags
from absl import logging
from ml_collections import config_flags

from clp_jax import xla_cpu
from clp_jax.pretrain import train

_CONFIG = config_flags.DEFINE_config_file("config", None, "Path to an ml_collections config file.",
                                          lock_config=True)
_WORKDIR = flags.DEFINE_string("workdir", None, "Where checkpoints and TensorBoard logs go.")
flags.mark_flags_as_required(["config", "workdir"])


def _main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
  logging.set_verbosity(logging.INFO)
  try:
    train.train(_CONFIG.value, _WORKDIR.value)
  except (train.NonFiniteLossError, FileNotFoundError, ValueError) as e:
    print(f"clp-pretrain: error: {e}", file=sys.stderr)
    sys.exit(2)


def main():
  xla_cpu.configure()  # before JAX starts its backend: this process's XLA:CPU flags
  app.run(_main)


if __name__ == "__main__":
  main()
