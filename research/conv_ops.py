"""ResNet-18's convolutions one by one on this CPU: XLA next to PyTorch (oneDNN).

  pip install -e ".[bench]"     # torch, for the comparison only
  python research/conv_ops.py --batch 32 --image_size 112

For each distinct convolution of ResNet-18 at the given batch and input size (the stem, the 3x3
convolutions of each stage, the stride-2 ones and the 1x1 downsamples), times the forward pass, the
input gradient (dx) and the kernel gradient (dw) separately: `lax.conv_general_dilated` as XLA:CPU
compiles it (with clp_jax's XLA flags) and torch.nn.functional.conv2d in NCHW. Each figure is the
minimum over --reps runs, the two implementations interleaved so that the shared machine's load
hits them alike. `count` is how often the convolution occurs in ResNet-18; the totals weight by
it (the stem's dx is not needed for images and is left out of the totals).
"""

import argparse
import time

import jax
import jax.numpy as jnp
import numpy as np

import clp_jax  # pylint: disable=unused-import  (XLA:CPU flags)


def resnet18_convs(size: int) -> list:
  """(name, count, input side, Ci, Co, kernel, stride) of ResNet-18 at input side `size`."""
  s1 = (size + 1) // 2          # stem output
  s = (s1 + 1) // 2             # after the max-pool: layer1
  rows = [("stem 7x7/2", 1, size, 3, 64, 7, 2), ("layer1 3x3", 4, s, 64, 64, 3, 1)]
  c = 64
  for stage in (2, 3, 4):
    out = (s + 1) // 2
    rows += [(f"layer{stage} 3x3/2", 1, s, c, 2 * c, 3, 2),
             (f"layer{stage} 1x1/2", 1, s, c, 2 * c, 1, 2),
             (f"layer{stage} 3x3", 3, out, 2 * c, 2 * c, 3, 1)]
    s, c = out, 2 * c
  return rows


def _ms(fn) -> float:
  start = time.perf_counter()
  jax.block_until_ready(fn())
  return (time.perf_counter() - start) * 1e3


def main():
  parser = argparse.ArgumentParser(description=__doc__)
  parser.add_argument("--batch", type=int, default=32)
  parser.add_argument("--image_size", type=int, default=112)
  parser.add_argument("--reps", type=int, default=10)
  args = parser.parse_args()
  try:
    import torch  # pylint: disable=g-import-not-at-top
    import torch.nn.functional as F  # pylint: disable=g-import-not-at-top
  except ImportError:
    torch = None
  rng = np.random.default_rng(0)
  n = args.batch
  header = "| conv | count | map | XLA fwd | dx | dw | torch fwd | dx | dw | XLA / torch |"
  print(f"\nms per call, batch {n}, input {args.image_size}px, min of {args.reps}\n")
  print(header)
  print("|" + "---|" * (header.count("|") - 1))
  totals = np.zeros(6)
  for name, count, side, ci, co, k, stride in resnet18_convs(args.image_size):
    p = k // 2
    x = jnp.asarray(rng.normal(size=(n, side, side, ci)), jnp.float32)
    w = jnp.asarray(rng.normal(size=(k, k, ci, co)) / np.sqrt(k * k * ci), jnp.float32)
    conv = lambda a, b: jax.lax.conv_general_dilated(  # pylint: disable=g-long-lambda
        a, b, (stride, stride), ((p, p), (p, p)), dimension_numbers=("NHWC", "HWIO", "NHWC"))
    g = jnp.ones_like(conv(x, w))
    fwd = jax.jit(conv)
    dx = jax.jit(lambda a, b, c: jax.vjp(lambda a_: conv(a_, b), a)[1](c)[0])
    dw = jax.jit(lambda a, b, c: jax.vjp(lambda b_: conv(a, b_), b)[1](c)[0])
    # Each call returns its own time in ms, so a backward pass can be timed without its forward.
    calls = {"xla fwd": lambda: _ms(lambda: fwd(x, w)), "xla dx": lambda: _ms(lambda: dx(x, w, g)),
             "xla dw": lambda: _ms(lambda: dw(x, w, g))}
    if torch is not None:
      xt = torch.from_numpy(np.array(x).transpose(0, 3, 1, 2).copy())
      wt = torch.from_numpy(np.array(w).transpose(3, 2, 0, 1).copy())
      gt = torch.ones_like(F.conv2d(xt, wt, stride=stride, padding=p))

      def t_fwd():
        with torch.no_grad():
          return _ms(lambda: F.conv2d(xt, wt, stride=stride, padding=p))

      def t_backward(grad_of_input: bool):
        xr = xt.detach().requires_grad_(grad_of_input)
        wr = wt.detach().requires_grad_(not grad_of_input)
        y = F.conv2d(xr, wr, stride=stride, padding=p)  # untimed: only the backward counts
        return _ms(lambda: y.backward(gt))
      calls.update({"torch fwd": t_fwd, "torch dx": lambda: t_backward(True),
                    "torch dw": lambda: t_backward(False)})
    for fn in calls.values():
      fn()  # compile / warm up
    best = {key: float("inf") for key in calls}
    for _ in range(args.reps):  # interleaved
      for key, fn in calls.items():
        best[key] = min(best[key], fn())
    cols = ["xla fwd", "xla dx", "xla dw", "torch fwd", "torch dx", "torch dw"]
    vals = [best.get(c, float("nan")) for c in cols]
    stem = name.startswith("stem")
    for i, (c, v) in enumerate(zip(cols, vals)):
      if not (stem and c.endswith("dx")) and not np.isnan(v):
        totals[i] += count * v
    used = [0, 2] if stem else [0, 1, 2]
    ratio = sum(vals[i] for i in used) / sum(vals[i + 3] for i in used)
    fmt = lambda v: "" if np.isnan(v) else f"{v:.1f}"
    print(f"| {name} | {count} | {side}x{side}x{ci}->{co} | " + " | ".join(fmt(v) for v in vals)
          + f" | {ratio:.2f} |")
  print("| **total, weighted by count** | | | " + " | ".join(f"**{v:.0f}**" for v in totals)
        + f" | **{totals[:3].sum() / totals[3:].sum():.2f}** |")


if __name__ == "__main__":
  main()
