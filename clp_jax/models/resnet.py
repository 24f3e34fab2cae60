"""ResNet-10, -18 and -50 encoders whose parameters map one-to-one onto torchvision's.

Module names follow torchvision's state_dict (`conv1`, `bn1`, `layer2_1/conv2`, `layer3_0/
downsample_conv`, ...) so `clp_jax.export.interop` converts by renaming and transposing alone. Padding,
strides (ResNet v1.5: the stride sits on the 3x3 conv of a bottleneck), the 7x7 stem, the
-inf-padded max-pool and BatchNorm's eps=1e-5 are torchvision's.

Inputs are NHWC; BatchNorm statistics are taken over the *global* batch when the batch is a
sharded jax.Array (the mean over axis 0 spans every device), so they agree across devices.
"""

import functools
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

# ResNet-10 (one basic block a stage, timm's resnet10t without its deep stem) is ResNet-18 with
# half the blocks: the smoke-run size (`configs/default.py:runlocal`), where compiling dominates.
STAGES = {10: ("basic", (1, 1, 1, 1)), 18: ("basic", (2, 2, 2, 2)),
          50: ("bottleneck", (3, 4, 6, 3))}
FEATURE_DIM = {10: 512, 18: 512, 50: 2048}


def _pool_windows(xp: jax.Array, out_hw: tuple) -> list:
  """The 9 strided views of a padded [N, H+2, W+2, C] map that a 3x3 / stride-2 window visits,
  each [N, Ho, Wo, C], in row-major window order."""
  n, _, _, c = xp.shape
  ho, wo = out_hw
  return [jax.lax.slice(xp, (0, i, j, 0), (n, i + 2 * ho - 1, j + 2 * wo - 1, c), (1, 2, 2, 1))
          for i in range(3) for j in range(3)]


@jax.custom_vjp
def max_pool_3x3_s2(x: jax.Array) -> jax.Array:
  """torchvision's stem max-pool (3x3, stride 2, padding 1 with -inf): [N, H, W, C] -> [N, Ho, Wo, C].

  Same values and the same gradient as `nn.max_pool` (the gradient goes to the first maximum of
  each window in row-major order, as XLA's select-and-scatter does), but written as 9 strided
  slices: XLA:CPU lowers select-and-scatter to an argmax reduce-window plus a scatter, which made
  this one layer's backward pass ~130 ms of a ~1.3 s CPU train step; the slices take ~35 ms.
  """
  return _max_pool_fwd(x)[0]


def _max_pool_fwd(x):
  _, h, w, _ = x.shape
  xp = jnp.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)), constant_values=-jnp.inf)
  windows = _pool_windows(xp, ((h - 1) // 2 + 1, (w - 1) // 2 + 1))
  y = functools.reduce(jnp.maximum, windows)
  return y, (xp, y)


def _max_pool_bwd(res, g):
  xp, y = res  # the padded input, kept rather than padded again
  _, hp, wp, _ = xp.shape
  ho, wo = y.shape[1:3]
  taken = jnp.zeros(y.shape, bool)
  dxp = jnp.zeros(xp.shape, g.dtype)
  zero = jnp.zeros((), g.dtype)
  for k, window in enumerate(_pool_windows(xp, (ho, wo))):
    i, j = divmod(k, 3)
    hit = (window == y) & ~taken  # first maximum of the window only
    taken = taken | hit
    # Scatter back onto the stride-2 grid at offset (i, j): interior padding does it densely.
    dxp = dxp + jax.lax.pad(jnp.where(hit, g, zero), zero,
                            ((0, 0, 0), (i, hp - i - (2 * ho - 1), 1),
                             (j, wp - j - (2 * wo - 1), 1), (0, 0, 0)))
  return (dxp[:, 1:-1, 1:-1, :],)


max_pool_3x3_s2.defvjp(_max_pool_fwd, _max_pool_bwd)


class BasicBlock(nn.Module):
  features: int
  stride: int
  downsample: bool
  norm: Any
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x):
    conv = functools.partial(nn.Conv, use_bias=False, dtype=self.dtype)
    y = conv(self.features, (3, 3), (self.stride,) * 2, padding=((1, 1), (1, 1)), name="conv1")(x)
    y = nn.relu(self.norm(name="bn1")(y))
    y = conv(self.features, (3, 3), padding=((1, 1), (1, 1)), name="conv2")(y)
    y = self.norm(name="bn2")(y)
    if self.downsample:
      x = conv(self.features, (1, 1), (self.stride,) * 2, padding="VALID", name="downsample_conv")(x)
      x = self.norm(name="downsample_bn")(x)
    return nn.relu(x + y)


class Bottleneck(nn.Module):
  features: int  # width of the 3x3 conv; the block outputs 4x this
  stride: int
  downsample: bool
  norm: Any
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x):
    conv = functools.partial(nn.Conv, use_bias=False, dtype=self.dtype)
    y = nn.relu(self.norm(name="bn1")(conv(self.features, (1, 1), name="conv1")(x)))
    y = conv(self.features, (3, 3), (self.stride,) * 2, padding=((1, 1), (1, 1)), name="conv2")(y)
    y = nn.relu(self.norm(name="bn2")(y))
    y = self.norm(name="bn3")(conv(4 * self.features, (1, 1), name="conv3")(y))
    if self.downsample:
      x = conv(4 * self.features, (1, 1), (self.stride,) * 2, padding="VALID", name="downsample_conv")(x)
      x = self.norm(name="downsample_bn")(x)
    return nn.relu(x + y)


class ResNet(nn.Module):
  """[B, H, W, 3] float (normalised) -> globally pooled features [B, FEATURE_DIM[depth]] float32."""
  depth: int = 18
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x, train: bool = False):
    if self.depth not in STAGES:
      raise ValueError(f"ResNet depth must be one of {sorted(STAGES)}, got {self.depth}")
    kind, counts = STAGES[self.depth]
    norm = functools.partial(nn.BatchNorm, use_running_average=not train, momentum=0.9,
                             epsilon=1e-5, dtype=self.dtype)
    block_cls = BasicBlock if kind == "basic" else Bottleneck
    expansion = 1 if kind == "basic" else 4
    x = nn.Conv(64, (7, 7), (2, 2), padding=((3, 3), (3, 3)), use_bias=False, dtype=self.dtype,
                name="conv1")(x.astype(self.dtype))
    x = nn.relu(norm(name="bn1")(x))
    x = max_pool_3x3_s2(x)
    in_features = 64
    for stage, count in enumerate(counts):
      width = 64 * 2 ** stage
      for b in range(count):
        stride = 2 if stage > 0 and b == 0 else 1
        downsample = b == 0 and (stride != 1 or in_features != width * expansion)
        x = block_cls(width, stride, downsample, norm, self.dtype, name=f"layer{stage + 1}_{b}")(x)
        in_features = width * expansion
    return jnp.mean(x.astype(jnp.float32), axis=(1, 2))
