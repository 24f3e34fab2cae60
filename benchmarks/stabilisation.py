"""How much of the head's drift clip stabilisation removes, and at what cost: prints a table.

  python benchmarks/stabilisation.py --data_dir data --clips 80

synthetic_au renders its pretraining videos twice, with the head drifting (`pretrain`) and held
still (`pretrain_still_head`), the same faces, AUs, lighting and camera otherwise. Per clip: the
mean absolute change between consecutive frames, each frame standardised by its own mean and SD
(as the encoder sees it, `model.input_norm=per_image`), borders left out. Stabilisation should
bring the moving clips towards the still ones ("drift removed": (raw - stabilised) /
(raw - still); "drift left": (moving - still, both stabilised) / (raw - still)) and leave the
still ones as they are: any warp found on a still-head clip follows
the AUs, the lighting or the noise, so its size (the mean shift of the frame's corners, in
pixels) against that on moving clips is how much stabilisation could take from the AUs.

A second table asks the same of single changes, on rendered pairs (`au_visibility.frame`: a
frontal, evenly lit neutral face and the same face with one AU at intensity 3 or one head
change): the pair is stabilised as a 2-frame clip onto the neutral frame, and the change left is
the projection of the stabilised difference onto the original one, <d_after, d_before> /
<d_before, d_before>, at the encoder's 80 px with a 10% border left out (1: the change is kept
whole, 0: removed; what a warp adds elsewhere does not count). A stabilisation should keep the
AUs and remove the head's changes.
"""

import argparse
import os
import sys
import time

import cv2
import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from benchmarks import au_visibility  # pylint: disable=g-import-not-at-top
from clp_jax.data import augment
from clp_jax.data import sources
from clp_jax.data import stabilise
from clp_jax.models import clp as clp_model
from data_builders.synthetic_au import aus as au_lib  # pylint: disable=g-import-not-at-top
from data_builders.synthetic_au import identity as identity_lib
from data_builders.synthetic_au import render


