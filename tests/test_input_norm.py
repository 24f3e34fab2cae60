"""The encoder's input normalisation: per-image standardisation, and that export and evaluation
carry an encoder's own normalisation to its features and to its baselines."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from clp_jax.eval import evaluate
from clp_jax.eval import runner
from clp_jax.export import encoder as export
from clp_jax.models import clp as clp_model
from clp_jax.pretrain import state as state_lib
from clp_jax.pretrain import train
from tests.test_train import tiny_run_config


def _images(n=4, size=24, seed=0):
  """Mid-range uint8 images (30..200), so gains and offsets below do not clip."""
  return np.random.default_rng(seed).integers(30, 200, (n, size, size, 3)).astype(np.uint8)


def test_per_image_matches_numpy():
  x = _images().astype(np.float64)
  mean = x.mean(axis=(1, 2), keepdims=True)
  want = (x - mean) / (x.std(axis=(1, 2), keepdims=True) + 1.0)
  got = np.asarray(clp_model.normalize(jnp.asarray(x, jnp.float32), "per_image"))
  np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


def test_per_image_ignores_brightness_contrast_and_tint_imagenet_does_not():
  x = _images().astype(np.float32)
  gain = np.array([0.8, 0.9, 0.7], np.float32)  # a darker, lower-contrast frame with a cast
  y = x * gain + np.array([10.0, -5.0, 20.0], np.float32)
  norm = lambda im, kind: np.asarray(clp_model.normalize(jnp.asarray(im), kind))
  # equal but for the +1 grey level in the SD (SD here ~50: < 1% apart)
  np.testing.assert_allclose(norm(y, "per_image"), norm(x, "per_image"), rtol=0.01, atol=0.01)
  assert np.abs(norm(y, "imagenet") - norm(x, "imagenet")).mean() > 0.1


def test_unknown_normalisation_is_a_clear_error():
  with pytest.raises(ValueError, match="imagenet.*per_image"):
    clp_model.normalize(jnp.zeros((1, 4, 4, 3)), "zscore")
  with pytest.raises(ValueError, match="config.model.input_norm"):
    export.normalization("zscore")


def test_encoders_with_different_normalisations_are_not_evaluated_together():
  infos = [{"architecture": "resnet18", "input_size": 80, "normalization": export.normalization(k)}
           for k in ("imagenet", "per_image")]
  with pytest.raises(ValueError, match="input normalisations"):
    runner._check_architecture(infos)  # pylint: disable=protected-access
  # exports written before the switch existed read as ImageNet's
  assert evaluate.input_norm({"normalization": {"mean": [0, 0, 0]}}) == "imagenet"


@pytest.mark.slow
def test_export_carries_per_image_normalisation_to_the_features(tiny_data_dir, tmp_path):
  config = tiny_run_config(tiny_data_dir, num_steps=1, **{"model.input_norm": "per_image"})
  state = train.train(config, str(tmp_path / "run"))
  info = export.export(str(tmp_path / "run"), str(tmp_path / "export"))
  variables, loaded = export.load(str(tmp_path / "export"))
  assert info["normalization"]["kind"] == loaded["normalization"]["kind"] == "per_image"
  images = _images(3, 40)
  got = evaluate.extract_features(variables, loaded, images, batch_size=3)
  # the training model on per-image standardised frames gives the same features
  x = evaluate.eval_frames(jnp.asarray(images), config.image_size, "per_image")
  out = jax.jit(state_lib.make_model(config).apply)(
      {"params": state.params, "batch_stats": state.batch_stats}, x)
  np.testing.assert_allclose(got, np.asarray(out["features"]), rtol=1e-5, atol=1e-5)
  as_imagenet = evaluate.extract_features(
      variables, dict(loaded, normalization=export.normalization("imagenet")), images, 3)
  assert np.abs(as_imagenet - got).max() > 1e-3
