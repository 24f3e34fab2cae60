"""Writes disfa's dummy_data/: DISFA's layout with rendered face videos and real-format labels.

  python data_builders/disfa/make_dummy_data.py

One subject per part (SN002, SN013, SN003): a 12-frame left-camera avi (MPEG-4) each, and
`frameIdx,intensity` files (1-based numbers, no header) for the 12 AUs DISFA codes; SN003's AU1
file is one line short (its last frame is then unlabelled, as SN010's is in the real corpus).
SN013 has shipped landmarks (`Landmark_Points/SN013/tmp_frame_lm/SN013_0000_lm.mat`, key `pts`,
66 x 2) from the renderer's eye centres and nose, for every frame but frame 5.
"""

import os
import sys

import numpy as np
import scipy.io

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
from data_builders.synthetic_au import video as video_lib  # pylint: disable=g-import-not-at-top
from data_builders.video_folder import make_dummy_data as vf_dummy  # pylint: disable=g-import-not-at-top

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "dummy_data")
CODED_AUS = (1, 2, 4, 5, 6, 9, 12, 15, 17, 20, 25, 26)
SUBJECTS = [("SN002", 1), ("SN013", 4), ("SN003", 7)]  # (DISFA subject, rendered subject)
FRAMES = 12
LANDMARKS = "SN013"
NO_LANDMARK_FILE = 5


def points_66(rendered: np.ndarray) -> np.ndarray:
  """[3, 2] eye centres and nose tip -> [66, 2] iBUG-order points: both corners of each eye at
  its centre (36-41 the eye on the image's left, 42-47 the other), the nose tip at 30, the base
  of the nose at 33 (0.35 of the eye distance below the tip), the rest spread around the face."""
  left, right = sorted(rendered[:2].tolist())
  left, right, tip = np.array(left), np.array(right), rendered[2]
  iod = np.linalg.norm(right - left)
  angle = np.linspace(0, 2 * np.pi, 66, endpoint=False)
  pts = tip + 1.3 * iod * np.stack([np.cos(angle), np.sin(angle)], 1)
  pts[36:42], pts[42:48] = left, right
  pts[30], pts[33] = tip, tip + [0, 0.35 * iod]
  return pts


def main():
  rng = np.random.default_rng(0)
  for subject, rendered in SUBJECTS:
    video = video_lib.generate_video(0, rendered, 2, FRAMES, 160, align=False)
    vf_dummy.write(os.path.join(OUT, "Videos_LeftCamera", f"LeftVideo{subject}_comp.avi"),
                   video.frames, "mpeg4")
    if subject == LANDMARKS:
      folder = os.path.join(OUT, "Landmark_Points", subject, "tmp_frame_lm")
      os.makedirs(folder, exist_ok=True)
      for t in range(FRAMES):
        if t != NO_LANDMARK_FILE:
          scipy.io.savemat(os.path.join(folder, f"{subject}_{t:04d}_lm.mat"),
                           {"pts": points_66(video.landmarks[t])})
    folder = os.path.join(OUT, "ActionUnit_Labels", subject)
    os.makedirs(folder, exist_ok=True)
    for au in CODED_AUS:
      n = FRAMES - 1 if (subject, au) == ("SN003", 1) else FRAMES
      values = rng.choice(6, n, p=[0.5, 0.15, 0.15, 0.1, 0.05, 0.05])
      with open(os.path.join(folder, f"{subject}_au{au}.txt"), "w") as f:
        f.writelines(f"{t + 1},{v}\n" for t, v in enumerate(values))


if __name__ == "__main__":
  main()
