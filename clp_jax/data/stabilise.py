"""Clip stabilisation: each frame of a clip warped onto the clip's middle frame.

Inside a short clip the person is constant, and the largest change between frames is usually the
head's drift (position, size, roll and, foreshortened, yaw and pitch), not what the face does
(docs/experiments.md, "What the pretrained features follow"). The within-clip losses then learn the
drift. A global 2-D warp per frame removes most of it: on synthetic_au's pretraining clips the mean
change between consecutive standardised frames falls from 0.117 to 0.098 (euclidean), against 0.090
for the same videos rendered with the head held still (`benchmarks/stabilisation.py`). What is left
is mostly out-of-plane parallax, which no 2-D warp removes.

The warp of each frame is found by ECC image registration (`cv2.findTransformECC`, Evangelidis &
Psarakis 2008) of a downscaled grey copy against the clip's middle frame. An AU changes a small
region of the face and the registration fits the whole face, so the warp follows the head:
measured, the euclidean warps found on still-head clips move the frame's corners by 0.15 px on
average, against 1.02 px on moving ones (affine: 0.36 against 1.35; it stretches an opening mouth).

A global warp cannot follow a head in front of a still background, nor the parallax of turning
(the nose moves further than the cheeks). `motion="flow"` adds, after the euclidean warp, a dense
optical flow (Farneback 2003) onto the middle frame, smoothed by a Gaussian of `flow_sigma` of the
frame's width: what moves the whole face coherently is taken out, what moves a small region (an
AU) mostly stays. Measured on rendered pairs (`benchmarks/stabilisation.py`, second table), the
projection of a frame's change onto its original change keeps 0.77 of an AU at intensity 3 and
0.23 of the head's pose changes (0.95 and 0.56 with the euclidean warp alone). Pretrained on,
it did not beat the euclidean warp at 200 steps (docs/experiments.md, "Stabilised clips"): the
quarter of each AU it takes costs what the extra pose it removes gains.

`motion="rigid"` fits six numbers per frame instead of a smoothed field: after the euclidean warp,
the rigid move (shift, size, roll, yaw, pitch) of an ellipsoidal face under orthographic
projection, whose yaw and pitch move each point by its depth, fitted to the dense flow inside the
face with Huber weights and undone there. Six numbers cannot follow a brow or a mouth: on rendered
pairs it keeps 0.89 of an AU (flow 0.77) and leaves 0.17 of the head's changes (flow 0.23,
euclidean 0.56); on pretraining clips it leaves 16% of the drift inside the face (euclidean 45%)
(docs/experiments.md, "A rigid head fitted to the flow").

`motion="rigid_still_surround"` is "rigid" inside the face and, outside it, the middle frame's
pixels in every frame. The euclidean warp that runs first follows the head and so moves a still
background against it, and the rigid move fades out over the hair and the background: both leave
the head's move readable outside the face, which the encoder learns at longer budgets
(docs/experiments.md, "A still surround").
"""

import functools

import cv2
import numpy as np

# Stabilisation runs in the input threads, one clip each, and the threads (and, on a host with
# several accelerators, the processes) already keep every core busy: OpenCV's own pool on top
# only adds contention. Measured on 2 cores, a batch of 8 clips of 8 frames of
# "rigid_still_surround": 117 -> 106 ms with one input thread, 77 -> 65 ms with two
# (benchmarks/input_pipeline.py has the rows). On an H200 host with 16 cores, 10 pretrainings
# of 2 input threads each, OpenCV pinned to one thread, ran at a load of 25-35 and 3-3.5 steps/s
# each: the host, not the GPU, bounds stabilised pretraining.
cv2.setNumThreads(1)

# setting -> the ECC motion model of its global warp; "flow" adds the smoothed dense flow
MOTIONS = {"euclidean": cv2.MOTION_EUCLIDEAN, "affine": cv2.MOTION_AFFINE,
           "flow": cv2.MOTION_EUCLIDEAN, "rigid": cv2.MOTION_EUCLIDEAN,
           "rigid_still_surround": cv2.MOTION_EUCLIDEAN}

