"""Motion between two frames of a clip, split into the head's and the face's (after TCAE).

TCAE (Li, Shan and Chen, CVPR 2019; the authors' method before CLP) learns AU features from
unlabelled video by moving a source frame onto a target frame of the same video with two
displacement fields, one decoded from pose embeddings and one from AU embeddings, the AU field
kept small (L1) because AU movements are local and subtle. Here, as a loss next to CLP's
(`config.loss.motion`):

- `PoseField`: a pose code [N, Dp] -> a coarse field, POSE_GRID x
  POSE_GRID control points (`upsample` takes a field bilinearly to the images' size): smooth
  whole-head motion (shift, scale, roll and the smooth parallax of yaw and pitch), free of charge.
- `AuField`: an AU code [N, Da] -> a finer field, AU_GRID x AU_GRID cells,
  charged per pixel it moves (`loss.motion_sparsity`): what the head's coarse field cannot do,
  brows, lids, lip corners, jaw.
- `warp`: bilinear backward warp of images by a field.
The motion from a source frame to a target frame is the target's field minus the source's
(`CLPModel.motion_fields`); TCAE decodes it from the two codes together.

Unlike the 32 px decoder of reconstruction, which paints a face from its codes and so spends its
capacity on identity, the warp reuses the source's pixels at the encoder's full resolution: the
codes have to say only what moved: at 80 px an inner brow raise at intensity 3 lifts the brow by
about 2 pixels, under one at the decoder's 32 px.

Fields are [N, H, W, 2] in pixels of the images, (dy, dx): `warp(src, f)[y, x] = src[y + dy, x + dx]`.
"""

import flax.linen as nn
import jax
import jax.numpy as jnp

POSE_GRID = 5   # control points per side of the head's field (16 px cells at 80 px)
AU_GRID = 20    # cells per side of the AU field (4 px at 80 px)


def warp(images: jax.Array, flow: jax.Array) -> jax.Array:
  """Bilinear backward warp: images [N, H, W, C], flow [N, H, W, 2] (dy, dx) pixels -> [N, H, W, C].

  Sample points outside the image are clamped to its border (the edge pixels repeat).
  """
  n, h, w, _ = images.shape
  if flow.shape != (n, h, w, 2):
    raise ValueError(f"warp needs a flow [N, H, W, 2] = {(n, h, w, 2)}, got {flow.shape}")
  gy, gx = jnp.meshgrid(jnp.arange(h, dtype=jnp.float32), jnp.arange(w, dtype=jnp.float32),
                        indexing="ij")
  y = jnp.clip(gy + flow[..., 0], 0.0, h - 1.0)
  x = jnp.clip(gx + flow[..., 1], 0.0, w - 1.0)
  y0, x0 = jnp.floor(y), jnp.floor(x)
  wy, wx = (y - y0)[..., None], (x - x0)[..., None]
  y0, x0 = y0.astype(jnp.int32), x0.astype(jnp.int32)
  y1, x1 = jnp.minimum(y0 + 1, h - 1), jnp.minimum(x0 + 1, w - 1)
  pick = jax.vmap(lambda im, yy, xx: im[yy, xx])  # per image: [H, W] indices -> [H, W, C]
  top = (1 - wx) * pick(images, y0, x0) + wx * pick(images, y0, x1)
  bottom = (1 - wx) * pick(images, y1, x0) + wx * pick(images, y1, x1)
  return (1 - wy) * top + wy * bottom


def block_mean(images: jax.Array, f: int) -> jax.Array:
  """[N, S, S, C] -> [N, S/f, S/f, C]: means of f x f blocks (f divides S)."""
  n, s, _, c = images.shape
  return images.reshape(n, s // f, f, s // f, f, c).mean(axis=(2, 4))


def upsample(field: jax.Array, size: int) -> jax.Array:
  """[N, g, g, 2] -> [N, size, size, 2], bilinear: a smooth field at the images' resolution."""
  return jax.image.resize(field, (field.shape[0], size, size, 2), "linear")


class PoseField(nn.Module):
  """Pose codes [N, Dp] -> the head's field [N, g, g, 2],
  g = POSE_GRID control points a side, in pixels of the images.

  The last layer starts at zero, so the field starts as no motion at all."""
  hidden: int = 128

  @nn.compact
  def __call__(self, codes):
    h = nn.relu(nn.Dense(self.hidden, name="dense0")(codes))
    g = nn.Dense(POSE_GRID * POSE_GRID * 2, kernel_init=nn.initializers.zeros, name="dense1")(h)
    return g.reshape(-1, POSE_GRID, POSE_GRID, 2)


class AuField(nn.Module):
  """AU codes [N, Da] -> the face's field [N, g, g, 2],
  g = AU_GRID cells a side, in pixels of the images.

  A dense layer to AU_GRID x AU_GRID x `channels`, then a 3x3 convolution to 2 channels (starting
  at zero: no motion), so neighbouring cells can share a movement."""
  hidden: int = 256
  channels: int = 8

  @nn.compact
  def __call__(self, codes):
    h = nn.relu(nn.Dense(self.hidden, name="dense0")(codes))
    h = nn.relu(nn.Dense(AU_GRID * AU_GRID * self.channels, name="dense1")(h))
    h = h.reshape(-1, AU_GRID, AU_GRID, self.channels)
    return nn.Conv(2, (3, 3), kernel_init=nn.initializers.zeros, name="conv")(h)
