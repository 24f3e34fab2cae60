"""benchmarks/temporal_factors.py: regenerated factors, per-video centring and held-out ridge R^2."""

import pathlib
import sys

import numpy as np
import pytest

from clp_jax.data import sources
from data_builders.synthetic_au import synthetic_au_dataset_builder as sau
from tests.conftest import tiny_config

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "benchmarks"))
import temporal_factors  # pylint: disable=g-import-not-at-top,wrong-import-position


def test_regenerated_factors_match_the_stored_labels(tiny_data_dir):
  """The factors are regenerated without rendering; their AU intensities must equal the records'
  (labelled_factors checks every record), and a wrong seed must be caught."""
  source, _ = sources.open_source("synthetic_au", tiny_config("labelled"), "part1+part2+part3",
                                  tiny_data_dir)
  cfg = next(c for c in sau.SyntheticAu.BUILDER_CONFIGS if c.name == tiny_config("labelled"))
  factors, videos, parts = temporal_factors.labelled_factors(source, cfg)
  assert factors["head pose"].shape == (len(source), 3) and factors["gaze"].shape == (len(source), 2)
  assert len(set(videos.tolist())) == 12 and set(parts.tolist()) == {1, 2, 3}
  stored = np.stack([source[i]["au_intensity"] for i in range(len(source))])
  np.testing.assert_allclose(factors["AU intensity"], stored, atol=1e-5)
  wrong = sau.SyntheticAuConfig(name="wrong", kind="labelled", **{**sau.TINY, "seed": 7})
  with pytest.raises(ValueError, match="regenerated AU intensities differ"):
    temporal_factors.labelled_factors(source, wrong)


def test_centre_per_video_removes_each_videos_mean():
  rng = np.random.default_rng(0)
  videos = rng.integers(0, 5, 200)
  x = rng.normal(size=(200, 3)) + 10 * videos[:, None]
  c = temporal_factors.centre_per_video(x, videos)
  for v in range(5):
    np.testing.assert_allclose(c[videos == v].mean(0), 0, atol=1e-9)
    np.testing.assert_allclose(c[videos == v], x[videos == v] - x[videos == v].mean(0))


def test_ridge_predictions_equal_the_normal_equations():
  rng = np.random.default_rng(1)
  xtr, xte = rng.normal(size=(60, 8)), rng.normal(size=(10, 8))
  ytr = rng.normal(size=(60, 2))
  for a, pred in zip((0.01, 1.0), temporal_factors._ridge_predictions(xtr, ytr, xte, (0.01, 1.0))):
    w = np.linalg.solve(xtr.T @ xtr + a * 60 * np.eye(8), xtr.T @ ytr)
    np.testing.assert_allclose(pred, xte @ w, rtol=1e-8, atol=1e-10)


def test_held_out_r2_reads_a_linear_factor_and_not_noise():
  rng = np.random.default_rng(2)
  x = rng.normal(size=(600, 20))
  parts = np.repeat([1, 2, 3], 200)
  signal = x @ rng.normal(size=(20, 1)) + 0.1 * rng.normal(size=(600, 1))
  noise = rng.normal(size=(600, 1))
  r2 = temporal_factors.held_out_r2(x, np.concatenate([signal, noise], 1), parts)
  assert r2[0] > 0.95
  assert -0.05 < r2[1] < 0.02  # held out, so noise cannot be fitted


def test_factor_r2_equals_one_regression_per_group():
  rng = np.random.default_rng(3)
  feats, videos = rng.normal(size=(300, 12)), np.repeat(np.arange(30), 10)
  parts = np.repeat([1, 2, 3], 100)
  factors = {"a": feats[:, :2] @ rng.normal(size=(2, 3)), "b": rng.normal(size=(300, 2))}
  got = temporal_factors.factor_r2(feats, factors, videos, parts)
  x = temporal_factors.centre_per_video((feats - feats.mean(0)) / (feats.std(0) + 1e-6), videos)
  for g, f in factors.items():
    want = temporal_factors.held_out_r2(x, temporal_factors.centre_per_video(f, videos), parts).mean()
    np.testing.assert_allclose(got[g], want, rtol=1e-10)
  assert got["a"] > 0.9 and got["b"] < 0.05
