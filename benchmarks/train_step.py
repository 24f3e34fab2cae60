"""The CLP train step on this CPU: clp_jax next to a plain PyTorch version, in one run.

  pip install -e ".[bench]"     # torch, for the comparison only
  python benchmarks/train_step.py --clips 4 --image_size 112

Both sides run the same model (ResNet-18, AU/person/projection heads, CIR decoder) and losses
(temporal margin + within-clip InfoNCE on every frame, reconstruction and CIR on 2 frames per
clip) at the same batch and input size, in float32, with AdamW. The PyTorch side resizes whole
frames (no per-frame random crop); clp_jax applies its per-frame views inside the step. Prints
images/s, achieved GFLOP/s (XLA's count of the step's FLOPs) and the fraction of the CPU's fp32
peak (cores x clock x 32 FLOP/cycle: two 8-wide FMA units; 64 where AVX-512 is present).
"""

import argparse
import functools
import os
import time

import jax
import numpy as np

from clp_jax import config_files
from clp_jax import sharding
from clp_jax import xla_cpu
from clp_jax.pretrain import step as step_lib


def cpu_peak_gflops() -> tuple:
  mhz, flags = [], ""
  with open("/proc/cpuinfo") as f:
    for line in f:
      if line.startswith("cpu MHz"):
        mhz.append(float(line.split(":")[1]))
      elif line.startswith("flags") and not flags:
        flags = line
  per_cycle = 64 if "avx512f" in flags else 32
  cores = os.cpu_count()
  return cores * max(mhz) / 1e3 * per_cycle, f"{cores} cores x {max(mhz) / 1e3:.2f} GHz x {per_cycle}"


def random_batch(clips: int, frames: int, stored_size: int) -> dict:
  """A pretraining batch of random pixels: clip [B, K, S, S, 3] uint8, one centred view per frame,
  frames 2 apart, a subject and video per clip."""
  rng = np.random.default_rng(0)
  s = stored_size
  return {"clip": rng.integers(0, 256, (clips, frames, s, s, 3), dtype=np.uint8),
          "view": np.tile(np.array([4, 4, s - 8, s - 8, 0, 1, 1, 1], np.float32),
                          (clips, frames, 1)),
          "frame_index": np.tile(np.arange(frames, dtype=np.int32) * 2, (clips, 1)),
          "subject_id": np.arange(clips, dtype=np.int32),
          "video_key": np.arange(clips, dtype=np.int32)}


def jax_step(args):
  c = config_files.load(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "configs",
                                     "default.py"))
  c.image_size, c.global_batch_size = args.image_size, args.clips
  mesh = sharding.make_mesh(1)
  clp = step_lib.sharded_step(c, mesh)
  state, step = clp.init(jax.random.key(0)), clp.step
  batch = sharding.global_batch(random_batch(args.clips, args.frames, args.stored_size), mesh)
  lowered = step.lower(state, batch)
  cost = lowered.cost_analysis()
  flops = float((cost[0] if isinstance(cost, (list, tuple)) else cost)["flops"])
  compiled = lowered.compile()
  for _ in range(2):
    state, m = compiled(state, batch)
  jax.block_until_ready(m)
  start = time.perf_counter()
  for _ in range(args.steps):
    state, m = compiled(state, batch)
  jax.block_until_ready(m)
  return (time.perf_counter() - start) / args.steps, flops


def torch_step(args):
  import torch  # pylint: disable=g-import-not-at-top
  import torch_clp  # pylint: disable=g-import-not-at-top  (beside this script)
  torch.manual_seed(0)
  model = torch_clp.CLPModel()
  opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=1e-4)
  k, s = args.frames, args.stored_size
  clip = torch.randint(0, 256, (args.clips, k, 3, s, s), dtype=torch.uint8)
  t = torch.arange(k).repeat(args.clips, 1) * 2
  step = functools.partial(torch_clp.train_step, model, opt, clip, t, args.image_size)
  for _ in range(2):
    step()
  start = time.perf_counter()
  for _ in range(args.steps):
    step()
  return (time.perf_counter() - start) / args.steps, torch.__version__


def main():
  xla_cpu.configure()  # this project's XLA:CPU flags, as clp-pretrain applies them
  parser = argparse.ArgumentParser(description=__doc__)
  parser.add_argument("--clips", type=int, default=4)
  parser.add_argument("--frames", type=int, default=8)
  parser.add_argument("--image_size", type=int, default=112)
  parser.add_argument("--stored_size", type=int, default=128)
  parser.add_argument("--steps", type=int, default=5)
  args = parser.parse_args()
  peak, how = cpu_peak_gflops()
  frames = args.clips * args.frames
  jax_dt, flops = jax_step(args)
  rows = [(f"clp_jax (jax {jax.__version__})", jax_dt)]
  try:
    torch_dt, version = torch_step(args)
    rows.append((f"plain PyTorch {version}", torch_dt))
  except ImportError as e:
    print(f"PyTorch comparison skipped: {e} (pip install -e '.[bench]')")
  print(f"\nCPU: {how} = {peak:.0f} GFLOP/s fp32 peak; batch {args.clips} clips x {args.frames} "
        f"frames at {args.image_size}px; step FLOPs (XLA count) {flops / 1e9:.1f} G\n")
  print("| implementation | step s | images/s | achieved GFLOP/s | of peak | vs PyTorch |")
  print("|---|---|---|---|---|---|")
  base = rows[-1][1] if len(rows) > 1 else None  # PyTorch's step, where it ran
  for name, dt in rows:
    print(f"| {name} | {dt:.3f} | {frames / dt:.1f} | {flops / dt / 1e9:.1f} | "
          f"{flops / dt / 1e9 / peak:.1%} | {f'{base / dt:.2f}x' if base else '-'} |")


if __name__ == "__main__":
  main()
