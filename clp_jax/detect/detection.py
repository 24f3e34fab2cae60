"""Per-frame AU detection: a video or image -> one row per frame, its main face found, aligned and
scored by an `au_model.AuModel`.

Faces go through `clp_jax.data.faces.stream`, the path the corpus builders take, so a detector sees
faces aligned as its training corpus had them. Frames are decoded one at a time; aligned crops
wait in a batch of `batch_size` for the jitted encoder and heads, so memory does not grow with
the video's length.
"""

import dataclasses
import math
from typing import Iterator, Optional

import numpy as np

from clp_jax.data.faces import alignment
from clp_jax.data.faces import detect as detect_lib
from clp_jax.data.faces import stream

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")


@dataclasses.dataclass(frozen=True)
class FrameRow:
  """frame: 1-based, as OpenFace numbers frames; timestamp: seconds (the frame's presentation
  time; 0 for an image); box: (x, y, w, h) of the face in the frame's pixels, or None where no
  face was found; confidence: the HOG detector's margin (> 0: detected) at the face's last
  detection, carried while the face is tracked between detections; probabilities: [A] float32,
  or None without a face."""
  frame: int
  timestamp: float
  box: Optional[tuple]
  confidence: float
  probabilities: Optional[np.ndarray]

  @property
  def success(self) -> bool:
    return self.probabilities is not None


def _box(face: detect_lib.Face) -> tuple:
  x0, y0, x1, y1 = face.box
  return (float(x0), float(y0), float(x1 - x0), float(y1 - y0))


class _Batcher:
  """Holds frames in order until `batch_size` of them have a face, then scores them at once
  (padded to batch_size: one compilation)."""

  def __init__(self, model, batch_size: int):
    self.model, self.batch_size = model, batch_size
    self.pending = []  # (frame, timestamp, face, confidence, crop or None)

  def add(self, item) -> list:
    self.pending.append(item)
    with_face = sum(1 for p in self.pending if p[4] is not None)
    # a long stretch without a face is written out too, so rows never wait without bound
    if with_face >= self.batch_size or len(self.pending) >= 4 * self.batch_size:
      return self.flush()
    return []

  def flush(self) -> list:
    crops = [p[4] for p in self.pending if p[4] is not None]
    probs = iter(())
    if crops:
      n = len(crops)
      batch = np.zeros((self.batch_size,) + crops[0].shape, np.uint8)
      batch[:n] = np.stack(crops)
      probs = iter(self.model.probabilities(batch)[:n])
    rows = []
    for frame, timestamp, face, confidence, crop in self.pending:
      if crop is None:
        rows.append(FrameRow(frame, timestamp, None, float("nan"), None))
      else:
        rows.append(FrameRow(frame, timestamp, _box(face), confidence, next(probs)))
    self.pending = []
    return rows


def video_rows(model, path: str, detector: detect_lib.Detector, *, batch_size: int = 32,
               detect_every: int = 5) -> Iterator[FrameRow]:
  """Every decoded frame of the video at path as a FrameRow, in order. Raises
  `video.VideoError` (naming the file) where it cannot be read, after the rows decoded before."""
  batcher = _Batcher(model, batch_size)
  confidence = float("nan")
  for f in stream.aligned_frames(path, size=model.crop_size, detect_every=detect_every,
                                 detector=detector):
    if f.face is not None and not math.isnan(f.face.score):
      confidence = f.face.score
    yield from batcher.add((f.index + 1, f.timestamp, f.face, confidence, f.crop))
  yield from batcher.flush()


def image_row(model, path: str, detector: detect_lib.Detector) -> FrameRow:
  """An image file's row (frame 1, timestamp 0): its largest face. ValueError naming an
  unreadable file."""
  image = stream.read_image(path)
  faces = detector.detect(image)
  if not faces:
    return FrameRow(1, 0.0, None, float("nan"), None)
  face = faces[0]
  crop = alignment.align(image, face.rigid(), model.crop_size, alignment.FIVE_POINT_TEMPLATE)
  probs = model.probabilities(crop[None])[0]
  return FrameRow(1, 0.0, _box(face), float(face.score), probs)
