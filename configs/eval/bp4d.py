"""AU evaluation on BP4D-Spontaneous: 12 AUs, its standard 3 subject-exclusive folds.

Build the corpus first (it reads your licensed copy; data_builders/bp4d/README.md):
  clp-data build bp4d --config labelled --manual_dir /path/to/BP4D --data_dir ~/clp_jax_data
Run:
  clp-eval --encoder exports/clp --config configs/eval/bp4d.py --workdir runs/eval_bp4d \\
      --config.data.data_dir=~/clp_jax_data

The protocol, probe and baselines are those of configs/eval/synthetic_au.py; occurrence labels of
9 (unknown) are stored as -1 and left out of every F1 and every loss.
"""

import os

from clp_jax import config_files


def get_config(arg: str = ""):
  """arg: as configs/eval/synthetic_au.py's ('' linear probe with baselines, 'finetune', ...);
  'dummy' runs on the builder's layout-exact dummy data in seconds (tests)."""
  c = config_files.load(os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                     "synthetic_au.py"), "tiny" if arg == "dummy" else arg)
  c.data.update(name="bp4d", config="labelled", split="part1+part2+part3")
  if arg == "dummy":
    c.image_size = 64
  return c
