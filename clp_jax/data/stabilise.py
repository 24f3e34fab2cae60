"""Clip stabilisation: each frame of a clip warped onto the clip's middle frame.

Inside a short clip the person is constant, and the largest change between frames is usually the
head's drift (position, size, roll and, foreshortened, yaw and pitch), not what the face does
(README, "What the pretrained features follow"). The within-clip losses then learn the drift. A
global 2-D warp per frame removes most of it: on synthetic_au's pretraining clips the mean
frame-to-frame difference falls from 0.127 to 0.105, against 0.094 for the same videos rendered
with the head held still (`benchmarks/stabilisation.py`). What is left is out-of-plane parallax,
which no 2-D warp removes.

The warp of each frame is found by ECC image registration (`cv2.findTransformECC`, Evangelidis &
Psarakis 2008) on a smoothed, downscaled grey copy, against the clip's middle frame. An AU changes
a small region of the face and the registration fits the whole face, so the warp follows the head
(measured: on still-head clips stabilisation moves the frame difference by 0.003 only).
"""

import cv2
import numpy as np

MOTIONS = {"euclidean": cv2.MOTION_EUCLIDEAN, "affine": cv2.MOTION_AFFINE}


def register(reference: np.ndarray, frame: np.ndarray, *, motion: str = "euclidean",
             scale: float = 0.5, iterations: int = 30) -> np.ndarray:
  """The warp W [2, 3] float32 with frame(W @ [x, y, 1]) ~ reference(x, y), in full-size pixels.

  reference, frame: [H, W, 3] uint8. Registration runs at `scale` of the size (its cost falls
  with the pixel count; the head's drift is a low-frequency change). Where ECC does not converge
  (a cut, a blank frame) the identity is returned: an unstabilised frame is the safe failure.
  """
  if motion not in MOTIONS:
    raise ValueError(f"data.stabilise must be one of {sorted(MOTIONS)} (or '' for off), got {motion!r}")
  h, w = reference.shape[:2]
  size = (max(8, int(round(w * scale))), max(8, int(round(h * scale))))
  grey = lambda im: cv2.resize(cv2.cvtColor(im, cv2.COLOR_RGB2GRAY), size,
                               interpolation=cv2.INTER_AREA).astype(np.float32)
  warp = np.eye(2, 3, dtype=np.float32)
  criteria = (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, iterations, 1e-4)
  try:
    _, warp = cv2.findTransformECC(grey(reference), grey(frame), warp, MOTIONS[motion], criteria,
                                   None, 3)
  except cv2.error:
    return np.eye(2, 3, dtype=np.float32)
  # The linear part is scale-free; the shift was measured in downscaled pixels.
  warp[0, 2] *= w / size[0]
  warp[1, 2] *= h / size[1]
  return warp


def stabilise_clip(clip: np.ndarray, *, motion: str = "euclidean", scale: float = 0.5,
                   iterations: int = 30) -> tuple:
  """Warps every frame of a clip onto its middle frame.

  clip: [K, H, W, 3] uint8. Returns (stabilised clip [K, H, W, 3] uint8, warps [K, 2, 3] float32,
  the middle frame's the identity). Borders uncovered by a warp repeat the edge pixels.
  """
  k, h, w = clip.shape[:3]
  ref = k // 2
  out = clip.copy()
  warps = np.repeat(np.eye(2, 3, dtype=np.float32)[None], k, axis=0)
  for j in range(k):
    if j == ref:
      continue
    warps[j] = register(clip[ref], clip[j], motion=motion, scale=scale, iterations=iterations)
    out[j] = cv2.warpAffine(clip[j], warps[j], (w, h), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                            borderMode=cv2.BORDER_REPLICATE)
  return out, warps


def warp_points(points: np.ndarray, warps: np.ndarray) -> np.ndarray:
  """Where points of the original frames lie in the stabilised ones.

  points: [K, N, 2] (x, y) pixels; warps: [K, 2, 3] from `stabilise_clip` (stabilised -> original
  coordinates), inverted here. Returns [K, N, 2] float32.
  """
  a, t = warps[:, :, :2].astype(np.float64), warps[:, :, 2].astype(np.float64)
  inv = np.linalg.inv(a)  # [K, 2, 2]
  return np.einsum("kij,knj->kni", inv, points - t[:, None, :]).astype(np.float32)
