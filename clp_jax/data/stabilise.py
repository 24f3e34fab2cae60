"""Clip stabilisation: each frame of a clip warped onto the clip's middle frame.

Inside a short clip the person is constant, and the largest change between frames is usually the
head's drift (position, size, roll and, foreshortened, yaw and pitch), not what the face does
(README, "What the pretrained features follow"). The within-clip losses then learn the drift. A
global 2-D warp per frame removes most of it: on synthetic_au's pretraining clips the mean change
between consecutive standardised frames falls from 0.117 to 0.098 (euclidean), against 0.090 for
the same videos rendered with the head held still (`benchmarks/stabilisation.py`). What is left
is mostly out-of-plane parallax, which no 2-D warp removes.

The warp of each frame is found by ECC image registration (`cv2.findTransformECC`, Evangelidis &
Psarakis 2008) of a downscaled grey copy against the clip's middle frame. An AU changes a small
region of the face and the registration fits the whole face, so the warp follows the head:
measured, the euclidean warps found on still-head clips move the frame's corners by 0.15 px on
average, against 1.02 px on moving ones (affine: 0.36 against 1.35; it stretches an opening mouth).
"""

import cv2
import numpy as np

MOTIONS = {"euclidean": cv2.MOTION_EUCLIDEAN, "affine": cv2.MOTION_AFFINE}


def check_motion(motion: str) -> int:
  """The OpenCV motion model of a `data.stabilise` setting; a clear error for an unknown one."""
  if motion not in MOTIONS:
    raise ValueError(f"data.stabilise must be one of {sorted(MOTIONS)} or '' (off), got {motion!r}")
  return MOTIONS[motion]


def stabilise_clip(clip: np.ndarray, *, motion: str = "euclidean", scale: float = 0.5,
                   iterations: int = 30) -> tuple:
  """Warps every frame of a clip onto its middle frame.

  clip: [K, H, W, 3] uint8. Registration runs on grey copies at `scale` of the size (its cost
  falls with the pixel count; the head's drift is a low-frequency change). Returns (stabilised
  clip [K, H, W, 3] uint8, warps [K, 2, 3] float32 with frame_j(W_j @ [x, y, 1]) ~ middle(x, y)
  in full-size pixels; the middle frame's is the identity). Borders uncovered by a warp repeat
  the edge pixels. Where ECC does not converge (a cut, a blank frame) the frame keeps the
  identity: an unstabilised frame is the safe failure.
  """
  model = check_motion(motion)
  k, h, w = clip.shape[:3]
  size = (max(8, int(round(w * scale))), max(8, int(round(h * scale))))
  grey = [cv2.resize(cv2.cvtColor(f, cv2.COLOR_RGB2GRAY), size,
                     interpolation=cv2.INTER_AREA).astype(np.float32) for f in clip]
  criteria = (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, iterations, 1e-4)
  ref = k // 2
  out = clip.copy()
  warps = np.repeat(np.eye(2, 3, dtype=np.float32)[None], k, axis=0)
  for j in range(k):
    if j == ref:
      continue
    try:
      _, warp = cv2.findTransformECC(grey[ref], grey[j], np.eye(2, 3, dtype=np.float32), model,
                                     criteria, None, 3)
    except cv2.error:
      continue
    # The linear part is scale-free; the shift was measured in downscaled pixels.
    warp[0, 2] *= w / size[0]
    warp[1, 2] *= h / size[1]
    warps[j] = warp
    out[j] = cv2.warpAffine(clip[j], warp, (w, h), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
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
