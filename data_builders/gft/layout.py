"""GFT (Sayette Group Formation Task) on disk: a layout read from a small JSON file, because the
corpus's file layout, label format and partition lists could not be confirmed here.

Confirmed (Girard et al., FG 2017): 96 participants in 32 three-person groups, 172,800 frames,
FACS occurrence and intensity, an official train/test partition. The reader expects one video
per participant recording and one label CSV per video, and takes everything else from
`<manual_dir>/gft_layout.json` (all keys optional; the defaults below):

  {
    "videos": "videos/{video}.mp4",        where a video is, {video} its (file) name
    "labels": "labels/{video}.csv",        its label CSV: a header row, one row per frame
    "frame_column": "frame",               the frame-number column
    "frame_base": 1,                       the number of the video's first frame (0 or 1)
    "au_column": "AU{au}",                 an AU's column, {au} its number (e.g. "AU{au:02d}")
    "unknown": [9],                        label values meaning unknown (stored as -1)
    "subject": "^(?P<subject>[^_]+)",      a regex on the video name naming the participant
    "parts": null                          {"1": [subjects], "2": [...], "3": [...]}, or null:
                                           a hashed, balanced 3-way split of the participants
  }

Videos are the label files' names: every `labels` file whose video exists is read.
"""

import csv
import dataclasses
import io
import json
import re
from typing import Optional

import cv2
import numpy as np
from etils import epath

from data_builders import labelled_frames
from data_builders.video_folder import clips as clips_lib

AUS = (1, 2, 4, 6, 10, 12, 14, 15, 23, 24)  # the 10 AUs AU papers use on GFT
LAYOUT_FILE = "gft_layout.json"


class LabelError(ValueError):
  """A label row that does not parse; the message names the file and the line."""


@dataclasses.dataclass(frozen=True)
class Layout:
  videos: str = "videos/{video}.mp4"
  labels: str = "labels/{video}.csv"
  frame_column: str = "frame"
  frame_base: int = 1
  au_column: str = "AU{au}"
  unknown: tuple = (9,)
  subject: str = r"^(?P<subject>[^_]+)"
  parts: Optional[dict] = None

  @classmethod
  def read(cls, root) -> "Layout":
    path = epath.Path(root) / LAYOUT_FILE
    if not path.exists():
      return cls()
    try:
      given = json.loads(path.read_text())
    except json.JSONDecodeError as e:
      raise ValueError(f"{path}: not JSON ({e})") from e
    fields = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(given) - fields)
    if unknown:
      raise ValueError(f"{path}: unknown keys {unknown}; the layout keys are {sorted(fields)}")
    if "unknown" in given:
      given["unknown"] = tuple(given["unknown"])
    return cls(**given)

  def label_files(self, root) -> dict:
    """{video name: label path} for every label file matching the `labels` template."""
    root = epath.Path(root)
    pattern = re.escape(self.labels).replace(re.escape("{video}"), "(?P<video>.+)")
    folder = (root / self.labels).parent
    if not folder.is_dir():
      raise FileNotFoundError(f"gft: no label folder {folder} (layout 'labels': {self.labels!r})")
    out = {}
    # {video} names a file, not a path: one glob, no recursive walk (which buckets do not allow)
    for path in root.glob(self.labels.replace("{video}", "*")):
      m = re.fullmatch(pattern, str(path.relative_to(root)))
      if m:
        out[m.group("video")] = path
    return dict(sorted(out.items()))

  def subject_of(self, video: str) -> str:
    m = re.search(self.subject, video)
    if not m or "subject" not in m.groupdict():
      raise ValueError(f"gft: the layout's subject regex {self.subject!r} finds no (?P<subject>...) "
                       f"in the video name {video!r}")
    return m.group("subject")

  def subject_parts(self, subjects) -> dict:
    if self.parts is None:
      return clips_lib.identity_parts(subjects)
    parts = {s: int(p) for p, names in self.parts.items() for s in names}
    missing = sorted(set(subjects) - set(parts))
    if missing:
      raise ValueError(f"gft: subjects {missing} are in no part of the layout's 'parts'")
    return parts


def read_labels(path, layout: Layout) -> dict:
  """A label CSV -> {0-based frame index: (occurrence [10] int8, intensity [10] float32 (-1))}."""
  rows = list(csv.reader(io.StringIO(epath.Path(path).read_text())))
  if not rows:
    raise LabelError(f"{path}:1: empty label file")
  header = [h.strip() for h in rows[0]]
  need = [layout.frame_column] + [layout.au_column.format(au=au) for au in AUS]
  missing = [n for n in need if n not in header]
  if missing:
    raise LabelError(f"{path}:1: the header has no column {missing} (layout 'frame_column' / "
                     f"'au_column'); it has {header[:12]}{' ...' if len(header) > 12 else ''}")
  cols = [header.index(n) for n in need]
  out = {}
  for line, row in enumerate(rows[1:], start=2):
    if not row or all(not c.strip() for c in row):
      continue
    if len(row) != len(header):
      raise LabelError(f"{path}:{line}: {len(row)} values, the header has {len(header)}")
    try:
      frame = int(row[cols[0]]) - layout.frame_base
      values = [int(float(row[c])) for c in cols[1:]]
    except ValueError as e:
      raise LabelError(f"{path}:{line}: not a number ({e})") from e
    bad = [v for v in values if v not in (0, 1) and v not in layout.unknown]
    if bad:
      raise LabelError(f"{path}:{line}: occurrence values must be 0, 1 or one of the layout's "
                       f"unknown values {list(layout.unknown)}, got {bad}")
    occurrence = np.array([-1 if v in layout.unknown else v for v in values], np.int8)
    out[frame] = (occurrence, np.full(len(AUS), -1.0, np.float32))
  return out


def video_records(root: str, layout: Layout, video: str, label_path: str, subject_id: int,
                  part: int, size: int, detect_every: int, jpeg_quality: int):
  """(records, counts) of one video: what a worker returns."""
  cv2.setNumThreads(1)
  labels = read_labels(label_path, layout)
  counts = labelled_frames.Counts()
  path = str(epath.Path(root) / layout.videos.format(video=video))

  out = list(labelled_frames.records(
      labelled_frames.video_frames(path, counts, "gft"), labels,
      video_id=video, subject_id=subject_id, part=part, counts=counts,
      size=size, detect_every=detect_every, jpeg_quality=jpeg_quality))
  return out, counts
