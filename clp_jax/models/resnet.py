"""ResNet-18 and ResNet-50 encoders whose parameters map one-to-one onto torchvision's.

Module names follow torchvision's state_dict (`conv1`, `bn1`, `layer2_1/conv2`, `layer3_0/
downsample_conv`, ...) so `clp_jax.interop` converts by renaming and transposing alone. Padding,
strides (ResNet v1.5: the stride sits on the 3x3 conv of a bottleneck), the 7x7 stem, the
-inf-padded max-pool and BatchNorm's eps=1e-5 are torchvision's.

Inputs are NHWC; BatchNorm statistics are taken over the *global* batch when the batch is a
sharded jax.Array (the mean over axis 0 spans every device), so they agree across devices.
"""

import functools
from typing import Any

import flax.linen as nn
import jax.numpy as jnp

STAGES = {18: ("basic", (2, 2, 2, 2)), 50: ("bottleneck", (3, 4, 6, 3))}
FEATURE_DIM = {18: 512, 50: 2048}


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
    x = nn.max_pool(x, (3, 3), (2, 2), padding=((1, 1), (1, 1)))
    in_features = 64
    for stage, count in enumerate(counts):
      width = 64 * 2 ** stage
      for b in range(count):
        stride = 2 if stage > 0 and b == 0 else 1
        downsample = b == 0 and (stride != 1 or in_features != width * expansion)
        x = block_cls(width, stride, downsample, norm, self.dtype, name=f"layer{stage + 1}_{b}")(x)
        in_features = width * expansion
    return jnp.mean(x.astype(jnp.float32), axis=(1, 2))