# The face template of `motion="rigid"`, as fractions of the frame's width: records are face-centred
# crops (synthetic_au renders the face's centre at (0.5, 0.52) of the frame, +-5%, half-width 0.29
# and half-height 0.40 of it at scale 1, +-10%; a detector's crops are alike). The depth of the
# face's surface is that of an ellipsoid 0.94 times as deep as it is half-wide.
RIGID_CENTRE = (0.5, 0.52)
RIGID_AXES = (0.29, 0.40)
RIGID_DEPTH = 0.94
# Where landmarks are given (eye centres, nose tip: the records' `landmarks`), the template is
# placed on the middle frame's face instead: its centre RIGID_BELOW_EYES interocular distances
# below the eyes' midpoint, its half-axes RIGID_AXES_IOD interocular distances (synthetic_au's
# faces: 0.28-0.33, half-width 1.03-1.32, half-height 1.33-1.63).
RIGID_BELOW_EYES = 0.3
RIGID_AXES_IOD = (1.15, 1.5)
# The rigid move is fitted inside RIGID_FIT of the template (its edge mixes head and background)
# and undone in full out to RIGID_FADE[0] (hair, ears and jaw move with the face), fading to
# nothing at RIGID_FADE[1] (the background holds still). Wider fades remove more of the head's
# shift and roll from rendered pairs and warp more of the background (benchmarks/stabilisation.py).
RIGID_FIT = 0.9
RIGID_FADE = (1.1, 1.5)
# With a still surround, frame j gives way to the middle frame from SURROUND_FADE[0] of the
# template to SURROUND_FADE[1]: beyond it (the background, most of the hair) every frame is the
# middle frame.
SURROUND_FADE = (1.1, 1.3)


def check_motion(motion: str) -> int:
  """The OpenCV motion model of a `data.stabilise` setting; a clear error for an unknown one."""
  if motion not in MOTIONS:
    raise ValueError(f"data.stabilise must be one of {sorted(MOTIONS)} or '' (off), got {motion!r}")
  return MOTIONS[motion]


