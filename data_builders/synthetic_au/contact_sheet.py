"""A contact sheet of the synthetic corpus as stored: aligned face crops, identities x AUs at
intensity 3, then frames of two videos with every nuisance on.

  python -m data_builders.synthetic_au.contact_sheet --out docs/synthetic_au_contact_sheet.png
"""

import argparse
import os

import cv2
import numpy as np

from clp_jax.data import faces
from data_builders.synthetic_au import aus
from data_builders.synthetic_au import dynamics
from data_builders.synthetic_au import identity as identity_lib
from data_builders.synthetic_au import render
from data_builders.synthetic_au import video as video_lib


def _label(img: np.ndarray, text: str) -> np.ndarray:
  img = img.copy()
  cv2.rectangle(img, (0, 0), (len(text) * 7 + 4, 13), (0, 0, 0), -1)
  cv2.putText(img, text, (2, 10), cv2.FONT_HERSHEY_SIMPLEX, 0.35, (255, 255, 255), 1, cv2.LINE_AA)
  return img


def contact_sheet(subjects=(0, 1, 2, 3, 4, 5), size: int = 112, seed: int = 0) -> np.ndarray:
  """[rows * size, cols * size, 3] uint8 RGB."""
  rows = []
  for s in subjects:
    idt = identity_lib.sample_identity(s, seed)
    row = []
    for au in (None,) + aus.AUS:
      x = np.zeros(aus.NUM_AUS, np.float32)
      if au is not None:
        x[aus.AU_INDEX[au]] = 3.0
      img, marks = render.render_face(idt, x, dynamics.still_nuisance(), 0, size,
                                      np.random.default_rng(0))
      img = faces.align(img, video_lib.rigid_landmarks(marks), size)
      row.append(_label(img, f"AU{au}" if au else f"S{s:03d} neutral") if s == subjects[0] or au is None
                 else img)
    rows.append(np.concatenate(row, 1))
  # Two videos with every nuisance on: pose, light, blur, noise, JPEG; the labels above each frame.
  for s in subjects[:2]:
    v = video_lib.generate_video(seed, s + 10, 0, 120, size, align=True)
    picks = np.linspace(0, 119, len(aus.AUS) + 1).astype(int)
    row = []
    for t in picks:
      frame = cv2.imdecode(np.frombuffer(v.jpeg(int(t)), np.uint8), cv2.IMREAD_COLOR)[..., ::-1]
      on = [f"{au}" for au, o in zip(aus.AUS, v.au_occurrence[t]) if o]
      row.append(_label(frame, "+".join(on) if on else "-"))
    rows.append(np.concatenate(row, 1))
  return np.concatenate(rows, 0)


def main():
  parser = argparse.ArgumentParser(description=__doc__)
  parser.add_argument("--out", default="docs/synthetic_au_contact_sheet.png")
  args = parser.parse_args()
  os.makedirs(os.path.dirname(args.out) or ".", exist_ok=True)
  cv2.imwrite(args.out, contact_sheet()[..., ::-1])
  print(f"wrote {args.out}")


if __name__ == "__main__":
  main()
