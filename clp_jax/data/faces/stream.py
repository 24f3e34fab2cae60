"""A video -> its main face, aligned, frame by frame: decoding, tracking and alignment in one pass.

This is the path every real corpus builder and clp-detect take from a video file to the crops the
encoder reads, so training and use see faces aligned the same way.
"""

import dataclasses
from typing import Iterator, Optional, Sequence

import cv2
import numpy as np

from clp_jax.data import video as video_lib
from clp_jax.data.faces import alignment as align_lib
from clp_jax.data.faces import detect as detect_lib
from clp_jax.data.faces import track as track_lib


@dataclasses.dataclass(frozen=True)
class AlignedFrame:
  """index, timestamp: as `video.Frame`; face: the main face in the frame's pixels, or None;
  crop: [size, size, 3] uint8 RGB, the face warped onto `alignment.FIVE_POINT_TEMPLATE`, or None."""
  index: int
  timestamp: float
  face: Optional[detect_lib.Face]
  crop: Optional[np.ndarray]


def aligned_frames(path: str, size: int = 112, every: int = 1, detect_every: int = 5,
                   detector: Optional[detect_lib.Detector] = None,
                   faces: Optional[dict] = None) -> Iterator[AlignedFrame]:
  """Every `every`-th frame of the video at path with its main face aligned to size x size.

  detect_every: counts the frames kept (after `every`): the detector runs on one in that many.
  faces: {0-based frame index: `detect.Face`} given with the video (e.g. `openface.read_faces`):
  then nothing is detected, and a frame missing from it has no face.
  Raises `video.VideoError` (naming the file) for an unreadable or truncated video, after the
  frames decoded before the damage.
  """
  tracker = None
  if faces is None:
    tracker = track_lib.MainFaceTracker(detector or detect_lib.Detector(), detect_every)
  for frame in video_lib.frames(path, every):
    face = tracker(frame.image) if tracker else faces.get(frame.index)
    crop = None if face is None else align_lib.align(
        frame.image, face.rigid(), size, align_lib.FIVE_POINT_TEMPLATE)
    yield AlignedFrame(frame.index, frame.timestamp, face, crop)


def read_image(path: str) -> np.ndarray:
  """An image file -> [H, W, 3] uint8 RGB; an unreadable file raises ValueError naming it."""
  image = cv2.imread(path, cv2.IMREAD_COLOR)
  if image is None:
    raise ValueError(f"{path}: not a readable image")
  return np.ascontiguousarray(image[..., ::-1])


def aligned_images(paths: Sequence[str], size: int = 112, detect_every: int = 5,
                   detector: Optional[detect_lib.Detector] = None) -> Iterator[tuple]:
  """The main face of a sequence of still frames (one video's frames as image files, in order):
  yields (path, face or None, crop [size, size, 3] uint8 RGB or None), one image at a time.
  An unreadable image raises ValueError naming it."""
  tracker = track_lib.MainFaceTracker(detector or detect_lib.Detector(), detect_every)
  for path in paths:
    image = read_image(path)
    face = tracker(image)
    crop = None if face is None else align_lib.align(
        image, face.rigid(), size, align_lib.FIVE_POINT_TEMPLATE)
    yield path, face, crop
