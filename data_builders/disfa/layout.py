"""DISFA as it sits on disk: left-camera videos, per-AU intensity files, the standard folds.

  <root>/Videos_LeftCamera/LeftVideoSN001_comp.avi
  <root>/ActionUnit_Labels/SN001/SN001_au1.txt      lines `frameIdx,intensity` (0-5), no header
  <root>/Landmark_Points/SN001/.../SN001_0000_lm.mat  (optional) key `pts`, 66 x 2 pixels

A label file's 0-based line index is the video's 0-based frame index (the files' own frame
numbers start at 1). The protocol: 8 AUs, present where intensity >= 2. Where a subject's
landmark files are there, its frames are aligned on them (the number in a file's name read as the
0-based frame index, as `SN001_0000_lm.mat` suggests; this path and numbering could not be
confirmed here) and nothing is detected; a frame without its file then has no face.
"""

import csv
import io
import re

import cv2
import numpy as np
from etils import epath

from clp_jax.data.faces import detect
from clp_jax.data.faces import openface
from data_builders import labelled_frames

AUS = (1, 2, 4, 6, 9, 12, 25, 26)
PRESENT_FROM = 2  # intensity >= 2: present (the standard DISFA protocol)
PARTS = {
    1: "SN002 SN010 SN001 SN026 SN027 SN032 SN030 SN009 SN016".split(),
    2: "SN013 SN018 SN011 SN028 SN012 SN006 SN031 SN021 SN024".split(),
    3: "SN003 SN029 SN023 SN025 SN008 SN005 SN007 SN017 SN004".split(),
}
SUBJECTS = sorted(s for part in PARTS.values() for s in part)


class LabelError(ValueError):
  """A label line that does not parse; the message names the file and the line."""


def video_path(root, subject: str) -> epath.Path:
  return epath.Path(root) / "Videos_LeftCamera" / f"LeftVideo{subject}_comp.avi"


def label_path(root, subject: str, au: int) -> epath.Path:
  return epath.Path(root) / "ActionUnit_Labels" / subject / f"{subject}_au{au}.txt"


def read_intensity(path) -> np.ndarray:
  """One AU's label file -> [T] float32 intensities, index = 0-based frame index."""
  out = []
  text = epath.Path(path).read_text()
  for line, row in enumerate(csv.reader(io.StringIO(text)), start=1):
    if not row or all(not c.strip() for c in row):
      continue
    try:
      value = int(float(row[1]))
      int(row[0])
    except (ValueError, IndexError) as e:
      raise LabelError(f"{path}:{line}: expected 'frameIdx,intensity' ({e})") from e
    if not 0 <= value <= 5:
      raise LabelError(f"{path}:{line}: intensity must be 0-5, got {value}")
    out.append(value)
  return np.array(out, np.float32)


def subject_labels(root, subject: str) -> dict:
  """{frame index: (occurrence [8] int8, intensity [8] float32)} for the frames every protocol
  AU labels (files of unequal length: the shortest decides)."""
  columns = []
  for au in AUS:
    path = label_path(root, subject, au)
    if not path.exists():
      raise FileNotFoundError(f"disfa: no label file {path} (AU{au} of {subject})")
    columns.append(read_intensity(path))
  n = min(len(c) for c in columns)
  intensity = np.stack([c[:n] for c in columns], 1)
  occurrence = (intensity >= PRESENT_FROM).astype(np.int8)
  return {t: (occurrence[t], intensity[t]) for t in range(n)}


def landmark_files(root, subject: str) -> dict:
  """{0-based frame index: path} of the subject's shipped landmark files (empty where none)."""
  folder = epath.Path(root) / "Landmark_Points" / subject
  if not folder.is_dir():
    return {}
  found = {}
  for where, _, files in folder.walk():
    for name in files:
      m = re.search(r"_(\d+)_lm\.mat$", name)
      if m:
        found[int(m.group(1))] = where / name
  return found


def read_landmarks(path) -> detect.Face:
  """One DISFA landmark file (MATLAB, key `pts`, 66 x 2 (x, y) pixels) -> `detect.Face`."""
  from scipy import io as scipy_io  # pylint: disable=g-import-not-at-top
  try:
    mat = scipy_io.loadmat(io.BytesIO(epath.Path(path).read_bytes()))
  except Exception as e:  # pylint: disable=broad-except  # scipy raises several kinds
    raise openface.LandmarkFileError(f"{path}: not a readable MATLAB file ({e})") from e
  if "pts" not in mat:
    raise openface.LandmarkFileError(
        f"{path}: no 'pts' array (found {sorted(k for k in mat if not k.startswith('__'))}); "
        f"expected DISFA's 66 x 2 landmarks")
  pts = np.asarray(mat["pts"], np.float64)
  if pts.shape == (2, 66):
    pts = pts.T
  if pts.shape != (66, 2) or not np.isfinite(pts).all():
    raise openface.LandmarkFileError(f"{path}: 'pts' is {pts.shape}, expected 66 x 2 finite "
                                     f"pixel coordinates")
  return openface.face_from_points(pts)


class ShippedFaces:
  """.get(frame index) -> the face of that frame's landmark file (read when asked), else None."""

  def __init__(self, files: dict):
    self.files = files

  def get(self, index: int):
    path = self.files.get(index)
    return None if path is None else read_landmarks(path)


def subject_records(root: str, subject: str, part: int, size: int, detect_every: int,
                    jpeg_quality: int, landmarks: bool = True):
  """(records, counts) of one subject's left-camera video: what a worker returns. landmarks:
  align on the subject's shipped landmark files where there are any."""
  cv2.setNumThreads(1)  # one video per worker process
  labels = subject_labels(root, subject)
  counts = labelled_frames.Counts()
  path = str(video_path(root, subject))
  files = landmark_files(root, subject) if landmarks else {}
  out = list(labelled_frames.records(
      labelled_frames.video_frames(path, counts, "disfa"), labels,
      video_id=subject, subject_id=SUBJECTS.index(subject), part=part,
      counts=counts, size=size, detect_every=detect_every, jpeg_quality=jpeg_quality,
      faces=ShippedFaces(files) if files else None))
  return out, counts
