"""BP4D-Spontaneous as it sits on disk: its label files, its frame folders, its folds.

Paths are `etils.epath` paths, so a copy of the corpus in a cloud bucket reads like a local one.
"""

import csv
import io
import re
from typing import Optional

import cv2
import numpy as np
from etils import epath

from data_builders import archives
from data_builders import labelled_frames

AUS = (1, 2, 4, 6, 7, 10, 12, 14, 15, 17, 23, 24)
INTENSITY_AUS = (6, 10, 12, 14, 17)
PARTS = {
    1: "F001 M007 F018 F008 F002 M004 F010 F009 M012 M001 F016 M014 F023 M008".split(),
    2: "M011 F003 M010 M002 F005 F022 M018 M017 F013 M016 F020 F011 M013 M005".split(),
    3: "F007 F015 F006 F019 M006 M009 F012 M003 F004 F021 F017 M015 F014".split(),
}
SUBJECTS = sorted(s for part in PARTS.values() for s in part)
SUBJECT = re.compile(r"^[FM]\d{3}$")
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png")


class LabelError(ValueError):
  """A label file row that does not parse; the message names the file and the line."""


def read_occurrence(path) -> dict:
  """AU_OCC/<Subject>_<Task>.csv -> {frame: occurrence [12] int8 (1, 0, -1 unknown)}."""
  rows = list(csv.reader(io.StringIO(epath.Path(path).read_text())))
  if not rows:
    raise LabelError(f"{path}:1: empty label file")
  header = [h.strip() for h in rows[0]]
  column = {}
  for au in AUS:
    if str(au) not in header:
      raise LabelError(f"{path}:1: the header has no column '{au}' (AU{au}); BP4D's AU_OCC "
                       f"files name their columns 0..99 (column N holds AU N)")
    column[au] = header.index(str(au))
  out = {}
  for line, row in enumerate(rows[1:], start=2):
    if not row or all(not c.strip() for c in row):
      continue
    if len(row) != len(header):
      raise LabelError(f"{path}:{line}: {len(row)} values, the header has {len(header)}")
    try:
      frame = int(row[0])
      values = [int(float(row[column[au]])) for au in AUS]
    except ValueError as e:
      raise LabelError(f"{path}:{line}: not a number ({e})") from e
    bad = [v for v in values if v not in (0, 1, 9)]
    if bad:
      raise LabelError(f"{path}:{line}: occurrence values must be 0, 1 or 9 (unknown), got {bad}")
    out[frame] = np.array([-1 if v == 9 else v for v in values], np.int8)
  return out


def read_intensity(path) -> dict:
  """AU_INT/AUxx/<Subject>_<Task>_AUxx.csv -> {frame: intensity (0-5; -1 unknown)}."""
  out = {}
  for line, row in enumerate(csv.reader(io.StringIO(epath.Path(path).read_text())), start=1):
    if not row or all(not c.strip() for c in row):
      continue
    try:
      frame, value = int(row[0]), int(float(row[1]))
    except (ValueError, IndexError) as e:
      raise LabelError(f"{path}:{line}: expected 'frame,intensity' ({e})") from e
    if value not in (0, 1, 2, 3, 4, 5, 9):
      raise LabelError(f"{path}:{line}: intensity must be 0-5 or 9 (unknown), got {value}")
    out[frame] = -1.0 if value == 9 else float(value)
  return out


def find_frames_root(manual_dir, name: Optional[str]) -> epath.Path:
  """The folder holding <Subject>/<Task>/ frames: `name` if given, else the one folder under
  manual_dir whose sub-folders are subject names (F001, M001, ...)."""
  manual_dir = epath.Path(manual_dir)
  if name:
    root = manual_dir / name
    if not root.is_dir():
      raise FileNotFoundError(f"bp4d: frames_dir={name!r} but {root} is not a folder")
    return root
  found = [d for d in sorted(manual_dir.iterdir())
           if d.is_dir() and d.name != "AUCoding"
           and any(SUBJECT.match(subject_name(s)) for s in d.iterdir())]
  if len(found) != 1:
    raise FileNotFoundError(
        f"bp4d: expected one folder of frames (<Subject>/<Task>/<frame>.jpg, or <Subject>.zip "
        f"holding them) under {manual_dir}, "
        f"found {[d.name for d in found] or 'none'}; name it with the builder config's frames_dir")
  return found[0]


