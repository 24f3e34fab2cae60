"""Augmentation split where each part is cheapest: random draws on the host, pixels on the device.

The host decodes JPEGs and *draws* each view's parameters (crop box, flip, colour jitter) with
grain's per-record generator, so the views are fixed by the seed and the saved iterator state.
The pixel work (crop + resize, flip, jitter) runs inside the jitted step (`device_views`),
vectorised over the batch: on an accelerator it is nearly free, and it keeps the host loop at
little more than JPEG decoding (benchmarks/input_pipeline.py measures both sides).

View parameters, per frame, as a [VIEW_DIM] float32 vector:
  [y0, x0, h, w] crop box in pixels of the decoded frame, flip (0/1),
  brightness, contrast, saturation factors (1 = unchanged).
"""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import simplejpeg

VIEW_DIM = 8


@dataclasses.dataclass(frozen=True)
class AugmentConfig:
  """Augmentation strengths. crop_scale is the fraction of the image area kept."""
  crop_scale: tuple = (0.75, 1.0)
  crop_ratio: tuple = (0.9, 1.1)
  flip: bool = True
  brightness: float = 0.25
  contrast: float = 0.25
  saturation: float = 0.25

  @classmethod
  def from_config(cls, cfg) -> "AugmentConfig":
    """From an ml_collections ConfigDict (or dict) with a subset of the fields."""
    fields = {f.name for f in dataclasses.fields(cls)}
    kw = {k: (tuple(v) if isinstance(v, (list, tuple)) else v) for k, v in dict(cfg).items()}
    unknown = set(kw) - fields
    if unknown:
      raise ValueError(f"Unknown augmentation settings {sorted(unknown)}; expected some of {sorted(fields)}")
    return cls(**kw)


def decode_jpeg(data: bytes, out: np.ndarray = None) -> np.ndarray:
  """JPEG bytes -> [H, W, 3] uint8 RGB (libjpeg-turbo through simplejpeg).

  out: an optional C-contiguous [H, W, 3] uint8 array to decode into (no extra copy); a JPEG of
  another size is an error.
  """
  try:
    if out is not None:
      h, w = simplejpeg.decode_jpeg_header(data)[:2]
      if (h, w, 3) != out.shape:
        raise ValueError(f"it is {h}x{w}, expected {out.shape[0]}x{out.shape[1]}")
      return simplejpeg.decode_jpeg(data, colorspace="RGB", buffer=out)
    return simplejpeg.decode_jpeg(data, colorspace="RGB")
  except ValueError as e:
    raise ValueError(f"Could not decode a JPEG of {len(data)} bytes: {e}") from e


def identity_view(height: int, width: int) -> np.ndarray:
  """The view that leaves a frame as it is (whole frame, no flip, no jitter): [VIEW_DIM]."""
  return np.array([0, 0, height, width, 0, 1, 1, 1], np.float32)


def draw_views(n: int, height: int, width: int, cfg: AugmentConfig,
               rng: np.random.Generator) -> np.ndarray:
  """Random view parameters of n frames of height x width: [n, VIEW_DIM] float32."""
  area = height * width * rng.uniform(*cfg.crop_scale, size=n)
  ratio = np.exp(rng.uniform(np.log(cfg.crop_ratio[0]), np.log(cfg.crop_ratio[1]), size=n))
  w = np.minimum(float(width), np.sqrt(area * ratio))
  h = np.minimum(float(height), np.sqrt(area / ratio))
  y0, x0 = rng.uniform(size=n) * (height - h), rng.uniform(size=n) * (width - w)
  flip = (rng.random(n) < 0.5) & cfg.flip
  strength = np.array([cfg.brightness, cfg.contrast, cfg.saturation])
  jitter = 1.0 + rng.uniform(-1, 1, (n, 3)) * strength
  return np.concatenate([np.stack([y0, x0, h, w, flip], 1), jitter], 1).astype(np.float32)


def _one_view(image: jax.Array, view: jax.Array, size: int) -> jax.Array:
  """[H, W, 3] uint8 and [VIEW_DIM] -> [size, size, 3] float32 in [0, 255]."""
  x = image.astype(jnp.float32)
  scale = jnp.stack([size / view[2], size / view[3]])
  x = jax.image.scale_and_translate(x, (size, size, 3), (0, 1), scale, -view[:2] * scale,
                                    method="linear", antialias=True)
  x = jnp.where(view[4] > 0.5, x[:, ::-1], x)
  # brightness then contrast about mid-grey, then saturation as a blend with the grey image
  x = jnp.clip((x * view[5] - 128.0) * view[6] + 128.0, 0.0, 255.0)
  grey = x @ jnp.array([0.299, 0.587, 0.114], jnp.float32)
  return jnp.clip(grey[..., None] + view[7] * (x - grey[..., None]), 0.0, 255.0)


def device_views(images: jax.Array, views: jax.Array, size: int) -> jax.Array:
  """Applies views inside jit: images [..., H, W, 3] uint8, views [..., VIEW_DIM] ->
  [..., size, size, 3] float32 in [0, 255]; leading axes (batch, clip) are kept."""
  lead = images.shape[:-3]
  flat = images.reshape((-1,) + images.shape[-3:])
  out = jax.vmap(lambda im, v: _one_view(im, v, size))(flat, views.reshape(-1, VIEW_DIM))
  return out.reshape(lead + (size, size, 3))
