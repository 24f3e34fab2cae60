"""How clearly does each AU change its own facial region, next to what alignment leaves moving?

  python research/au_visibility.py [--subjects 12] [--size 96]

For --subjects identities of the synthetic corpus, frontal and evenly lit, this renders the neutral
face and each AU alone at intensity 3 (past the occurrence threshold of 2), aligns both on their
eye centres and nose tip exactly as the corpus does (`clp_jax.data.faces`, the landmarks that
`video.rigid_landmarks` gives), resizes to the encoder's input size and measures, inside the AU's
facial region (`REGIONS`, fractions of the aligned crop), the mean absolute change in grey levels
and the share of the region's pixels that change by more than 10 grey levels. Next to them, two
things no AU does that remain after alignment: the detector noise of the landmarks
(`video.LANDMARK_NOISE`, one frame's alignment against another's) and a 7 degree yaw (the head's
typical turn inside a pretraining clip), inside the same regions.
"""

import argparse
import dataclasses
import os
import sys

import cv2
import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from clp_jax.data import faces  # pylint: disable=g-import-not-at-top
from data_builders.synthetic_au import aus as au_lib  # pylint: disable=g-import-not-at-top
from data_builders.synthetic_au import dynamics  # pylint: disable=g-import-not-at-top
from data_builders.synthetic_au import identity as identity_lib  # pylint: disable=g-import-not-at-top
from data_builders.synthetic_au import render  # pylint: disable=g-import-not-at-top
from data_builders.synthetic_au import synthetic_au_dataset_builder as builder_lib  # pylint: disable=g-import-not-at-top
from data_builders.synthetic_au import video as video_lib  # pylint: disable=g-import-not-at-top

# (x0, y0, x1, y1) as fractions of the aligned crop (`faces.RIGID_TEMPLATE`: eyes at y 0.393,
# nose tip at 0.566): where FACS says each AU acts.
_BROWS = (0.12, 0.1, 0.88, 0.45)
_EYES = (0.12, 0.28, 0.88, 0.6)
_MOUTH = (0.25, 0.55, 0.75, 0.92)
_LOWER = (0.15, 0.6, 0.85, 1.0)
REGIONS = {1: _BROWS, 2: _BROWS, 4: _BROWS, 6: _EYES, 7: _EYES, 10: _MOUTH, 12: _MOUTH,
           14: _MOUTH, 15: _MOUTH, 17: _LOWER, 23: _MOUTH, 24: _MOUTH, 25: _MOUTH, 26: _LOWER}


def _frame(identity, background, au, size, noise_rng=None, **nuisance) -> np.ndarray:
  """One aligned frame at the input size, grey levels: [size, size] float32."""
  n = dataclasses.replace(dynamics.still_nuisance(1),
                          **{k: np.asarray(v, np.float32) for k, v in nuisance.items()})
  stored = builder_lib.SyntheticAuConfig(name="x").image_size
  img, marks = render.render_face(identity, au, n, 0, stored, np.random.default_rng(0), background)
  img = faces.align(img, video_lib.rigid_landmarks(marks, noise_rng), stored)
  img = cv2.resize(img, (size, size), interpolation=cv2.INTER_AREA)
  return cv2.cvtColor(img, cv2.COLOR_RGB2GRAY).astype(np.float32)


def _box(region, size):
  x0, y0, x1, y1 = (int(round(v * size)) for v in region)
  return slice(y0, y1), slice(x0, x1)


def changes(subjects: int, size: int) -> dict:
  """{AU: {"mean": mean |change| in its region, "share": share of region pixels > 10 levels,
  "landmark_noise": the same mean for detector noise alone, "yaw": for a 7 degree turn}}."""
  rows = {au: {"mean": [], "share": [], "landmark_noise": [], "yaw": []} for au in au_lib.AUS}
  stored = builder_lib.SyntheticAuConfig(name="x").image_size
  for s in range(subjects):
    ident = identity_lib.sample_identity(s, 0)
    bg = render.background_for(ident, stored)
    neutral = np.zeros(au_lib.NUM_AUS, np.float32)
    ref = _frame(ident, bg, neutral, size)
    jitter = np.abs(_frame(ident, bg, neutral, size, np.random.default_rng(s)) - ref)
    yaw = np.abs(_frame(ident, bg, neutral, size, yaw=[7.0]) - ref)
    for j, au in enumerate(au_lib.AUS):
      x = neutral.copy()
      x[j] = 3.0
      box = _box(REGIONS[au], size)
      diff = np.abs(_frame(ident, bg, x, size) - ref)[box]
      rows[au]["mean"].append(diff.mean())
      rows[au]["share"].append((diff > 10).mean())
      rows[au]["landmark_noise"].append(jitter[box].mean())
      rows[au]["yaw"].append(yaw[box].mean())
  return {au: {k: float(np.mean(v)) for k, v in r.items()} for au, r in rows.items()}


def main():
  p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
  p.add_argument("--subjects", type=int, default=12)
  p.add_argument("--size", type=int, default=96, help="encoder input size")
  args = p.parse_args()
  rows = changes(args.subjects, args.size)
  print(f"\nAU at intensity 3 inside its region, aligned faces at {args.size} px, "
        f"{args.subjects} identities (grey levels)\n")
  print("| AU | region | mean abs change | pixels > 10 levels | landmark noise | yaw 7 deg |")
  print("|---|---|---|---|---|---|")
  for au, r in rows.items():
    print(f"| AU{au} {au_lib.AU_NAMES[au]} | {REGIONS[au]} | {r['mean']:.2f} | {r['share']:.1%} | "
          f"{r['landmark_noise']:.2f} | {r['yaw']:.2f} |")
  mean = lambda k: np.mean([r[k] for r in rows.values()])
  print(f"\nmean over AUs: change {mean('mean'):.2f}, pixels > 10 levels {mean('share'):.1%}, "
        f"landmark noise {mean('landmark_noise'):.2f}, yaw 7 deg {mean('yaw'):.2f}")


if __name__ == "__main__":
  main()
