"""The full CLP train step on one accelerator: images/s and MFU, printed as a markdown table.

  python benchmarks/gpu_step.py                       # ResNet-18, 112px, 32 clips x 8 frames, bf16
  python benchmarks/gpu_step.py --image_size 224 --clips 32
  python benchmarks/gpu_step.py --small               # a CPU smoke run of the script itself

The batch is random pixels and views of the same shapes the pipeline yields, so the figure is the
step alone (views, encoder, heads, losses, CIR decode + re-encode, optax). Model FLOPs come from
XLA's cost analysis of the lowered (unoptimised) step; MFU divides the achieved FLOP/s by the chip's dense
bf16 peak (H100/H200 SXM: 989 TFLOP/s), or by --peak_tflops.
"""

import argparse
import os
import time

import jax
import numpy as np

from clp_jax import config_files
from clp_jax import sharding
from clp_jax.pretrain import step as step_lib

PEAK_BF16_TFLOPS = {"H100": 989.0, "H200": 989.0, "A100": 312.0, "L4": 121.0, "TPU v5 lite": 197.0,
                    "TPU v4": 275.0, "TPU v5p": 459.0}


def _config(args):
  path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "configs", "default.py")
  c = config_files.load(path, "runlocal" if args.small else "")
  c.image_size = args.image_size
  c.global_batch_size = args.clips
  c.model.depth = args.depth
  c.model.dtype = args.dtype
  c.num_steps = 1000
  return c


def _batch(clips, k, stored, rng):
  views = np.tile(np.array([0, 0, stored, stored, 0, 1, 1, 1], np.float32), (clips, k, 1))
  views[..., :4] += rng.uniform(-8, 0, (clips, k, 4)) * np.array([-1, -1, 1, 1])
  return {"clip": rng.integers(0, 256, (clips, k, stored, stored, 3), dtype=np.uint8),
          "view": views.astype(np.float32),
          "frame_index": np.tile(np.arange(k, dtype=np.int32) * 2, (clips, 1)),
          "subject_id": np.arange(clips, dtype=np.int32),
          "video_key": np.arange(clips, dtype=np.int32)}


def model_flops(fn, *args) -> float:
  """FLOPs of one step, counted by XLA on the step lowered for the CPU: the count is a property
  of the program, and on GPU the convolutions become cuDNN custom calls that count as zero."""
  abstract = jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype), args)
  cost = jax.jit(fn).trace(*abstract).lower(lowering_platforms=("cpu",)).cost_analysis()
  cost = cost[0] if isinstance(cost, (list, tuple)) else cost
  # jax 0.11.2 with CUDA returned None here (seen on an H200): then pass --flops_per_step,
  # counted with this script on a CPU machine for the same shapes (--count_flops).
  return float(cost["flops"]) if cost else float("nan")


def main():
  parser = argparse.ArgumentParser(description=__doc__)
  parser.add_argument("--depth", type=int, default=18)
  parser.add_argument("--image_size", type=int, default=112)
  parser.add_argument("--stored_size", type=int, default=128, help="decoded frame side")
  parser.add_argument("--clips", type=int, default=32)
  parser.add_argument("--frames", type=int, default=8)
  parser.add_argument("--dtype", default="bfloat16")
  parser.add_argument("--steps", type=int, default=20)
  parser.add_argument("--peak_tflops", type=float, default=None)
  parser.add_argument("--small", action="store_true")
  parser.add_argument("--flops_per_step", type=float, default=None,
                      help="model FLOPs of one step, where XLA's count is unavailable")
  parser.add_argument("--count_flops", action="store_true",
                      help="print the step's FLOP count and exit (runs anywhere)")
  args = parser.parse_args()
  if args.small:
    args.image_size, args.clips, args.steps, args.stored_size = 48, 2, 2, 64
  config = _config(args)
  device = jax.devices()[0]
  mesh = sharding.make_mesh(1)
  clp = step_lib.sharded_step(config, mesh)
  state, step = clp.init(jax.random.key(0)), clp.step
  batch = sharding.global_batch(_batch(args.clips, args.frames, args.stored_size,
                                       np.random.default_rng(0)), mesh)
  start = time.perf_counter()
  lowered = step.lower(state, batch)
  compiled = lowered.compile()
  compile_s = time.perf_counter() - start
  flops = args.flops_per_step or model_flops(clp.step_fn, state, batch)
  if args.count_flops:
    print(f"flops_per_step {flops:.6g}")
    return
  for _ in range(3):
    state, metrics = compiled(state, batch)
  jax.block_until_ready(metrics)
  start = time.perf_counter()
  for _ in range(args.steps):
    state, metrics = compiled(state, batch)
  jax.block_until_ready(metrics)
  dt = (time.perf_counter() - start) / args.steps
  frames = args.clips * args.frames
  peak = args.peak_tflops or next((v for k, v in PEAK_BF16_TFLOPS.items() if k in device.device_kind),
                                  float("nan"))
  mem = device.memory_stats() or {}
  print(f"\ndevice: {device.device_kind} ({device.platform}); jax {jax.__version__}; ResNet-{args.depth} "
        f"{args.image_size}px, {args.clips} clips x {args.frames} frames, {args.dtype}; "
        f"compile {compile_s:.1f} s; loss {float(metrics['loss']):.4f}\n")
  print("| device | step ms | frames/s | model TFLOP/step | achieved TFLOP/s | MFU | peak memory GiB |")
  print("|---|---|---|---|---|---|---|")
  achieved = flops / dt / 1e12
  print(f"| {device.device_kind} | {dt * 1e3:.1f} | {frames / dt:,.0f} | {flops / 1e12:.3f} | "
        f"{achieved:.1f} | {achieved / peak:.1%} | "
        f"{mem.get('peak_bytes_in_use', float('nan')) / 2**30:.2f} |")


if __name__ == "__main__":
  main()
