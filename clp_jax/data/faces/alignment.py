"""Face alignment: a similarity transform that puts rigid landmarks on a canonical template.

AU pipelines align every frame before anything else (OpenFace: a similarity transform of rigid
landmarks to a 112 px template; JAA-Net: eyes levelled and boxed with nose and mouth). Without it,
the head's in-plane rotation, position and size change the image far more than most AUs do: on
the synthetic corpus a 3 degree roll or a 1.3% shift changes the frame 3-30x more than an AU at
intensity 3 (docs/experiments.md, "What the pretrained features follow"), and a temporal loss
learns that drift instead of the AUs.

Landmarks are rigid points (eye centres, nose tip): mouth corners move with AU12/15/20, and
aligning on them would partly undo the AUs.
"""

import cv2
import numpy as np

# One canonical face, as fractions of the output side: the face fills the crop (interocular
# distance 0.336 of the width, about OpenFace's scale), brows to chin. Its rows are the rigid
# points a face is aligned on: the eye centres (left, right in the image), then a nose point. The
# nose point depends on what gives the landmarks, so each kind has its row on the same face:
# - RIGID_TEMPLATE: the nose tip, 0.515 interocular distances below the eye line (the synthetic
#   corpus's renderer gives eye centres and nose tip);
# - FIVE_POINT_TEMPLATE: the base of the nose (subnasale), where dlib's 5-point predictor puts its
#   fifth point, 0.70 interocular distances below the eye line (the median over the real clips in
#   ../shared/data/real_videos of that distance from the 5-point eye-corner centres: 0.63 and
#   0.77; measured 2026-12-04).
RIGID_TEMPLATE = np.array([[0.332, 0.393], [0.668, 0.393], [0.5, 0.566]], np.float64)
FIVE_POINT_TEMPLATE = np.array([[0.332, 0.393], [0.668, 0.393], [0.5, 0.628]], np.float64)


def similarity_transform(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
  """Least-squares rotation + uniform scale + translation taking src to dst (Umeyama 1991).

  src, dst: [N, 2] points, N >= 2. Returns the [2, 3] matrix M with dst ~ src @ M[:, :2].T + M[:, 2].
  """
  src, dst = np.asarray(src, np.float64), np.asarray(dst, np.float64)
  if src.shape != dst.shape or src.ndim != 2 or src.shape[1] != 2 or len(src) < 2:
    raise ValueError(f"similarity_transform needs two [N >= 2, 2] point sets of one shape, got "
                     f"{src.shape} and {dst.shape}")
  mu_s, mu_d = src.mean(0), dst.mean(0)
  s, d = src - mu_s, dst - mu_d
  var = (s ** 2).sum() / len(src)
  if var <= 0:
    raise ValueError(f"The landmarks {src.tolist()} coincide: no transform is defined")
  u, sigma, vt = np.linalg.svd(d.T @ s / len(src))
  sign = np.diag([1.0, np.sign(np.linalg.det(u @ vt)) or 1.0])  # a rotation, never a reflection
  rot = u @ sign @ vt
  scale = (sigma * np.diag(sign)).sum() / var
  m = np.zeros((2, 3))
  m[:, :2] = scale * rot
  m[:, 2] = mu_d - scale * rot @ mu_s
  return m


def transform_points(m: np.ndarray, points: np.ndarray) -> np.ndarray:
  """Applies a [2, 3] affine matrix (as `similarity_transform` returns) to [N, 2] points."""
  points = np.asarray(points, np.float64)
  return points @ np.asarray(m)[:, :2].T + np.asarray(m)[:, 2]


def align(image: np.ndarray, landmarks: np.ndarray, size: int,
          template: np.ndarray = RIGID_TEMPLATE) -> np.ndarray:
  """Warps a face so that its rigid landmarks land on the template.

  image: [H, W, 3] uint8; landmarks: [N, 2] pixels (x, y) matching template's [N, 2] rows.
  Returns [size, size, 3] uint8; pixels from outside the frame repeat its border.
  """
  m = similarity_transform(landmarks, np.asarray(template) * size)
  return cv2.warpAffine(image, m, (size, size), flags=cv2.INTER_LINEAR,
                        borderMode=cv2.BORDER_REPLICATE)
