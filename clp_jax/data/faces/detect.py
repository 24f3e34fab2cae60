"""Faces in real frames: dlib's HOG face detector and its 5-point landmark predictor.

Why these: the weights must come from a package the registries hold and work offline. dlib-bin
(a prebuilt wheel of dlib 20) plus face-recognition-models 0.3.0 (dlib's model files) give a HOG
detector with no missed face and no false positive on the real clips in ../shared/data/real_videos,
~100 frames/s on a half-size copy of a 640x360 frame on one core, and a 5-point predictor at
~400 faces/s (measured 2026-12-04; benchmarks/face_align.py). Neural detectors either download
their weights at run time (mediapipe >= 0.10.30, insightface, face-alignment) or need a runtime
the default install does not have. The official `dlib` sdist compiles for ~20 min.

The model files are located with `importlib.util.find_spec`, never imported: the package's
`__init__` imports pkg_resources, which current setuptools no longer ship.

Install: `pip install clp_jax[faces]` (the test extra includes it).
"""

import dataclasses
import importlib.util
import os

import cv2
import numpy as np

MODELS_PACKAGE = "face_recognition_models"
FIVE_POINT_MODEL = "shape_predictor_5_face_landmarks.dat"


class MissingFaceModels(ImportError):
  """dlib or the face-recognition-models package is not installed."""


def model_path(name: str) -> str:
  """The path of one of face-recognition-models' files, e.g. FIVE_POINT_MODEL."""
  spec = importlib.util.find_spec(MODELS_PACKAGE)
  if spec is None or spec.origin is None:
    raise MissingFaceModels(
        f"Face detection needs the '{MODELS_PACKAGE}' package (dlib's model files): "
        f"pip install 'clp_jax[faces]'")
  path = os.path.join(os.path.dirname(spec.origin), "models", name)
  if not os.path.exists(path):
    raise MissingFaceModels(f"{MODELS_PACKAGE} is installed but has no {path}; reinstall it "
                            f"(pip install --force-reinstall face-recognition-models==0.3.0)")
  return path


def _dlib():
  try:
    import dlib  # pylint: disable=g-import-not-at-top
  except ImportError as e:
    raise MissingFaceModels("Face detection needs dlib: pip install 'clp_jax[faces]' "
                            "(the prebuilt dlib-bin wheel, no compiler)") from e
  return dlib


@dataclasses.dataclass(frozen=True)
class Face:
  """One face in a frame.

  box: (x0, y0, x1, y1) in the frame's pixels.
  score: the detector's confidence (HOG margin, > 0 detected), NaN for a face followed by the
    tracker between detections.
  landmarks: [5, 2] float (x, y) pixels in dlib's 5-point order: the eye on the image's right
    (outer corner, inner corner), the eye on the image's left (outer, inner), the base of the nose.
  """
  box: tuple
  score: float
  landmarks: np.ndarray

  @property
  def area(self) -> float:
    return max(0.0, self.box[2] - self.box[0]) * max(0.0, self.box[3] - self.box[1])

  def rigid(self) -> np.ndarray:
    """The points alignment uses, in `alignment.FIVE_POINT_TEMPLATE`'s order: [3, 2] = the eye centre
    on the image's left, the one on its right, the base of the nose."""
    p = self.landmarks
    return np.stack([p[2:4].mean(0), p[0:2].mean(0), p[4]])

  def interocular(self) -> float:
    r = self.rigid()
    return float(np.linalg.norm(r[1] - r[0]))


def iou(a: tuple, b: tuple) -> float:
  """Intersection over union of two (x0, y0, x1, y1) boxes."""
  w = min(a[2], b[2]) - max(a[0], b[0])
  h = min(a[3], b[3]) - max(a[1], b[1])
  inter = max(0.0, w) * max(0.0, h)
  union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
  return float(inter / union) if union > 0 else 0.0


class Detector:
  """Finds faces and their 5 landmarks.

  detect_width: frames wider than this are detected on a copy resized to it (HOG's cost grows
    with the pixel count; its smallest face is ~80 px at upsample 0, so the default finds faces
    of >= 160 px in a 640 px frame). Landmarks are always fitted at full resolution.
  upsample: dlib's upsampling of the detection copy (each doubles the size: smaller faces, 4x the
    time).
  threshold: the smallest HOG score kept (dlib's own default is 0).
  """

  def __init__(self, detect_width: int = 320, upsample: int = 0, threshold: float = 0.0):
    if detect_width < 80:
      raise ValueError(f"detect_width must be >= 80 px (HOG's smallest face), got {detect_width}")
    dlib = _dlib()
    self._dlib = dlib
    self._detector = dlib.get_frontal_face_detector()
    self._predictor = dlib.shape_predictor(model_path(FIVE_POINT_MODEL))
    self.detect_width, self.upsample, self.threshold = detect_width, upsample, threshold

  def detect(self, image: np.ndarray) -> list:
    """image [H, W, 3] uint8 RGB -> its faces (`Face`), largest first."""
    image = _check_image(image)
    scale = min(1.0, self.detect_width / image.shape[1])
    small = image if scale == 1.0 else cv2.resize(
        image, (round(image.shape[1] * scale), round(image.shape[0] * scale)),
        interpolation=cv2.INTER_AREA)
    rects, scores, _ = self._detector.run(small, self.upsample, self.threshold)
    faces = []
    for r, score in zip(rects, scores):
      box = (r.left() / scale, r.top() / scale, (r.right() + 1) / scale, (r.bottom() + 1) / scale)
      faces.append(Face(box, float(score), self.landmarks(image, box)))
    return sorted(faces, key=lambda f: -f.area)

  def landmarks(self, image: np.ndarray, box: tuple) -> np.ndarray:
    """The 5 landmarks [5, 2] of the face in box (x0, y0, x1, y1) of image [H, W, 3] uint8 RGB."""
    rect = self._dlib.rectangle(int(round(box[0])), int(round(box[1])),
                                int(round(box[2])) - 1, int(round(box[3])) - 1)
    shape = self._predictor(image, rect)
    return np.array([[p.x, p.y] for p in shape.parts()], np.float64)


def _check_image(image: np.ndarray) -> np.ndarray:
  image = np.asarray(image)
  if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
    raise ValueError(f"Expected an [H, W, 3] uint8 RGB frame, got {image.dtype} {image.shape}")
  return np.ascontiguousarray(image)
