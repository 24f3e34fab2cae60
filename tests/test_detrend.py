"""`loss.detrend`: the within-clip losses on each clip's codes minus their trend in time."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from clp_jax import losses
from clp_jax import sharding
from clp_jax import step as step_lib
from clp_jax import train
from clp_jax.data import pipeline
from clp_jax.data import sources
from data_builders.synthetic_au import video as video_lib
from tests.test_train import loss_metrics
from tests.test_train import tiny_run_config
from tests.test_train import two_step_infonce


def _clips(rng, b=3, k=8, d=6):
  """Codes and uneven frame indices: clips start anywhere and skip frames irregularly."""
  z = rng.normal(size=(b, k, d)).astype(np.float32)
  t = np.cumsum(rng.integers(1, 4, size=(b, k)), axis=1) + rng.integers(0, 200, size=(b, 1))
  return z, t.astype(np.int32)


def _numpy_detrend(z, t, order):
  out = np.empty_like(z)
  for i in range(z.shape[0]):
    basis = np.stack([t[i].astype(np.float64) ** p for p in range(order + 1)], 1)
    coef, *_ = np.linalg.lstsq(basis, z[i].astype(np.float64), rcond=None)
    r = z[i] - basis @ coef
    out[i] = r / np.linalg.norm(r, axis=-1, keepdims=True)
  return out


@pytest.mark.parametrize("order", [0, 1, 2])
def test_detrend_matches_numpy_least_squares(order):
  z, t = _clips(np.random.default_rng(order))
  got = np.asarray(losses.detrend(jnp.asarray(z), jnp.asarray(t), order))
  np.testing.assert_allclose(got, _numpy_detrend(z, t, order), atol=2e-5)


@pytest.mark.parametrize("order", [1, 2])
def test_a_polynomial_drift_does_not_reach_the_losses(order):
  """Adding any polynomial of the given degree in time to a clip's codes (the head's drift)
  changes neither the detrended codes nor the within-clip losses computed on them."""
  rng = np.random.default_rng(10 + order)
  z, t = _clips(rng)
  tt = t.astype(np.float32)[..., None] / 100.0
  drift = sum(rng.normal(size=(3, 1, 6)).astype(np.float32) * 3 * tt ** p for p in range(order + 1))
  a = losses.detrend(jnp.asarray(z), jnp.asarray(t), order)
  b = losses.detrend(jnp.asarray(z + drift), jnp.asarray(t), order)
  np.testing.assert_allclose(np.asarray(a), np.asarray(b), atol=2e-4)
  kw = dict(pos_window=2.0)
  np.testing.assert_allclose(
      float(losses.clip_infonce(b, jnp.asarray(t), temperature=0.1, cross_clip=False, **kw)),
      float(losses.clip_infonce(a, jnp.asarray(t), temperature=0.1, cross_clip=False, **kw)),
      rtol=1e-4)
  # Without detrending the drift dominates the codes and the loss moves.
  raw = [float(losses.clip_infonce(losses.l2_normalize(jnp.asarray(x)), jnp.asarray(t),
                                   temperature=0.1, cross_clip=False, **kw)) for x in (z, z + drift)]
  assert abs(raw[0] - raw[1]) > 1e-2, raw


@pytest.mark.parametrize("order", [1, 2])
def test_the_trend_holds_the_head_drift_and_not_the_expressions(order):
  """On the synthetic corpus's own timelines (clips of 8 frames, 2 apart, as in its pretraining
  records), the trend takes most of a clip's within-clip change of head pose and framing and far
  less of the AU intensities': the reason for `loss.detrend`."""
  share = {"au": [0.0, 0.0], "pose": [0.0, 0.0], "framing": [0.0, 0.0]}
  t = (np.arange(8) * 2)[None].astype(np.int32)
  for subject in range(6):
    for video in range(2):
      _, au, n, _ = video_lib.video_timelines(0, subject, video, 80)
      factors = {"au": au, "pose": np.stack([n.yaw, n.pitch, n.roll], 1),
                 "framing": np.concatenate([n.shift, n.scale[:, None]], 1)}
      for name, x in factors.items():
        for start in range(0, 65, 4):
          clip = np.asarray(x[start:start + 15:2], np.float32)[None]
          kept = np.asarray(losses.trend_residual(jnp.asarray(clip), jnp.asarray(t), order))
          share[name][0] += float(np.sum(kept ** 2))
          share[name][1] += float(np.sum((clip - clip.mean(1, keepdims=True)) ** 2))
  kept = {name: a / b for name, (a, b) in share.items()}
  assert kept["au"] > 3 * kept["pose"] and kept["au"] > 3 * kept["framing"], kept
  assert kept["pose"] < 0.1 and kept["au"] > 0.05, kept


