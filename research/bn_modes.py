"""The CLP loss of a pretraining checkpoint with batch norm in training mode (each batch's own
statistics, as the step optimises it) and in inference mode (the running statistics, as the
exported encoder and the AU probe use it), on the same fixed clips. Prints a table.

  python research/bn_modes.py --workdir runs/long/clp --config configs/default.py:long \\
      --steps 250,1000,2000 [--batches 4]

A loss far lower in training mode than in inference mode says the encoder the step improves is
not the one that is exported: its features depend on the statistics of the batch they sit in.
"""

import argparse
import functools
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import jax  # pylint: disable=g-import-not-at-top
import numpy as np  # pylint: disable=g-import-not-at-top

from clp_jax import config_files  # pylint: disable=g-import-not-at-top
from clp_jax import sharding  # pylint: disable=g-import-not-at-top
from clp_jax.pretrain import checkpoint  # pylint: disable=g-import-not-at-top
from clp_jax.pretrain import objective  # pylint: disable=g-import-not-at-top
from clp_jax.pretrain import step as step_lib  # pylint: disable=g-import-not-at-top
from clp_jax.pretrain import validation  # pylint: disable=g-import-not-at-top


def main():
  p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  p.add_argument("--workdir", required=True)
  p.add_argument("--config", default="configs/default.py:long")
  p.add_argument("--steps", default="2000")
  p.add_argument("--batches", type=int, default=4)
  p.add_argument("--data_dir", default="data")
  args = p.parse_args()
  path, _, arg = args.config.partition(":")
  config = config_files.load(path, arg)
  config.data.data_dir = args.data_dir
  mesh = sharding.make_mesh(config.num_devices)
  clp = step_lib.sharded_step(config, mesh)
  mngr = checkpoint.manager(args.workdir, 100)
  batches = {"seen": validation.fixed_batches(config, config.data.split, args.batches),
             "held-out": validation.fixed_batches(config, config.validation.split, args.batches)}
  modes = {}
  for train in (True, False):
    fn = functools.partial(objective.loss_fn, model=clp.model, config=config, train=train)
    modes[train] = jax.jit(lambda s, b, fn=fn: fn(s.params, s, b)[1][0])
  print("| step | clips | loss, BN training mode | loss, BN inference mode | InfoNCE train / "
        "inference | temporal margin train / inference |")
  print("|---|---|---|---|---|---|")
  for step in [int(s) for s in args.steps.split(",")]:
    state, _ = checkpoint.restore(mngr, step, clp.abstract_state, clp.state_sharding, None)
    for name, bs in batches.items():
      m = {t: {} for t in modes}
      for t, fn in modes.items():
        for b in bs:
          for k, v in jax.device_get(fn(state, sharding.global_batch(b, mesh))).items():
            m[t].setdefault(k, []).append(float(v))
      mean = {t: {k: np.mean(v) for k, v in m[t].items()} for t in m}
      print(f"| {step} | {name} | {mean[True]['loss']:.3f} | {mean[False]['loss']:.3f} | "
            f"{mean[True]['infonce']:.3f} / {mean[False]['infonce']:.3f} | "
            f"{mean[True]['temporal_margin']:.3f} / {mean[False]['temporal_margin']:.3f} |")


if __name__ == "__main__":
  main()
