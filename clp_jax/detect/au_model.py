"""An AU detector on disk: an exported encoder, the linear AU heads `clp-eval` fitted on it, and
everything needed to use it the way it was trained (the AUs, thresholds, face alignment).

  <model>/encoder/, encoder.json, encoder.safetensors   the export (`clp_jax.export`), copied
  <model>/au_heads.safetensors   'kernel' [F, A], 'bias' [A]: logits = features @ kernel + bias
                                 (the probe's standardisation folded in)
  <model>/au_model.json          AUs, per-AU thresholds on the probability, which features the
                                 heads read, the alignment (template, crop size), the corpus and
                                 the cross-validated F1 the heads come with

`clp-eval --config.save_heads=True` writes one per encoder; `clp-detect --model` reads it.
"""

import dataclasses
import functools
import json
import os
import shutil

import jax
import jax.numpy as jnp
import numpy as np
import safetensors.numpy

from clp_jax.data.faces import alignment
from clp_jax.eval import evaluate
from clp_jax.export import encoder as export

FORMAT_VERSION = 1
FILES = ("encoder.json", "encoder", "au_heads.safetensors", "au_model.json")


def save(directory: str, export_dir: str, heads: dict, *, aus, features: str, crop_size: int,
         corpus: str, cv_f1: dict = None, threshold: float = 0.5) -> dict:
  """Writes a model directory from an export and heads {'kernel' [F, A], 'bias' [A]}; returns
  au_model.json's dict."""
  if os.path.exists(directory):
    shutil.rmtree(directory)
  shutil.copytree(export_dir, directory)
  safetensors.numpy.save_file({"kernel": np.ascontiguousarray(heads["kernel"], np.float32),
                               "bias": np.ascontiguousarray(heads["bias"], np.float32)},
                              os.path.join(directory, "au_heads.safetensors"))
  info = {
      "format_version": FORMAT_VERSION,
      "aus": [int(a) for a in aus],
      "au_names": [f"AU{int(a):02d}" for a in aus],
      "thresholds": [float(threshold)] * len(aus),  # on the probability, per AU
      "features": features,
      "probe_l2": heads.get("l2"),
      "alignment": {"template": "five_point",
                    "points": alignment.FIVE_POINT_TEMPLATE.tolist(),
                    "points_are": "eye centre on the image's left, the other, base of the nose; "
                                  "fractions of the crop side",
                    "crop_size": int(crop_size),
                    "detector": "dlib HOG + 5-point landmarks (clp_jax.data.faces)"},
      "corpus": corpus,
      "cross_validated_f1": cv_f1,
  }
  with open(os.path.join(directory, "au_model.json"), "w") as f:
    json.dump(info, f, indent=2)
  return info


@dataclasses.dataclass(frozen=True)
class AuModel:
  """A loaded detector. `probabilities(crops)`: [N, crop, crop, 3] uint8 aligned faces -> [N, A]."""
  directory: str
  info: dict
  encoder_info: dict
  variables: dict
  kernel: np.ndarray
  bias: np.ndarray

  @property
  def aus(self) -> list:
    return self.info["aus"]

  @property
  def crop_size(self) -> int:
    return self.info["alignment"]["crop_size"]

  @property
  def thresholds(self) -> np.ndarray:
    return np.asarray(self.info["thresholds"], np.float32)

  @functools.cached_property
  def _apply(self):
    depth, size = self.encoder_info["depth"], self.encoder_info["input_size"]
    norm, kind = evaluate.input_norm(self.encoder_info), self.info["features"]
    kernel, bias = jnp.asarray(self.kernel), jnp.asarray(self.bias)

    @jax.jit
    def apply(variables, crops):
      feats = evaluate._features(variables, crops, depth=depth, size=size, kind=kind,  # pylint: disable=protected-access
                                 norm=norm)
      return jax.nn.sigmoid(feats @ kernel + bias)
    return apply

  def probabilities(self, crops: np.ndarray) -> np.ndarray:
    """crops [N, crop_size, crop_size, 3] uint8 (N fixed per call keeps one compilation)."""
    return np.asarray(self._apply(self.variables, jnp.asarray(crops)))


def load(directory: str) -> AuModel:
  """A model directory -> AuModel; an error naming what is missing where it is incomplete."""
  if not os.path.isdir(directory):
    raise FileNotFoundError(f"{directory}: no such model directory (make one with clp-eval "
                            f"--encoder EXPORT --config.save_heads=True)")
  missing = [f for f in FILES if not os.path.exists(os.path.join(directory, f))]
  if missing:
    raise FileNotFoundError(
        f"{directory} is not a complete AU model: missing {', '.join(missing)} (expected "
        f"{', '.join(FILES)}; clp-eval --config.save_heads=True writes them)")
  with open(os.path.join(directory, "au_model.json")) as f:
    info = json.load(f)
  for key in ("aus", "thresholds", "features", "alignment"):
    if key not in info:
      raise ValueError(f"{directory}/au_model.json has no {key!r}")
  variables, encoder_info = export.load(directory)
  heads = safetensors.numpy.load_file(os.path.join(directory, "au_heads.safetensors"))
  for key in ("kernel", "bias"):
    if key not in heads:
      raise ValueError(f"{directory}/au_heads.safetensors has no {key!r} tensor")
  kernel, bias = heads["kernel"], heads["bias"]
  n = len(info["aus"])
  f = (encoder_info["au_code_dim"] if info["features"] == "au_code"
       else encoder_info["feature_dim"])
  if kernel.shape != (f, n) or bias.shape != (n,):
    raise ValueError(f"{directory}/au_heads.safetensors: kernel {kernel.shape}, bias "
                     f"{bias.shape}; expected [{f}, {n}] and [{n}] ({info['features']} features "
                     f"of encoder.json, the {n} AUs of au_model.json)")
  return AuModel(directory, info, encoder_info, variables, kernel, bias)