def stabilise_clip(clip: np.ndarray, *, motion: str = "euclidean", scale: float = 0.5,
                   iterations: int = 30, flow_sigma: float = 0.1, landmarks=None) -> tuple:
  """Warps every frame of a clip onto its middle frame.

  clip: [K, H, W, 3] uint8. Registration runs on grey copies at `scale` of the size (its cost
  falls with the pixel count; the head's drift is a low-frequency change). Returns (stabilised
  clip [K, H, W, 3] uint8, warps [K, 2, 3] float32 with frame_j(W_j @ [x, y, 1]) ~ middle(x, y)
  in full-size pixels, the middle frame's the identity; flow [K, H, W, 2] float32 or None).
  With motion="flow", flow is the smoothed residual displacement after the warp: stabilised
  frame j at (x, y) is the warped frame j at (x, y) + flow[j, y, x]; `flow_sigma` is the
  smoothing's SD as a fraction of the width. Borders uncovered by a warp repeat the edge pixels.
  Where ECC does not converge (a cut, a blank frame) the frame keeps the identity: an
  unstabilised frame is the safe failure.
  With motion="rigid", after the euclidean warp (which moves the whole frame, hair and outline
  too), the rigid move of an ellipsoidal face fitted to the dense flow that is left
  (`rigid_basis`: the parallax of yaw and pitch, and what the background kept the warp from
  following) is undone inside the face and returned as flow; `landmarks` [K, 3, 2] (eye centres,
  nose tip, pixels) place the face's template on the middle frame's face, without them it sits
  where a face-centred crop has it.
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
  if motion in ("rigid", "rigid_still_surround"):
    template = None if landmarks is None else face_template(np.asarray(landmarks)[ref])
    out, flow = _remove_rigid_head(out, ref, size, template,
                                   still_surround=motion == "rigid_still_surround")
    return out, warps, flow
  if motion != "flow":
    return out, warps, None
  out, flow = _remove_smooth_flow(out, ref, size, flow_sigma)
  return out, warps, flow


def _remove_smooth_flow(clip: np.ndarray, ref: int, size: tuple, sigma: float) -> tuple:
  """clip [K, H, W, 3] uint8 (already globally warped) -> (clip with each frame's smoothed flow
  onto frame `ref` removed, flow [K, H, W, 2] float32 in full-size pixels). The flow is found at
  `size` (as the ECC step) and its smoothing is a fraction of that width."""
  k, h, w = clip.shape[:3]
  flow = np.zeros((k, h, w, 2), np.float32)
  out = clip.copy()
  for j, f in _dense_flows(clip, ref, size):
    f = cv2.GaussianBlur(f, (0, 0), sigma * size[0])
    f = cv2.resize(f, (w, h), interpolation=cv2.INTER_LINEAR)
    f[..., 0] *= w / size[0]
    f[..., 1] *= h / size[1]
    flow[j] = f
    out[j] = _resample(clip[j], f)
  return out, flow


def _dense_flows(clip: np.ndarray, ref: int, size: tuple):
  """Yields (j, Farneback's dense flow [h, w, 2] of frame j onto frame `ref`, at `size`) for
  every frame but `ref`: middle(x) ~ frame_j(x + flow(x)), in downscaled pixels."""
  grey = [cv2.resize(cv2.cvtColor(f, cv2.COLOR_RGB2GRAY), size, interpolation=cv2.INTER_AREA)
          for f in clip]
  for j in range(len(clip)):
    if j != ref:
      # pyr_scale 0.5, 3 levels, a 9 px window (at half of 128 px), 3 iterations, poly_n 5, 1.2
      yield j, cv2.calcOpticalFlowFarneback(grey[ref], grey[j], None, 0.5, 3, 9, 3, 5, 1.2, 0)


@functools.lru_cache(maxsize=8)
def _pixel_grid(h: int, w: int) -> tuple:
  """Row and column coordinates [H, W] float32 (cached: every frame of every clip needs them)."""
  ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
  ys.flags.writeable = xs.flags.writeable = False
  return ys, xs


def _resample(frame: np.ndarray, flow: np.ndarray) -> np.ndarray:
  """frame [H, W, 3] at (x, y) + flow [H, W, 2] (full-size pixels), bilinear, edges repeated."""
  ys, xs = _pixel_grid(*frame.shape[:2])
  return cv2.remap(frame, xs + flow[..., 0], ys + flow[..., 1], cv2.INTER_LINEAR,
                   borderMode=cv2.BORDER_REPLICATE)


def face_template(points: np.ndarray) -> tuple:
  """Eye centres and nose tip [3, 2] (x, y) pixels -> (centre (x, y), half-axes (a, b)) pixels of
  the face's ellipse (RIGID_BELOW_EYES, RIGID_AXES_IOD)."""
  points = np.asarray(points, np.float64)
  eyes = points[:2].mean(axis=0)
  across = points[1] - points[0]
  iod = float(np.linalg.norm(across))
  if not np.isfinite(iod) or iod < 1e-3:
    raise ValueError(f"face_template needs two distinct eye centres, got {points[:2].tolist()}")
  down = np.array([-across[1], across[0]]) / iod  # the eye line turned a quarter: down the face
  if down[1] < 0:
    down = -down
  centre = eyes + RIGID_BELOW_EYES * iod * down
  return (float(centre[0]), float(centre[1])), (RIGID_AXES_IOD[0] * iod, RIGID_AXES_IOD[1] * iod)


def rigid_basis(h: int, w: int, template=None) -> tuple:
  """The 6 flow fields a small rigid move of the face template makes, and where the face is.

  Orthographic projection of an ellipsoidal face (template: (centre, half-axes) pixels, from
  `face_template`; None: RIGID_CENTRE and RIGID_AXES): a shift (2), a change of size, a roll,
  and a yaw and pitch, which move each point across the image by its depth (the nose more than the
  cheeks: the parallax no 2-D warp follows). Returns (basis [6, H, W, 2] in pixels per unit of
  each parameter, rho [H, W]: each pixel's elliptical radius in the template, 1 on its edge).
  """
  if template is None:
    template = ((RIGID_CENTRE[0] * w, RIGID_CENTRE[1] * w), (RIGID_AXES[0] * w, RIGID_AXES[1] * w))
  (cx, cy), (a, b) = template
  ys, xs = np.mgrid[0:h, 0:w].astype(np.float64)
  x, y = xs - cx, ys - cy
  rho = np.sqrt((x / a) ** 2 + (y / b) ** 2)
  z = RIGID_DEPTH * a * np.sqrt(np.clip(1.0 - rho ** 2, 0.0, None))
  zero, one = np.zeros_like(x), np.ones_like(x)
  basis = np.stack([np.stack(f, -1) for f in (
      (one, zero), (zero, one), (x, y), (-y, x), (z, zero), (zero, z))])
  return basis.astype(np.float32), rho.astype(np.float32)


def fit_rigid_flow(flow: np.ndarray, basis: np.ndarray, rho: np.ndarray,
                   iterations: int = 3) -> np.ndarray:
  """The rigid move of the face that best explains a dense flow: [H, W, 2] -> [6] parameters
  (those of `rigid_basis`, whose basis and rho are given).

  Least squares inside RIGID_FIT of the template, reweighted `iterations` times with Huber
  weights so that what moves a small region on its own (an AU) weighs little.
  """
  mask = rho < RIGID_FIT
  return _fit_rigid(_rigid_design(basis, mask), flow[mask].reshape(-1), iterations)


def _rigid_design(basis: np.ndarray, mask: np.ndarray) -> np.ndarray:
  """The least-squares design matrix of the pixels in mask: [2P, 6], (u, v) interleaved."""
  return basis[:, mask].transpose(1, 2, 0).reshape(-1, 6).astype(np.float64)


def _fit_rigid(a: np.ndarray, f: np.ndarray, iterations: int = 3) -> np.ndarray:
  """Huber-reweighted least squares of flow values f [2P] on the design a [2P, 6] -> [6]."""
  f = f.astype(np.float64)
  wts = np.ones_like(f)
  p = np.zeros(6)
  for _ in range(iterations + 1):
    aw = a * wts[:, None]
    p = np.linalg.lstsq(aw.T @ a + 1e-9 * np.eye(6), aw.T @ f, rcond=None)[0]
    r = np.abs(a @ p - f)
    c = 1.345 * max(np.median(r) / 0.6745, 1e-3)
    wts = np.where(r <= c, 1.0, c / np.maximum(r, 1e-12))
  return p


def _ramp(rho: np.ndarray, edges: tuple) -> np.ndarray:
  """rho [H, W] -> weight [H, W, 1]: 1 inside edges[0] of the template, 0 beyond edges[1], linear
  between."""
  return np.clip((edges[1] - rho) / (edges[1] - edges[0]), 0.0, 1.0)[..., None]


def _remove_rigid_head(clip: np.ndarray, ref: int, size: tuple, template=None,
                       still_surround: bool = False) -> tuple:
  """clip [K, H, W, 3] uint8 -> (clip with each frame's rigid head move onto frame `ref` undone,
  flow [K, H, W, 2] float32: stabilised frame j at (x, y) is frame j at (x, y) + flow[j, y, x]).

  Farneback's dense flow onto frame `ref` at `size`, the rigid move of the face template fitted to
  it (`fit_rigid_flow`), and that move's flow removed inside the face, fading to nothing over
  the background (which holds still while the head moves). template: full-size pixels, or None.
  still_surround: outside the face every frame shows frame `ref`'s pixels, blended in over
  SURROUND_FADE of the template. The global warp that runs first follows the head, so it moves
  a still background the other way, and the fade leaves the outline half-corrected: both tell
  frames apart by the head's move, which is what the within-clip losses should not learn.
  """
  k, h, w = clip.shape[:3]
  small = None
  if template is not None:
    (cx, cy), (a, b) = template
    sx = size[0] / w
    small = ((cx * sx, cy * sx), (a * sx, b * sx))
  small_basis, small_rho = rigid_basis(size[1], size[0], small)
  face = small_rho < RIGID_FIT
  design = _rigid_design(small_basis, face)  # the same for every frame of the clip
  basis, rho = rigid_basis(h, w, template)
  fade = _ramp(rho, RIGID_FADE)
  own = _ramp(rho, SURROUND_FADE) if still_surround else None
  flow = np.zeros((k, h, w, 2), np.float32)
  out = clip.copy()
  for j, f in _dense_flows(clip, ref, size):
    p = _fit_rigid(design, f[face].reshape(-1))
    # the parameters are in downscaled pixels: shifts scale with the size, the rest are ratios
    p[:2] *= w / size[0]
    flow[j] = np.tensordot(p.astype(np.float32), basis, axes=1) * fade
    out[j] = _resample(clip[j], flow[j])
    if still_surround:
      out[j] = np.rint(own * out[j] + (1.0 - own) * clip[ref]).astype(np.uint8)
  return out, flow


def warp_points(points: np.ndarray, warps: np.ndarray, flow=None, iterations: int = 5) -> np.ndarray:
  """Where points of the original frames lie in the stabilised ones.

  points: [K, N, 2] (x, y) pixels; warps: [K, 2, 3] and flow ([K, H, W, 2] or None) from
  `stabilise_clip` (stabilised -> original coordinates), inverted here: the warp exactly, the
  flow by the fixed point x = y - flow(x) (it is smooth and small). Returns [K, N, 2] float32.
  """
  a, t = warps[:, :, :2].astype(np.float64), warps[:, :, 2].astype(np.float64)
  inv = np.linalg.inv(a)  # [K, 2, 2]
  y = np.einsum("kij,knj->kni", inv, points - t[:, None, :])
  if flow is None:
    return y.astype(np.float32)
  x = y.copy()
  for _ in range(iterations):
    x = y - np.stack([_sample(f, p) for f, p in zip(flow, x)])
  return x.astype(np.float32)


def _sample(field: np.ndarray, points: np.ndarray) -> np.ndarray:
  """field [H, W, 2] at points [N, 2] (x, y), bilinear, edges repeated -> [N, 2]."""
  map_x = np.ascontiguousarray(points[:, :1], np.float32)  # [N, 1]: an N x 1 image
  map_y = np.ascontiguousarray(points[:, 1:], np.float32)
  return cv2.remap(field, map_x, map_y, cv2.INTER_LINEAR,
                   borderMode=cv2.BORDER_REPLICATE).reshape(-1, 2)
