"""CLP's losses, as pure functions of codes and frame indices.

Shapes: B clips of K frames, D-dimensional codes. Codes passed to the contrastive losses are
L2-normalised. Every loss is written over the *global* batch: with a batch sharded over devices,
XLA inserts the gathers, so the loss on 8 devices equals the loss on 1 (tested).

Within-clip contrast is the core: the person is constant inside a clip, so telling frames apart
there can only be done by what the face is doing. Negatives from other clips are a switch
(`cross_clip`), since they reward telling people apart (see DESIGN.md).
"""

import jax
import jax.numpy as jnp


def l2_normalize(x: jax.Array, eps: float = 1e-6) -> jax.Array:
  return x / jnp.sqrt(jnp.sum(x * x, axis=-1, keepdims=True) + eps)


def _time_gaps(frame_index: jax.Array) -> jax.Array:
  """[B, K] -> |t_i - t_j| as [B, K, K] float32."""
  t = frame_index.astype(jnp.float32)
  return jnp.abs(t[:, :, None] - t[:, None, :])


def temporal_margin_loss(z: jax.Array, frame_index: jax.Array, *, pos_window: float,
                         margin: float, max_margin: float) -> jax.Array:
  """Margin-based temporal contrast inside each clip.

  For every anchor i, positive j with 0 < |t_j - t_i| <= pos_window, and negative k further from
  i than j is: relu(d(i, j) - d(i, k) + m), where d is the squared distance of the codes and the
  margin m = min(max_margin, margin * (|t_k - t_i| - |t_j - t_i|) / pos_window) grows with how
  much further k is. Averaged over valid triplets.

  z: [B, K, D] normalised codes; frame_index: [B, K] int. Returns a scalar.
  """
  d = jnp.sum((z[:, :, None, :] - z[:, None, :, :]) ** 2, axis=-1)  # [B, K, K]
  gap = _time_gaps(frame_index)
  positive = (gap > 0) & (gap <= pos_window)  # [B, i, j]
  further = gap[:, :, None, :] - gap[:, :, :, None]  # [B, i, j, k]: gap_ik - gap_ij
  valid = positive[:, :, :, None] & (further > 0)
  m = jnp.minimum(max_margin, margin * further / pos_window)
  hinge = jax.nn.relu(d[:, :, :, None] - d[:, :, None, :] + m)
  return jnp.sum(jnp.where(valid, hinge, 0.0)) / jnp.maximum(jnp.sum(valid), 1)


def clip_infonce(z: jax.Array, frame_index: jax.Array, *, temperature: float, pos_window: float,
                 cross_clip: bool) -> jax.Array:
  """Multi-positive InfoNCE: positives are an anchor's temporal neighbours in its clip.

  The candidates in the denominator are the other frames of the same clip, plus (cross_clip)
  every frame of every other clip in the global batch. Anchors without a positive are skipped.
  z: [B, K, D] normalised; frame_index: [B, K]. Returns a scalar.
  """
  b, k, _ = z.shape
  if not cross_clip:
    gap = _time_gaps(frame_index)
    positive = (gap > 0) & (gap <= pos_window)  # [B, K, K]
    logits = jnp.einsum("bid,bjd->bij", z, z) / temperature  # [B, K, K]
    pos, cand = positive, jnp.broadcast_to(~jnp.eye(k, dtype=bool)[None], positive.shape)
  else:
    flat = z.reshape(b * k, -1)
    logits = flat @ flat.T / temperature  # [N, N] over the global batch
    clip = jnp.repeat(jnp.arange(b), k)  # [N]: each frame's clip
    same = clip[:, None] == clip[None, :]
    t = frame_index.reshape(b * k).astype(jnp.float32)
    gap = jnp.abs(t[:, None] - t[None, :])
    pos = same & (gap > 0) & (gap <= pos_window)
    cand = ~(same & (gap == 0))  # every frame but the anchor itself
  neg_inf = jnp.finfo(logits.dtype).min
  log_pos = jax.nn.logsumexp(jnp.where(pos, logits, neg_inf), axis=-1)
  log_all = jax.nn.logsumexp(jnp.where(cand, logits, neg_inf), axis=-1)
  has_pos = jnp.any(pos, axis=-1)
  return jnp.sum(jnp.where(has_pos, log_all - log_pos, 0.0)) / jnp.maximum(jnp.sum(has_pos), 1)


def queue_infonce(q: jax.Array, key: jax.Array, queue: jax.Array, *, temperature: float) -> jax.Array:
  """MoCo's loss: query q against its momentum key (positive) and a queue of past keys.

  q, key: [N, D] normalised; queue: [Q, D] normalised. Returns a scalar.
  """
  pos = jnp.sum(q * key, axis=-1, keepdims=True)
  logits = jnp.concatenate([pos, q @ queue.T], axis=1) / temperature
  return jnp.mean(jax.nn.logsumexp(logits, axis=1) - logits[:, 0])


def reconstruction_loss(recon: jax.Array, target: jax.Array) -> jax.Array:
  """L1 between images [N, h, w, 3] in [0, 1]."""
  return jnp.mean(jnp.abs(recon - target))


def code_consistency_loss(code: jax.Array, target: jax.Array, weight: jax.Array) -> jax.Array:
  """Squared distance of normalised codes [N, D] to fixed targets, averaged with weight [N].

  The target is not differentiated through: CIR asks the re-encoded cross face to carry A's AU
  code, not A's code to move towards the cross face.
  """
  d = jnp.sum((l2_normalize(code) - jax.lax.stop_gradient(l2_normalize(target))) ** 2, axis=-1)
  return _weighted_mean(d, weight)


def cir_infonce(code: jax.Array, target: jax.Array, weight: jax.Array, *,
                temperature: float) -> jax.Array:
  """Contrastive CIR: each cross face's code must be nearer its own target than every other's.

  Row i of `code` re-encodes a face decoded from frame i's AU code and another person's code;
  its positive is target[i] (frame i's AU code), its negatives the other rows' targets, among
  them the AU code of the frame that lent the person code. A squared distance to the target
  alone (`code_consistency_loss`) is met by codes that barely vary; this is met only when the
  code tells frames apart by what the face does, whoever's appearance the face carries.
  Targets are not differentiated through, as in `code_consistency_loss`.

  code, target: [N, D] (any norm); weight: [N] (0 drops a row). Returns a scalar.
  """
  q = l2_normalize(code)
  k = jax.lax.stop_gradient(l2_normalize(target))
  logits = q @ k.T / temperature  # [N, N]
  per_row = jax.nn.logsumexp(logits, axis=-1) - jnp.diagonal(logits)
  return _weighted_mean(per_row, weight)


def _weighted_mean(values: jax.Array, weight: jax.Array) -> jax.Array:
  """sum(weight * values) / sum(weight), 0 when every weight is 0. values, weight: [N]."""
  return jnp.sum(weight * values) / jnp.maximum(jnp.sum(weight), 1.0)