def subject_name(path) -> str:
  """F001 for a subject's folder F001/ and for its archive F001.zip."""
  name = epath.Path(path).name
  return name[:-4] if name.lower().endswith(".zip") else name


def has_task(frames_root, subject: str, task: str) -> bool:
  """Whether the task's frames are there: a folder <Subject>/<Task>/, or members of <Subject>.zip."""
  root = epath.Path(frames_root)
  if (root / subject / task).is_dir():
    return True
  archive = root / f"{subject}.zip"
  return archive.exists() and task in archives.SubjectZip(archive, subject).tasks


def task_images(frames_root, subject: str, task: str):
  """[(frame number, [H, W, 3] uint8 RGB)] lazily, in frame order, from the task's folder or,
  where the subject has no folder, from <Subject>.zip (read in place, members checked)."""
  folder = epath.Path(frames_root) / subject / task
  if folder.is_dir():
    images = task_frames(folder)
    return ((i, read_image(images[i])) for i in sorted(images))
  archive = archives.SubjectZip(epath.Path(frames_root) / f"{subject}.zip", subject)
  members = archive.tasks.get(task, {})
  order = sorted(members)
  blobs = archive.read([members[i] for i in order])
  return ((i, decode_image(blob, f"{archive.path}:{members[i]}")) for i, blob in zip(order, blobs))


def task_frames(folder) -> dict:
  """{frame number: image path} of one task's folder, numbers from int(stem) (3- and 4-digit
  names both occur)."""
  out = {}
  for path in epath.Path(folder).iterdir():
    if path.suffix.lower() in IMAGE_EXTENSIONS and path.stem.isdigit():
      out[int(path.stem)] = path
  return out


def read_image(path) -> np.ndarray:
  """An image file (local or in a bucket) -> [H, W, 3] uint8 RGB; ValueError naming it if not."""
  return decode_image(epath.Path(path).read_bytes(), path)


def decode_image(data: bytes, where) -> np.ndarray:
  """Encoded image bytes -> [H, W, 3] uint8 RGB; ValueError naming `where` if they do not decode."""
  image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
  if image is None:
    raise ValueError(f"{where}: not a readable image")
  return np.ascontiguousarray(image[..., ::-1])


def task_records(manual_dir, frames_root, subject: str, task: str, part: int, size: int,
                 detect_every: int, jpeg_quality: int):
  """(records, counts) of one subject's task (`labelled_frames.records`): what a worker returns."""
  cv2.setNumThreads(1)  # one task per worker process
  label_dir = epath.Path(manual_dir) / "AUCoding"
  occurrence = read_occurrence(label_dir / "AU_OCC" / f"{subject}_{task}.csv")
  intensity = {}
  for au in INTENSITY_AUS:
    path = label_dir / "AU_INT" / f"AU{au:02d}" / f"{subject}_{task}_AU{au:02d}.csv"
    if path.exists():
      intensity[au] = read_intensity(path)
  labels = {}
  for frame, occ in occurrence.items():
    inten = np.full(len(AUS), -1.0, np.float32)
    for k, au in enumerate(AUS):
      if au in intensity:
        inten[k] = intensity[au].get(frame, -1.0)
    labels[frame] = (occ, inten)
  frames = task_images(frames_root, subject, task)
  counts = labelled_frames.Counts()
  out = list(labelled_frames.records(
      frames, labels, video_id=f"{subject}/{task}", subject_id=SUBJECTS.index(subject),
      part=part, counts=counts, size=size, detect_every=detect_every,
      jpeg_quality=jpeg_quality))
  return out, counts


