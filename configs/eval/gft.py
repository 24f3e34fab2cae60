"""AU evaluation on GFT: the 10 AUs AU papers use, 3 subject-exclusive folds (the layout's
partition, or a hashed balanced split; data_builders/gft/README.md).

Build the corpus first (it reads your licensed copy; data_builders/gft/README.md):
  clp-data build gft --config labelled --manual_dir /path/to/GFT --data_dir ~/clp_jax_data
Run:
  clp-eval --encoder exports/clp --config configs/eval/gft.py --workdir runs/eval_gft \\
      --config.data.data_dir=~/clp_jax_data

The protocol, probe and baselines are those of configs/eval/synthetic_au.py.
"""

import os

from clp_jax import config_files


def get_config(arg: str = ""):
  """arg: as configs/eval/synthetic_au.py's ('' linear probe with baselines, 'finetune', ...);
  'dummy' runs on the builder's layout-exact dummy data in seconds (tests)."""
  c = config_files.load(os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                     "synthetic_au.py"), "tiny" if arg == "dummy" else arg)
  c.data.update(name="gft", config="labelled", split="part1+part2+part3")
  if arg == "dummy":
    c.image_size = 64
  return c
