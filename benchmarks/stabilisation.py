"""How much of the head's drift clip stabilisation removes, and at what cost: prints a table.

  python benchmarks/stabilisation.py --data_dir data --clips 80

synthetic_au renders its pretraining videos twice, with the head drifting (`pretrain`) and held
still (`pretrain_still_head`), the same faces, AUs, lighting and camera otherwise. Per clip: the
mean absolute change between consecutive frames, each frame standardised by its own mean and SD
(as the encoder sees it, `model.input_norm=per_image`), borders left out. Stabilisation should
bring the moving clips towards the still ones ("drift removed": (raw - stabilised) /
(raw - still)) and leave the still ones as they are: any warp found on a still-head clip follows
the AUs, the lighting or the noise, so its size (the mean shift of the frame's corners, in
pixels) against that on moving clips is how much stabilisation could take from the AUs.
"""

import argparse
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from clp_jax.data import augment  # pylint: disable=g-import-not-at-top
from clp_jax.data import sources
from clp_jax.data import stabilise
from clp_jax.models import clp as clp_model


def frame_change(clip: np.ndarray, border: float = 0.1) -> float:
  """clip [K, H, W, 3] uint8 -> mean |frame t+1 - frame t| of the frames as the encoder's
  per-image normalisation gives them, leaving out `border` of each side (where a warp invents
  pixels)."""
  b = int(round(clip.shape[1] * border))
  x = np.asarray(clp_model.normalize(clip[:, b:clip.shape[1] - b, b:clip.shape[2] - b], "per_image"))
  return float(np.abs(np.diff(x, axis=0)).mean())


def corner_shift(warps: np.ndarray, h: int, w: int) -> float:
  """Mean distance (pixels) the warps [K, 2, 3] move the frame's four corners."""
  corners = np.array([[0, 0, 1], [w, 0, 1], [0, h, 1], [w, h, 1]], np.float64)
  moved = np.einsum("kij,cj->kci", warps, corners)
  return float(np.linalg.norm(moved - corners[None, :, :2], axis=-1).mean())


def main():
  p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
  p.add_argument("--data_dir", default="data")
  p.add_argument("--split", default="part1+part2")
  p.add_argument("--clips", type=int, default=80, help="clips, evenly spaced over the split")
  args = p.parse_args()
  moving, _ = sources.open_source("synthetic_au", "pretrain", args.split, args.data_dir)
  still, _ = sources.open_source("synthetic_au", "pretrain_still_head", args.split, args.data_dir)
  if len(moving) != len(still):
    raise ValueError(f"pretrain has {len(moving)} clips in {args.split}, pretrain_still_head "
                     f"{len(still)}: build both from the same synthetic_au version")
  decode = lambda r: np.stack([augment.decode_jpeg(f) for f in r["frames"]])
  index = np.linspace(0, len(moving) - 1, min(args.clips, len(moving))).astype(int)
  clips = [(decode(moving[i]), decode(still[i])) for i in index]
  raw = np.array([frame_change(m) for m, _ in clips])
  calm = np.array([frame_change(s) for _, s in clips])
  h = clips[0][0].shape[1]
  lines = [f"Clip stabilisation on synthetic_au ({len(clips)} clips of {len(clips[0][0])} frames, "
           f"{h} px; frame change of per-image-standardised frames):", "",
           "| clips | frame change, moving head | still head | drift removed | warp's corner "
           "shift px, moving / still | ms per clip |", "|---|---|---|---|---|---|",
           f"| as stored | {raw.mean():.4f} | {calm.mean():.4f} | 0% | - | - |"]
  for motion in sorted(stabilise.MOTIONS):
    t0 = time.perf_counter()
    done = [stabilise.stabilise_clip(m, motion=motion) for m, _ in clips]
    ms = 1000 * (time.perf_counter() - t0) / len(clips)
    done_calm = [stabilise.stabilise_clip(s, motion=motion) for _, s in clips]
    stab = np.array([frame_change(c) for c, _ in done])
    calm_stab = np.array([frame_change(c) for c, _ in done_calm])
    removed = (raw.mean() - stab.mean()) / (raw.mean() - calm.mean())
    shift = lambda runs: np.mean([corner_shift(w, h, h) for _, w in runs])
    lines.append(f"| stabilised, {motion} | {stab.mean():.4f} | {calm_stab.mean():.4f} | "
                 f"{removed:.0%} | {shift(done):.2f} / {shift(done_calm):.2f} | {ms:.1f} |")
  print("\n".join(lines))


if __name__ == "__main__":
  main()
