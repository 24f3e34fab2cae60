"""clp-eval: the standard AU protocol for exported encoders, with baselines, as a report.

  clp-eval --encoder exports/clp --encoder exports/clp_nocir \\
      --config configs/eval/synthetic_au.py --workdir runs/eval
  clp-eval --encoder exports/clp --config configs/eval/synthetic_au.py:finetune --workdir runs/ft

Protocols (config.protocol): `linear` (frozen encoder, a logistic layer per AU on its features)
and `finetune` (the encoder and a fresh AU layer trained end to end on the training folds, for
config.finetune.steps; random_init is then the same training from untrained weights).

Writes report.json, report.md and f1_per_au.png into --workdir and prints the table; with
config.predictions, each encoder's per-frame out-of-fold AU predictions go to
--workdir/predictions/<name>.csv (`clp_jax.eval.predictions`). Every report
holds the baselines of config.baselines next to the encoders given: `random_init` (the same
architecture untrained) and `supervised` (the same architecture trained on the training folds'
labels: the upper bound).
"""


from absl import app
from absl import flags
from ml_collections import config_flags

from clp_jax import command
from clp_jax.eval import runner

_CONFIG = config_flags.DEFINE_config_file("config", None, "An eval config (configs/eval/*.py).")
_ENCODERS = flags.DEFINE_multi_string("encoder", [], "Exported encoder directories (clp-export).")
_NAMES = flags.DEFINE_multi_string("name", [], "Display names of the encoders, in order.")
_WORKDIR = flags.DEFINE_string("workdir", None, "Where the report goes.")
flags.mark_flags_as_required(["config", "workdir"])


def _main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
  runner.run(_CONFIG.value, _ENCODERS.value, _NAMES.value, _WORKDIR.value)


def main():
  command.run("clp-eval", _main)


if __name__ == "__main__":
  main()
