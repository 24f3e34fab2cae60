"""The main face of a video, followed frame by frame.

Detection is the expensive part (HOG over the frame), landmark fitting the cheap one (the 5-point
predictor inside a box). So the detector runs every `detect_every`-th frame, and whenever no face
is followed; between detections the box is carried by the previous frame's landmarks (the box
keeps the size and offset it had, relative to the eyes, at the last detection) and the landmarks
are refitted inside it. A detection also re-checks that the face is still there: a frame whose
detection finds no face has none, and the next frame detects again.

Several faces: at the first detection the largest is the main face; later detections keep the
face overlapping the followed box most (IoU >= `min_iou`), and fall back to the largest when none
does (the followed face left, or a cut).
"""

import numpy as np

from clp_jax.data.faces import detect as detect_lib


class MainFaceTracker:
  """Call it on consecutive frames of one video: frame [H, W, 3] uint8 RGB -> `detect.Face` of
  the main face, or None where there is none.

  detect_every: 1 detects in every frame (the most robust, the slowest).
  """

  def __init__(self, detector: detect_lib.Detector, detect_every: int = 5, min_iou: float = 0.3):
    if detect_every < 1:
      raise ValueError(f"detect_every must be >= 1, got {detect_every}")
    self.detector, self.detect_every, self.min_iou = detector, detect_every, min_iou
    self.frames = 0  # frames seen
    self.detections = 0  # frames on which the detector ran
    self._face = None  # the last frame's face
    self._since = 0  # frames since the last detection
    self._box_in_eyes = None  # the detector's box relative to the eyes at the last detection

  def __call__(self, frame: np.ndarray):
    self.frames += 1
    if self._face is None or self._since + 1 >= self.detect_every:
      return self._detect(frame)
    self._since += 1
    box = self._box_from(self._face)
    landmarks = self.detector.landmarks(frame, box)
    self._face = detect_lib.Face(box, float("nan"), landmarks)
    return self._face

  def _detect(self, frame):
    self.detections += 1
    self._since = 0
    faces = self.detector.detect(frame)
    if not faces:
      self._face = None
      return None
    face = faces[0]
    if self._face is not None:
      overlap = [detect_lib.iou(f.box, self._face.box) for f in faces]
      if max(overlap) >= self.min_iou:
        face = faces[int(np.argmax(overlap))]
    self._face = face
    self._box_in_eyes = self._relative_box(face)
    return face

  @staticmethod
  def _eye_frame(face):
    """The eyes' midpoint and interocular distance: the frame the box is carried in."""
    r = face.rigid()
    return (r[0] + r[1]) / 2, max(float(np.linalg.norm(r[1] - r[0])), 1.0)

  def _relative_box(self, face) -> np.ndarray:
    mid, iod = self._eye_frame(face)
    x0, y0, x1, y1 = face.box
    return np.array([x0 - mid[0], y0 - mid[1], x1 - mid[0], y1 - mid[1]]) / iod

  def _box_from(self, face) -> tuple:
    mid, iod = self._eye_frame(face)
    rel = self._box_in_eyes * iod
    return (mid[0] + rel[0], mid[1] + rel[1], mid[0] + rel[2], mid[1] + rel[3])
