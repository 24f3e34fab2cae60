"""The CLP model: a ResNet encoder factored into an AU code and a person code, a projection head
for the contrastive losses, and a decoder that rebuilds a face from (AU code, person code) for
cross-identity reconstruction (CIR).
"""

from typing import Any, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from clp_jax.models import resnet

# ImageNet statistics, as torchvision's pretrained ResNets expect (0-255 scale).
# NumPy, not jnp: a jnp constant at import would start the XLA backend, which must wait for
# jax.distributed.initialize in multi-process runs.
MEAN = np.array([0.485, 0.456, 0.406], np.float32) * 255.0
STD = np.array([0.229, 0.224, 0.225], np.float32) * 255.0


INPUT_NORMS = ("imagenet", "per_image")


def normalize(images: jax.Array, kind: str = "imagenet") -> jax.Array:
  """Images [..., H, W, 3] pixels in [0, 255] -> float32 encoder input, same shape.

  'imagenet': minus ImageNet's channel means, over its channel SDs (torchvision's convention).
  'per_image': each image's channels standardised by their own mean and SD over H x W (+1 grey
  level, so a flat image stays finite). Brightness, contrast and colour cast of a frame then never
  reach the encoder: inside a clip their drift would otherwise be what the temporal losses learn,
  and the per-frame colour jitter that hid it buried the AUs (docs/experiments.md, "Per-image
  input normalisation").
  """
  x = images.astype(jnp.float32)
  if kind == "imagenet":
    return (x - MEAN) / STD
  if kind == "per_image":
    mean = jnp.mean(x, axis=(-3, -2), keepdims=True)
    return (x - mean) / (jnp.std(x, axis=(-3, -2), keepdims=True) + 1.0)
  raise ValueError(f"Input normalisation (config.model.input_norm; encoder.json's "
                   f"normalization.kind) must be one of {INPUT_NORMS}, got {kind!r}")


class MLP(nn.Module):
  features: Sequence[int]

  @nn.compact
  def __call__(self, x):
    for i, f in enumerate(self.features):
      x = nn.Dense(f, name=f"dense{i}")(x)
      if i < len(self.features) - 1:
        x = nn.relu(x)
    return x


class Decoder(nn.Module):
  """(AU code, person code) [N, Da + Dp] -> image [N, size, size, 3] in [0, 1]."""
  size: int = 32
  width: int = 128
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, code):
    x = nn.Dense(4 * 4 * self.width, dtype=self.dtype)(code).reshape(-1, 4, 4, self.width)
    res, width = 4, self.width
    while res < self.size:
      x = jax.image.resize(x, (x.shape[0], 2 * res, 2 * res, x.shape[-1]), "nearest")
      width = max(32, width // 2)
      x = nn.relu(nn.Conv(width, (3, 3), dtype=self.dtype)(x))
      res *= 2
    return nn.sigmoid(nn.Conv(3, (3, 3), dtype=jnp.float32)(x))


class PersonEncoder(nn.Module):
  """A small CNN of its own for the person code: normalised images [N, H, W, 3] -> [N, width * 8].

  Four 3x3 stride-2 convolutions (width, 2x, 4x, 8x channels) with GroupNorm and ReLU, then the
  spatial mean. GroupNorm, not BatchNorm: it has no running statistics, so the person code is the
  same function in training and at export, and the CIR pass over decoded faces cannot move any.
  About a tenth of a ResNet-18's multiply-adds at 80 px.
  """
  width: int = 32
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x):
    for i in range(4):
      x = nn.Conv(self.width * 2**i, (3, 3), strides=(2, 2), dtype=self.dtype, name=f"conv{i}")(x)
      x = nn.relu(nn.GroupNorm(num_groups=8, dtype=self.dtype, name=f"norm{i}")(x))
    return jnp.mean(x, axis=(1, 2)).astype(jnp.float32)


PERSON_ENCODERS = ("shared", "cnn")


class CLPModel(nn.Module):
  """Encoder + heads. `__call__` maps normalised images [N, H, W, 3] to a dict of
  features [N, F], au [N, Da], person [N, Dp], proj [N, Dz]; `decode` rebuilds faces.

  person_encoder: 'shared' puts the person head on the AU encoder's features, so reconstruction
  asks the encoder that gets exported to carry the person's appearance too; 'cnn' gives the person
  code a small encoder of its own (`PersonEncoder`), which export leaves behind.
  """
  depth: int = 18
  au_dim: int = 128
  person_dim: int = 128
  proj_dim: int = 128
  hidden: int = 512
  decoder_size: int = 32
  person_encoder: str = "shared"
  dtype: Any = jnp.float32

  def setup(self):
    if self.person_encoder not in PERSON_ENCODERS:
      raise ValueError(f"config.model.person_encoder must be one of {PERSON_ENCODERS}, "
                       f"got {self.person_encoder!r}")
    self.encoder = resnet.ResNet(self.depth, dtype=self.dtype)
    if self.person_encoder == "cnn":
      self.person_cnn = PersonEncoder(dtype=self.dtype)
    self.au_head = MLP((self.hidden, self.au_dim))
    self.person_head = MLP((self.hidden, self.person_dim))
    self.projector = MLP((self.hidden, self.proj_dim))
    self.decoder = Decoder(self.decoder_size, dtype=self.dtype)

  def __call__(self, x, train: bool = False, person: bool = True):
    """person=False skips the person CNN (and leaves 'person' out) where the caller takes the
    person code of a few frames only (`person_code`); the shared head is always applied."""
    features = self.encoder(x, train=train)
    au = self.au_head(features)
    out = {"features": features, "au": au, "proj": self.projector(au)}
    if self.person_encoder == "shared":
      out["person"] = self.person_head(features)
    elif person:
      out["person"] = self.person_code(x)
    return out

  def person_code(self, x):
    """Person codes [N, Dp] of normalised images [N, H, W, 3] from the person CNN ('cnn' only)."""
    return self.person_head(self.person_cnn(x))

  def decode(self, au, person):
    return self.decoder(jnp.concatenate([au, person], axis=-1))

  def init_all(self, x):
    """Touches every submodule, for `init`."""
    out = self(x, train=False)
    return out, self.decode(out["au"], out["person"])
