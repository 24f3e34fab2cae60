"""Landmarks users already have: OpenFace 2.x FeatureExtraction CSVs.

A user who ran OpenFace on a video has 68 landmarks per frame in `<video>.csv`; aligning on them
costs nothing and agrees with what they saw. Format: separator ", " (names carry a leading
space), columns `frame, face_id, timestamp, confidence, success, ...`, then `x_0..x_67`,
`y_0..y_67` in pixels; `frame` is 1-based; rows with success 0 have no face.
"""

import csv
import io

import numpy as np
from etils import epath

from clp_jax.data.faces import detect

# dlib's 5-point order from the 68 iBUG points: the eye on the image's right (outer corner 45,
# inner 42), the eye on the image's left (outer 36, inner 39), the base of the nose (33).
FIVE_FROM_68 = (45, 42, 36, 39, 33)


class LandmarkFileError(ValueError):
  """A landmark file that does not parse; the message names the file and the line."""


def face_from_points(points, score: float = float("nan")) -> detect.Face:
  """[68 or 66, 2] (x, y) pixels in the iBUG order -> `detect.Face` (box: the points' bounds).

  The 66-point scheme (DISFA, CMU AAM) is the 68 without the two inner mouth corners (60, 64), so
  its first 60 points, the eyes and the nose among them, are numbered as the 68's.
  """
  points = np.asarray(points, np.float64)
  if points.ndim != 2 or points.shape[1] != 2 or points.shape[0] not in (66, 68):
    raise ValueError(f"landmarks of shape {points.shape}, expected [68, 2] or [66, 2]")
  box = (*points.min(0), *points.max(0))
  return detect.Face(tuple(float(v) for v in box), float(score), points[list(FIVE_FROM_68)])


def read_faces(path) -> dict:
  """An OpenFace CSV -> {0-based frame index: `detect.Face`} for its rows with success 1 (of
  face_id 0 where a file tracks several faces). The Face's landmarks are the 5 points alignment
  uses; its box the 68 points' bounds; its score OpenFace's confidence."""
  text = epath.Path(path).read_text()
  rows = list(csv.reader(io.StringIO(text), skipinitialspace=True))
  if not rows:
    raise LandmarkFileError(f"{path}:1: empty file")
  header = [h.strip() for h in rows[0]]
  need = ["frame", "success", "confidence"] + [f"{a}_{i}" for a in "xy" for i in range(68)]
  missing = [n for n in need if n not in header]
  if missing:
    raise LandmarkFileError(f"{path}:1: not an OpenFace 2.x CSV: no column(s) {missing[:4]}"
                            f"{' ...' if len(missing) > 4 else ''}")
  col = {n: header.index(n) for n in need}
  face_id = header.index("face_id") if "face_id" in header else None
  xs = [col[f"x_{i}"] for i in range(68)]
  ys = [col[f"y_{i}"] for i in range(68)]
  out = {}
  for line, row in enumerate(rows[1:], start=2):
    if not row or all(not c.strip() for c in row):
      continue
    if len(row) != len(header):
      raise LandmarkFileError(f"{path}:{line}: {len(row)} values, the header has {len(header)}")
    try:
      if face_id is not None and int(float(row[face_id])) != 0:
        continue
      if int(float(row[col["success"]])) != 1:
        continue
      frame = int(float(row[col["frame"]])) - 1
      points = np.array([[float(row[x]), float(row[y])] for x, y in zip(xs, ys)])
      confidence = float(row[col["confidence"]])
    except ValueError as e:
      raise LandmarkFileError(f"{path}:{line}: not a number ({e})") from e
    out[frame] = face_from_points(points, confidence)
  return out


def beside(video_path: str):
  """The OpenFace CSV OpenFace writes for a video (`<video stem>.csv` in the same folder), or
  None where there is none."""
  path = epath.Path(video_path)
  csv_path = path.with_suffix(".csv")
  return csv_path if csv_path.exists() else None
