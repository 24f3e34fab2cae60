"""How much does an AU change a frame, next to how much head motion does? Raw and aligned faces.

  python benchmarks/au_visibility.py [--subjects 10] [--size 80]

A temporal contrastive loss learns whatever changes most between a clip's frames. For each of
--subjects identities of the synthetic corpus, frontal and evenly lit, this renders the neutral
face, each AU alone at intensity 3 (past the occurrence threshold of 2), and the neutral face
with one nuisance moved by its typical change across a pretraining clip (14 frames at 25 fps;
`dynamics.nuisance_timeline`: yaw 7 deg, pitch 4 deg, roll 3 deg, a 1.3% shift, 1.5% scale,
gaze 0.25 of the eye). The figure is the mean absolute difference to the neutral face in grey
levels, at the encoder's input size, unaligned and aligned on eyes and nose tip
(`clp_jax.faces`, the corpus's `*_aligned` configs, here with exact landmarks), plus the jitter
that the aligned configs' landmark noise adds on its own.
"""

import argparse
import dataclasses
import os
import sys

import cv2
import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from clp_jax import faces  # pylint: disable=g-import-not-at-top
from data_builders.synthetic_au import aus as au_lib  # pylint: disable=g-import-not-at-top
from data_builders.synthetic_au import dynamics  # pylint: disable=g-import-not-at-top
from data_builders.synthetic_au import identity as identity_lib  # pylint: disable=g-import-not-at-top
from data_builders.synthetic_au import render  # pylint: disable=g-import-not-at-top
from data_builders.synthetic_au import video as video_lib  # pylint: disable=g-import-not-at-top

RENDER_SIZE = 128  # the corpus's stored size
NUISANCES = {
    "yaw 7 deg": dict(yaw=[7.0]), "pitch 4 deg": dict(pitch=[4.0]), "roll 3 deg": dict(roll=[3.0]),
    "shift 1.3%": dict(shift=[[0.013, 0.0]]), "scale 1.5%": dict(scale=[1.015]),
    "gaze 0.25": dict(gaze=[[0.25, 0.0]]),
}


def frame(identity, background, au, size, aligned, noise_rng=None, **nuisance) -> np.ndarray:
  """One rendered frame at the input size: [size, size, 3] float32."""
  n = dataclasses.replace(dynamics.still_nuisance(1),
                          **{k: np.asarray(v, np.float32) for k, v in nuisance.items()})
  img, marks = render.render_face(identity, au, n, 0, RENDER_SIZE, np.random.default_rng(0),
                                  background)
  if aligned:
    img = faces.align(img, video_lib.rigid_landmarks(marks, noise_rng), RENDER_SIZE)
  return cv2.resize(img, (size, size), interpolation=cv2.INTER_AREA).astype(np.float32)


def changes(subjects: int, size: int, aligned: bool) -> dict:
  """{change: mean absolute grey-level difference to the neutral face, averaged over subjects}."""
  rows = {}
  for s in range(subjects):
    ident = identity_lib.sample_identity(s, 0)
    bg = render.background_for(ident, RENDER_SIZE)
    neutral = np.zeros(au_lib.NUM_AUS, np.float32)
    ref = frame(ident, bg, neutral, size, aligned)
    for j, name in enumerate(au_lib.AUS):
      au = neutral.copy()
      au[j] = 3.0
      rows.setdefault(f"AU{name} at 3", []).append(np.abs(frame(ident, bg, au, size, aligned) - ref).mean())
    for name, kw in NUISANCES.items():
      rows.setdefault(name, []).append(np.abs(frame(ident, bg, neutral, size, aligned, **kw) - ref).mean())
    if aligned:
      rng = np.random.default_rng(s)
      rows.setdefault("landmark noise (aligned only)", []).append(
          np.abs(frame(ident, bg, neutral, size, aligned, rng) - ref).mean())
  return {k: float(np.mean(v)) for k, v in rows.items()}


def main():
  p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
  p.add_argument("--subjects", type=int, default=10)
  p.add_argument("--size", type=int, default=80, help="encoder input size")
  args = p.parse_args()
  raw, aligned = changes(args.subjects, args.size, False), changes(args.subjects, args.size, True)
  print(f"\nMean |change| in grey levels at {args.size} px, {args.subjects} identities\n")
  print("| change | unaligned | aligned |")
  print("|---|---|---|")
  for k in aligned:
    print(f"| {k} | {raw[k]:.2f} | {aligned[k]:.2f} |" if k in raw else f"| {k} | - | {aligned[k]:.2f} |")
  au = [k for k in raw if k.startswith("AU")]
  for name, r in (("unaligned", raw), ("aligned", aligned)):
    print(f"\n{name}: mean AU {np.mean([r[k] for k in au]):.2f}, mean nuisance "
          f"{np.mean([r[k] for k in NUISANCES]):.2f}")


if __name__ == "__main__":
  main()
