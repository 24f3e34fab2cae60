"""Writes gft's dummy_data/: rendered face videos and label CSVs in a non-default layout, with the
gft_layout.json that describes it.

  python data_builders/gft/make_dummy_data.py

Three participants (group 001: 001a, 001b; group 002: 002c), one 10-frame video each, under
session/<video>.mp4; labels as coded/<video>_au.csv with 'Frame' (0-based) and 'AU01', 'AU02',
... columns, -9 for unknown; an explicit partition in the layout.
"""

import csv
import json
import os
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
from data_builders.gft import layout as layout_lib  # pylint: disable=g-import-not-at-top
from data_builders.synthetic_au import video as video_lib  # pylint: disable=g-import-not-at-top
from data_builders.video_folder import make_dummy_data as vf_dummy  # pylint: disable=g-import-not-at-top

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "dummy_data")
VIDEOS = [("001a_group001", 1), ("001b_group001", 4), ("002c_group002", 7)]
LAYOUT = {"videos": "session/{video}.mp4", "labels": "coded/{video}_au.csv",
          "frame_column": "Frame", "frame_base": 0, "au_column": "AU{au:02d}", "unknown": [-9],
          "subject": "^(?P<subject>\\d{3}[a-z])_", "parts": {"1": ["001a"], "2": ["001b"],
                                                            "3": ["002c"]}}
FRAMES = 10


def main():
  rng = np.random.default_rng(0)
  os.makedirs(os.path.join(OUT, "coded"), exist_ok=True)
  with open(os.path.join(OUT, layout_lib.LAYOUT_FILE), "w") as f:
    json.dump(LAYOUT, f, indent=2)
  for name, rendered in VIDEOS:
    video = video_lib.generate_video(0, rendered, 3, FRAMES, 160, align=False)
    vf_dummy.write(os.path.join(OUT, "session", f"{name}.mp4"), video.frames, "libx264")
    with open(os.path.join(OUT, "coded", f"{name}_au.csv"), "w", newline="") as f:
      w = csv.writer(f)
      w.writerow(["Frame"] + [f"AU{au:02d}" for au in (1, 2, 4, 5, 6, 7, 10, 12, 14, 15, 17, 23,
                                                        24, 28)])
      for t in range(FRAMES):
        values = (rng.random(14) < 0.3).astype(int)
        if t == 3:
          values[2] = -9  # AU4 unknown
        w.writerow([t] + values.tolist())
  # a label file whose video is not there (logged and counted)
  with open(os.path.join(OUT, "coded", "003d_group003_au.csv"), "w") as f:
    f.write("Frame,AU01\n0,1\n")


if __name__ == "__main__":
  main()