def test_detrend_on_eight_devices_equals_one_device():
  assert jax.device_count() == 8
  z, t = _clips(np.random.default_rng(7), b=8, k=4, d=8)
  mesh = sharding.make_mesh()
  g = sharding.global_batch({"z": z, "t": t}, mesh)
  assert len(g["z"].sharding.device_set) == 8

  def both(z, t):
    zd = losses.detrend(z, t, 1)
    return (losses.temporal_margin_loss(zd, t, pos_window=2, margin=0.1, max_margin=0.4),
            losses.clip_infonce(zd, t, temperature=0.1, pos_window=2, cross_clip=False))

  one = jax.devices()[0]
  sharded = jax.jit(both)(g["z"], g["t"])
  single = jax.jit(both)(*(jax.device_put(a, one) for a in (z, t)))
  for a, b in zip(sharded, single):
    np.testing.assert_allclose(float(a), float(b), rtol=1e-5)


def test_train_step_detrends_the_within_clip_losses_only(tiny_data_dir):
  """Same weights and batch: detrending changes the within-clip losses and leaves CIR's and
  reconstruction's terms exactly as they are."""
  config = tiny_run_config(tiny_data_dir)
  mesh = sharding.make_mesh()
  clp = step_lib.sharded_step(config, mesh)
  state = clp.init(jax.random.key(0))
  source, _ = sources.open_source(config.data.name, config.data.config, config.data.split,
                                  config.data.data_dir)
  batch = sharding.global_batch(
      next(iter(pipeline.pretrain_dataset_from_config(source, config, seed=0))), mesh)
  values = {}
  for detrend in ("", "linear"):
    config.loss.detrend = detrend
    metrics = loss_metrics(clp, state, batch, config, train=False)
    values[detrend] = {k: float(v) for k, v in metrics.items()}
  for name in ("temporal_margin", "infonce"):
    assert np.isfinite(values["linear"][name])
    assert abs(values["linear"][name] - values[""][name]) > 1e-4, name
  shared = [k for k in values[""] if k not in ("temporal_margin", "infonce", "loss")]
  assert shared, values[""]
  for name in shared:
    np.testing.assert_allclose(values["linear"][name], values[""][name], rtol=1e-5, err_msg=name)


def test_bad_detrend_settings_are_clear_errors(tiny_data_dir, tmp_path):
  config = tiny_run_config(tiny_data_dir, **{"loss.detrend": "cubic"})
  with pytest.raises(ValueError, match=r"config.loss.detrend='cubic': expected one of"):
    train.train(config, str(tmp_path / "a"))
  config = tiny_run_config(tiny_data_dir, **{"loss.detrend": "linear",
                                            "loss.cross_clip_negatives": True})
  with pytest.raises(ValueError, match="loss.cross_clip_negatives=True compares them"):
    train.train(config, str(tmp_path / "b"))


def test_detrend_refuses_clips_too_short_for_the_trend(tiny_data_dir):
  config = tiny_run_config(tiny_data_dir, **{"loss.detrend": "quadratic"})
  clp = step_lib.sharded_step(config, sharding.make_mesh())
  state = clp.init(jax.random.key(0))
  source, _ = sources.open_source(config.data.name, config.data.config, config.data.split,
                                  config.data.data_dir)
  batch = next(iter(pipeline.pretrain_dataset_from_config(source, config, seed=0)))
  k = batch["frame_index"].shape[1]
  short = {name: value[:, :3] if value.ndim > 2 or name == "frame_index" else value
           for name, value in batch.items()}  # [B, K, ...] -> [B, 3, ...]; per-clip keys kept
  assert k > 3 and short["clip"].shape[1] == 3, {n: v.shape for n, v in short.items()}
  with pytest.raises(ValueError, match="leaves nothing of clips of 3 frames; needs >= 4"):
    loss_metrics(clp, state, short, config, train=False)


def test_training_with_detrend_runs(tiny_data_dir, tmp_path):
  two_step_infonce(tiny_data_dir, tmp_path, **{"loss.detrend": "quadratic"})
