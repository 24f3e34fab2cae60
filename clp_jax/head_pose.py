"""The head's pose from a detector's rigid landmarks, for keeping it out of the AU code.

Inside a clip the head's drift changes a frame several times more than an AU does
(docs/experiments.md, "What the pretrained features follow"), so the temporal losses learn the
drift. Real pipelines know the head's pose per frame (OpenFace's CSVs give landmarks; the synthetic
corpus stores what a detector would give), and `losses.pose_explained_variance` penalises the part
of the codes' within-clip change that it explains.

Landmarks: [..., 3, 2] (x, y) pixels of eye centre, eye centre and nose tip (the order of
`faces.RIGID_TEMPLATE`), in the frame the encoder sees (`augment.view_points`).
"""

import jax.numpy as jnp
import numpy as np

# yaw, pitch (the nose tip's offset from the eyes' midpoint along and across the eye line, in
# interocular distances), roll (radians), log interocular distance, eye midpoint x, y (pixels)
GEOMETRY = ("yaw", "pitch", "roll", "log_scale", "x", "y")


def head_geometry(landmarks: jnp.ndarray) -> jnp.ndarray:
  """[..., 3, 2] landmarks -> [..., 6] head geometry in the order of GEOMETRY.

  The eyes are taken in image order (left to right), so a mirrored face gives the mirrored pose
  (yaw and roll change sign) rather than a roll of 180 degrees. Yaw and pitch are ratios of
  distances: a similarity transform of the frame (crop, resize, alignment) leaves them as they are.
  """
  landmarks = jnp.asarray(landmarks, jnp.float32)
  eye_a, eye_b, nose = landmarks[..., 0, :], landmarks[..., 1, :], landmarks[..., 2, :]
  d = eye_b - eye_a
  d = jnp.where(d[..., :1] < 0, -d, d)  # left to right in the image
  iod = jnp.sqrt(jnp.sum(d * d, axis=-1) + 1e-12)
  u = d / iod[..., None]
  v = jnp.stack([-u[..., 1], u[..., 0]], axis=-1)  # across the eye line, towards the chin
  mid = (eye_a + eye_b) / 2
  offset = nose - mid
  return jnp.stack([jnp.sum(offset * u, -1) / iod, jnp.sum(offset * v, -1) / iod,
                    jnp.arctan2(d[..., 1], d[..., 0]), jnp.log(iod), mid[..., 0], mid[..., 1]],
                   axis=-1)


def clip_motion(landmarks: np.ndarray) -> np.ndarray:
  """How much the head moves inside each clip: [N, K, 3, 2] landmarks -> [N] scores.

  For every clip and every GEOMETRY component (position in interocular distances), the change
  over the clip of a least-squares line in time (a line, because a detector's per-frame noise
  would otherwise read as motion); each component divided by its median over the N clips, so that
  no unit dominates, then summed. 6 is a clip of median motion in every component.
  """
  g = np.array(head_geometry(np.asarray(landmarks, np.float32)), np.float64)  # [N, K, 6]
  if g.ndim != 3 or g.shape[1] < 2:
    raise ValueError(f"clip_motion needs landmarks [N, K >= 2, 3, 2], got {np.shape(landmarks)}")
  g[..., 4:] /= np.exp(g[..., 3:4]).mean(axis=1, keepdims=True)
  t = np.arange(g.shape[1], dtype=np.float64)
  t -= t.mean()
  slope = np.einsum("nkg,k->ng", g - g.mean(axis=1, keepdims=True), t) / np.sum(t * t)
  change = np.abs(slope) * (t[-1] - t[0])
  return np.sum(change / np.maximum(np.median(change, axis=0), 1e-12), axis=1)
