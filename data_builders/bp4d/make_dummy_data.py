"""Writes bp4d's dummy_data/: BP4D's layout with rendered faces and real-format label files.

  python data_builders/bp4d/make_dummy_data.py

One subject per part (F001, M011, F007), task T1 each (F001 also T8). Frame names as copies of
BP4D have them: 4-digit numbers from 2440 (F001/T1), 3-digit unpadded numbers crossing 999 -> 1000
(M011/T1), 4-digit zero-padded (F007/T1, F001/T8). AU_OCC CSVs with the 0..99 header and 9s;
one coded frame without its image (F007/T1: 0015); one image without a label row (M011/T1: 1003);
AU_INT for AU06 and AU12 of F001/T1.
"""

import csv
import os
import sys

import cv2
import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
from data_builders.synthetic_au import video as video_lib  # pylint: disable=g-import-not-at-top

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "dummy_data")
FRAMES = "BP4D-training"
# (subject, task, frame numbers, file name format, rendered subject, frames coded)
TASKS = [("F001", "T1", range(2440, 2446), "{:d}", 1, range(2440, 2446)),
         ("F001", "T8", range(1, 5), "{:04d}", 1, range(1, 5)),
         ("M011", "T1", range(997, 1004), "{:d}", 4, range(997, 1003)),
         ("F007", "T1", range(10, 15), "{:04d}", 7, range(10, 16))]
AUS = (1, 2, 4, 6, 7, 10, 12, 14, 15, 17, 23, 24)


def main():
  rng = np.random.default_rng(0)
  for n, (subject, task, numbers, fmt, rendered, coded) in enumerate(TASKS):
    video = video_lib.generate_video(0, rendered, n, len(numbers), 160, align=False)
    folder = os.path.join(OUT, FRAMES, subject, task)
    os.makedirs(folder, exist_ok=True)
    for img, number in zip(video.frames, numbers):
      cv2.imwrite(os.path.join(folder, fmt.format(number) + ".jpg"), img[..., ::-1],
                  [cv2.IMWRITE_JPEG_QUALITY, 85])
    occ_dir = os.path.join(OUT, "AUCoding", "AU_OCC")
    os.makedirs(occ_dir, exist_ok=True)
    with open(os.path.join(occ_dir, f"{subject}_{task}.csv"), "w", newline="") as f:
      w = csv.writer(f)
      w.writerow(range(100))
      for number in coded:
        row = [number] + [0] * 99
        for au in AUS:
          row[au] = int(rng.random() < 0.3)
        row[4] = 9 if number == coded[1] else row[4]  # AU4 unknown on the second coded frame
        w.writerow(row)
  for au in (6, 12):
    folder = os.path.join(OUT, "AUCoding", "AU_INT", f"AU{au:02d}")
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, f"F001_T1_AU{au:02d}.csv"), "w", newline="") as f:
      for number in range(2440, 2446):
        f.write(f"{number},{9 if number == 2441 else number % 6}\n")


if __name__ == "__main__":
  main()
