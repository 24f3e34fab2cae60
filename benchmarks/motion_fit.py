"""How much of the change between a clip's frames TCAE's motion fields learn to explain.

Trains `configs/default.py` with the motion loss alone (`loss.motion`, no within-clip or CIR
terms; constant learning rate, no warm-up) on the pretraining clips as the training loop reads
them (one view per clip), and prints, every --every steps, the means over those steps of:
  static     |frame t - frame t+gap| (no motion; block means of motion_pool pixels)
  pose only  the same after the head's field alone
  photo      after the head's and the face's fields (what the loss minimises)
  face field the face field's mean |dy| + |dx| in pixels
--fixed trains on one batch again and again (can the fields fit it at all?); without it every
step takes a new batch (do they learn something that carries to new clips?).

  python benchmarks/motion_fit.py --data_dir data [--fixed] [--steps 200] [--gap 6]
"""

import argparse
import time

import jax
import numpy as np

from clp_jax import config_files
from clp_jax import sharding
from clp_jax import step as step_lib
from clp_jax.data import pipeline
from clp_jax.data import sources

COLUMNS = (("static", "motion_static"), ("pose only", "motion_pose_only"),
           ("photo", "motion_photo"), ("face field (px)", "motion_au_flow"))


def main():
  p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  p.add_argument("--data_dir", default="data")
  p.add_argument("--steps", type=int, default=200)
  p.add_argument("--every", type=int, default=25)
  p.add_argument("--gap", type=int, default=6, help="loss.motion_gap")
  p.add_argument("--weight", type=float, default=4.0, help="loss.motion")
  p.add_argument("--sparsity", type=float, default=0.001, help="loss.motion_sparsity")
  p.add_argument("--fixed", action="store_true", help="one batch, trained on again and again")
  p.add_argument("--seed", type=int, default=0)
  args = p.parse_args()

  c = config_files.load("configs/default.py", "")
  c.data.data_dir = args.data_dir
  for term in ("temporal_margin", "infonce", "cir", "recon"):
    c.loss[term] = 0.0
  c.loss.motion, c.loss.motion_sparsity, c.loss.motion_gap = args.weight, args.sparsity, args.gap
  c.optimizer.warmup_steps = 0
  c.num_steps = 100 * args.steps  # the cosine schedule then stays near its peak
  mesh = sharding.make_mesh(1)
  clp = step_lib.sharded_step(c, mesh)
  state = clp.init(jax.random.key(args.seed))
  source, _ = sources.open_source(c.data.name, c.data.config, c.data.split, c.data.data_dir)
  batches = iter(pipeline.pretrain_dataset_from_config(source, c, seed=args.seed + 1,
                                                       shard=pipeline.shard_options(0, 1)))
  fixed = sharding.global_batch(next(batches), mesh) if args.fixed else None
  rows, window, start = [], [], time.time()
  for i in range(1, args.steps + 1):
    batch = fixed if args.fixed else sharding.global_batch(next(batches), mesh)
    state, metrics = clp.step(state, batch)
    window.append(jax.device_get(metrics))
    if i % args.every == 0:
      rows.append((i, {k: float(np.mean([m[key] for m in window])) for k, key in COLUMNS}))
      window = []
      print(f"step {i}: {rows[-1][1]} ({time.time() - start:.0f} s)", flush=True)
  kind = "one batch again and again" if args.fixed else "a new batch every step"
  print(f"\nMotion loss alone, {kind}; gap {args.gap}, weight {args.weight}, sparsity "
        f"{args.sparsity}, seed {args.seed}, {jax.devices()[0].platform}:\n")
  print("| steps | " + " | ".join(k for k, _ in COLUMNS) + " | photo / static |")
  print("|---|" + "---|" * (len(COLUMNS) + 1))
  for i, r in rows:
    print(f"| {i - args.every + 1}-{i} | " + " | ".join(f"{r[k]:.4f}" for k, _ in COLUMNS)
          + f" | {r['photo'] / r['static']:.3f} |")


if __name__ == "__main__":
  main()