def frame_change(clip: np.ndarray, border: float = 0.1, face=None) -> float:
  """clip [K, H, W, 3] uint8 -> mean |frame t+1 - frame t| of the frames as the encoder's
  per-image normalisation gives them, leaving out `border` of each side (where a warp invents
  pixels); with face (landmarks [K, 3, 2]), only inside the face (RIGID_FIT of the template
  `stabilise.face_template` places on the middle frame), borders included."""
  if face is None:
    b = int(round(clip.shape[1] * border))
    x = np.asarray(clp_model.normalize(clip[:, b:clip.shape[1] - b, b:clip.shape[2] - b],
                                       "per_image"))
    return float(np.abs(np.diff(x, axis=0)).mean())
  x = np.asarray(clp_model.normalize(clip, "per_image"))
  d = np.abs(np.diff(x, axis=0)).mean(axis=(0, 3))  # [H, W]
  _, rho = stabilise.rigid_basis(*d.shape, stabilise.face_template(face[len(face) // 2]))
  return float(d[rho < stabilise.RIGID_FIT].mean())


def corner_shift(warps: np.ndarray, h: int, w: int) -> float:
  """Mean distance (pixels) the warps [K, 2, 3] move the frame's four corners."""
  corners = np.array([[0, 0, 1], [w, 0, 1], [0, h, 1], [w, h, 1]], np.float64)
  moved = np.einsum("kij,cj->kci", warps, corners)
  return float(np.linalg.norm(moved - corners[None, :, :2], axis=-1).mean())


def change_kept(motion: str, subjects: int) -> dict:
  """{change: mean over subjects (and over the 14 AUs for "AU at 3") of the share of a rendered
  change a stabilisation keeps (module docstring)}."""
  size = au_visibility.RENDER_SIZE
  small = lambda im: cv2.resize(im, (80, 80), interpolation=cv2.INTER_AREA).astype(np.float32)[8:-8, 8:-8]
  to_uint8 = lambda im: np.clip(im, 0, 255).astype(np.uint8)
  rows = {}
  for s in range(subjects):
    ident = identity_lib.sample_identity(s, 0)
    bg = render.background_for(ident, size)
    neutral = np.zeros(au_lib.NUM_AUS, np.float32)
    ref = to_uint8(au_visibility.frame(ident, bg, neutral, size, False))
    changes = [("AU at 3", np.eye(au_lib.NUM_AUS, dtype=np.float32)[j] * 3, {})
               for j in range(au_lib.NUM_AUS)]
    changes += [(name, neutral, kw) for name, kw in au_visibility.NUISANCES.items()]
    for name, au, kw in changes:
      moved = to_uint8(au_visibility.frame(ident, bg, au, size, False, **kw))
      # [moved, ref]: the middle frame of a 2-frame clip is index 1, the reference
      done = stabilise.stabilise_clip(np.stack([moved, ref]), motion=motion)[0][0]
      before, after = small(moved) - small(ref), small(done) - small(ref)
      rows.setdefault(name, []).append(float((after * before).sum() / (before * before).sum()))
  return {k: float(np.mean(v)) for k, v in rows.items()}


def main():
  p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
  p.add_argument("--data_dir", default="data")
  p.add_argument("--split", default="part1+part2")
  p.add_argument("--clips", type=int, default=80, help="clips, evenly spaced over the split")
  p.add_argument("--subjects", type=int, default=6, help="identities of the rendered-pair table")
  args = p.parse_args()
  moving, _ = sources.open_source("synthetic_au", "pretrain", args.split, args.data_dir)
  still, _ = sources.open_source("synthetic_au", "pretrain_still_head", args.split, args.data_dir)
  if len(moving) != len(still):
    raise ValueError(f"pretrain has {len(moving)} clips in {args.split}, pretrain_still_head "
                     f"{len(still)}: build both from the same synthetic_au version")
  decode = lambda r: np.stack([augment.decode_jpeg(f) for f in r["frames"]])
  index = np.linspace(0, len(moving) - 1, min(args.clips, len(moving))).astype(int)
  clips = [(decode(moving[i]), decode(still[i])) for i in index]
  # each clip's detected landmarks place the rigid mode's face template (the others ignore them)
  marks = [(moving[i].get("landmarks"), still[i].get("landmarks")) for i in index]
  raw = np.array([frame_change(m) for m, _ in clips])
  calm = np.array([frame_change(s) for _, s in clips])
  # the same inside the face only (where the AUs are), if the records have landmarks
  has_face = marks[0][0] is not None
  face_change = lambda runs, which: np.mean([frame_change(c, face=lm[which])
                                             for c, lm in zip(runs, marks)]) if has_face else np.nan
  raw_face = face_change([m for m, _ in clips], 0)
  calm_face = face_change([s for _, s in clips], 1)
  h = clips[0][0].shape[1]
  lines = [f"Clip stabilisation on synthetic_au ({len(clips)} clips of {len(clips[0][0])} frames, "
           f"{h} px; frame change of per-image-standardised frames):", "",
           "| clips | frame change, moving head | still head | drift removed | drift left | "
           "drift left inside the face | global warp's corner shift px, moving / still | "
           "ms per clip |",
           "|---|---|---|---|---|---|---|---|",
           f"| as stored | {raw.mean():.4f} | {calm.mean():.4f} | 0% | 100% | 100% | - | - |"]
  for motion in sorted(stabilise.MOTIONS):
    t0 = time.perf_counter()
    done = [stabilise.stabilise_clip(m, motion=motion, landmarks=lm)
            for (m, _), (lm, _) in zip(clips, marks)]
    ms = 1000 * (time.perf_counter() - t0) / len(clips)
    done_calm = [stabilise.stabilise_clip(s, motion=motion, landmarks=lm)
                 for (_, s), (_, lm) in zip(clips, marks)]
    stab = np.array([frame_change(c) for c, _, _ in done])
    calm_stab = np.array([frame_change(c) for c, _, _ in done_calm])
    removed = (raw.mean() - stab.mean()) / (raw.mean() - calm.mean())
    # what still tells the moving rendering from the still one, both stabilised alike (the
    # flow also takes some AU and gaze motion from both, so "removed" can pass 100%)
    left = (stab.mean() - calm_stab.mean()) / (raw.mean() - calm.mean())
    left_face = ((face_change([c for c, _, _ in done], 0)
                  - face_change([c for c, _, _ in done_calm], 1)) / (raw_face - calm_face))
    shift = lambda runs: np.mean([corner_shift(w, h, h) for _, w, _ in runs])
    lines.append(f"| stabilised, {motion} | {stab.mean():.4f} | {calm_stab.mean():.4f} | "
                 f"{removed:.0%} | {left:.0%} | {left_face:.0%} | "
                 f"{shift(done):.2f} / {shift(done_calm):.2f} | {ms:.1f} |")
  kept = {m: change_kept(m, args.subjects) for m in sorted(stabilise.MOTIONS)}
  names = list(kept[sorted(kept)[0]])
  pose = [n for n in au_visibility.NUISANCES if not n.startswith("gaze")]
  lines += ["", f"Share of a rendered change left after stabilisation ({args.subjects} identities; "
            "1 = kept, 0 = removed):", "",
            "| stabilise | " + " | ".join(names) + " | mean of the head's 5 |",
            "|---|" + "---|" * (len(names) + 1)]
  for m, row in kept.items():
    lines.append(f"| {m} | " + " | ".join(f"{row[n]:.2f}" for n in names)
                 + f" | {np.mean([row[n] for n in pose]):.2f} |")
  print("\n".join(lines))


if __name__ == "__main__":
  main()
