"""clp-pretrain: CLP pretraining from an ml_collections config.

  clp-pretrain --config configs/default.py --workdir runs/default [--config.key=value ...]

Rerunning the same command resumes from the workdir's latest checkpoint (also on another number
of devices). SIGTERM saves a checkpoint and exits cleanly.
"""


from absl import app
from absl import flags
from absl import logging
from ml_collections import config_flags

from clp_jax import command
from clp_jax.pretrain import train

_CONFIG = config_flags.DEFINE_config_file("config", None, "Path to an ml_collections config file.",
                                          lock_config=True)
_WORKDIR = flags.DEFINE_string("workdir", None, "Where checkpoints and TensorBoard logs go.")
flags.mark_flags_as_required(["config", "workdir"])


def _main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
  logging.set_verbosity(logging.INFO)
  train.train(_CONFIG.value, _WORKDIR.value)


def main():
  command.run("clp-pretrain", _main, errors=(train.NonFiniteLossError,))


if __name__ == "__main__":
  main()
