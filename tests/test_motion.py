"""TCAE's motion loss: the warp against NumPy, fields that start still, and the loss in the step."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from clp_jax import sharding
from clp_jax import step as step_lib
from clp_jax.models import motion
from tests.test_train import _fixed_batch
from tests.test_train import _largest_gradients
from tests.test_train import _one_device_step
from tests.test_train import loss_metrics
from tests.test_train import tiny_run_config


def _numpy_warp(image, flow):
  """Bilinear backward warp, one image [H, W, C] by flow [H, W, 2], border clamped: a loop."""
  h, w, _ = image.shape
  out = np.zeros(image.shape, np.float64)
  for y in range(h):
    for x in range(w):
      sy = min(max(y + flow[y, x, 0], 0), h - 1)
      sx = min(max(x + flow[y, x, 1], 0), w - 1)
      y0, x0 = int(np.floor(sy)), int(np.floor(sx))
      y1, x1 = min(y0 + 1, h - 1), min(x0 + 1, w - 1)
      fy, fx = sy - y0, sx - x0
      out[y, x] = ((1 - fy) * (1 - fx) * image[y0, x0] + (1 - fy) * fx * image[y0, x1]
                   + fy * (1 - fx) * image[y1, x0] + fy * fx * image[y1, x1])
  return out


def test_warp_matches_a_numpy_loop():
  rng = np.random.default_rng(0)
  images = rng.normal(size=(2, 9, 7, 3)).astype(np.float32)
  flow = rng.uniform(-3, 3, size=(2, 9, 7, 2)).astype(np.float32)  # reaches past the border too
  got = np.asarray(motion.warp(jnp.asarray(images), jnp.asarray(flow)))
  for n in range(2):
    np.testing.assert_allclose(got[n], _numpy_warp(images[n], flow[n]), rtol=1e-5, atol=1e-5)


def test_an_integer_shift_moves_the_image_by_that_many_pixels():
  image = np.random.default_rng(1).normal(size=(1, 12, 12, 1)).astype(np.float32)
  flow = np.zeros((1, 12, 12, 2), np.float32)
  flow[..., 0], flow[..., 1] = 2.0, -1.0  # out[y, x] = image[y + 2, x - 1]
  got = np.asarray(motion.warp(jnp.asarray(image), jnp.asarray(flow)))
  np.testing.assert_allclose(got[0, :10, 1:], image[0, 2:, :11], atol=1e-6)
  np.testing.assert_array_equal(np.asarray(motion.warp(jnp.asarray(image), 0 * flow)), image)


def test_warp_refuses_a_field_of_another_size():
  with pytest.raises(ValueError, match=r"flow \[N, H, W, 2\]"):
    motion.warp(jnp.zeros((1, 8, 8, 3)), jnp.zeros((1, 4, 4, 2)))


def test_fields_start_as_no_motion_and_upsample_smoothly():
  codes = jax.random.normal(jax.random.key(0), (3, 10))
  for field in (motion.PoseField(), motion.AuField()):
    variables = field.init(jax.random.key(1), codes)
    grid = field.apply(variables, codes)
    assert grid.shape[0] == 3 and grid.shape[-1] == 2
    np.testing.assert_array_equal(np.asarray(grid), 0.0)
  # A constant field stays that constant at any size (bilinear upsampling keeps it).
  up = motion.upsample(jnp.full((1, motion.POSE_GRID, motion.POSE_GRID, 2), 1.5), 80)
  assert up.shape == (1, 80, 80, 2)
  np.testing.assert_allclose(np.asarray(up), 1.5, rtol=1e-6)


def _motion_config(data_dir, **loss):
  config = tiny_run_config(data_dir, **{"loss.motion": 1.0})
  with config.unlocked():
    for key, value in loss.items():
      config.loss[key] = value
  return config


def test_at_start_the_motion_loss_is_the_frames_own_difference(tiny_data_dir):
  """Fields start at zero, so the warped source is the source: 'photo' = 'static' = 'pose_only',
  and the face's field has length 0; 'static' is recomputed here from the frames, on their
  motion_pool x motion_pool block means."""
  config = _motion_config(tiny_data_dir)
  _, clp, state, batch = _one_device_step(config)
  metrics = loss_metrics(clp, state, batch, config)
  x, views = jax.jit(lambda b: step_lib._frames(  # pylint: disable=protected-access
      b, config.image_size, config.model.input_norm))(batch)
  frames = np.asarray(x).reshape(views.shape)
  gap, f = config.loss.motion_gap, config.loss.motion_pool
  assert f == 2  # the default
  b, k, h, w, c = frames.shape
  means = frames.reshape(b, k, h // f, f, w // f, f, c).mean(axis=(3, 5))
  want = np.mean(np.abs(means[:, :-gap] - means[:, gap:]))
  np.testing.assert_allclose(float(metrics["motion_static"]), want, rtol=1e-5)
  for name in ("motion_photo", "motion_pose_only"):
    np.testing.assert_allclose(float(metrics[name]), want, rtol=1e-4)  # float32 sums, fused apart
  assert float(metrics["motion_au_flow"]) == 0.0


def test_motion_loss_trains_the_encoder_and_both_fields(tiny_data_dir):
  """With the motion loss alone, gradients reach the exported encoder, the AU and pose heads and
  both field decoders; nothing reaches the reconstruction decoder."""
  config = _motion_config(tiny_data_dir)
  with config.unlocked():
    config.loss.temporal_margin = config.loss.infonce = config.loss.cir = config.loss.recon = 0.0
  largest = _largest_gradients(config)
  # The fields' last layers start at zero, so at step 0 only they get a gradient from the photo
  # term; one step on, the codes do too (next test). Here: the fields' own layers.
  assert largest["pose_field"] > 0 and largest["au_field"] > 0
  assert largest["decoder"] == 0


def test_after_a_step_the_motion_loss_reaches_the_codes_and_falls(tiny_data_dir):
  config = _motion_config(tiny_data_dir)
  with config.unlocked():
    config.loss.temporal_margin = config.loss.infonce = config.loss.cir = config.loss.recon = 0.0
    config.optimizer.warmup_steps = 0
    config.optimizer.lr = 1e-2
    config.num_steps = 10
  _, clp, state, batch = _one_device_step(config)
  step = jax.jit(clp.step_fn)
  first = None
  for _ in range(8):
    state, metrics = step(state, batch)
    first = float(metrics["motion_photo"]) if first is None else first
  grads = jax.jit(jax.grad(lambda p: step_lib.loss_fn(p, state, batch, model=clp.model,
                                                      config=config)[0]))(state.params)
  for part in ("encoder", "au_head", "pose_head"):
    assert max(float(np.abs(g).max()) for g in jax.tree.leaves(grads[part])) > 0, part
  after = float(loss_metrics(clp, state, batch, config)["motion_photo"])
  assert after < first, (first, after)


@pytest.mark.parametrize("setting,match", [
    (dict(motion_gap=4), r"config.loss.motion_gap must be in \[1, 3\]"),  # tiny clips: 4 frames
    (dict(motion_pool=3), r"config.loss.motion_pool=3 must divide config.image_size=32")])
def test_a_bad_motion_setting_is_a_clear_error(tiny_data_dir, setting, match):
  config = _motion_config(tiny_data_dir, **setting)
  _, clp, state, batch = _one_device_step(config)
  with pytest.raises(ValueError, match=match):
    loss_metrics(clp, state, batch, config)


def _moving_fields(params):
  """params with the fields' last layers (zero at init) set to small random values, so that
  both fields move the frames."""
  params = jax.device_get(params)
  rng = np.random.default_rng(0)
  for part, layer in (("pose_field", "dense1"), ("au_field", "conv")):
    kernel = params[part][layer]["kernel"]
    params[part][layer]["kernel"] = rng.normal(0, 0.5, kernel.shape).astype(kernel.dtype)
  return params


def test_the_motion_loss_is_the_same_on_eight_devices_and_on_one(tiny_data_dir):
  """The batch's clips are split over 8 devices; source-target pairs never cross a clip."""
  config = _motion_config(tiny_data_dir)
  results = []
  for devices in (1, None):
    mesh = sharding.make_mesh(devices)
    clp = step_lib.sharded_step(config, mesh)
    state = clp.init(jax.random.key(0))
    state = state.replace(params=_moving_fields(state.params))
    results.append(jax.device_get(loss_metrics(clp, state, _fixed_batch(config, mesh), config)))
  assert len(jax.devices()) == 8
  assert results[0]["motion_au_flow"] > 0.1
  assert abs(results[0]["motion_photo"] - results[0]["motion_static"]) > 1e-2
  for name in ("motion_photo", "motion_pose_only", "motion_static", "motion_au_flow", "loss"):
    np.testing.assert_allclose(results[0][name], results[1][name], rtol=1e-4, err_msg=name)


def test_the_motion_back_is_the_motion_there_reversed(tiny_data_dir):
  """Fields are differences of per-frame fields: target -> source is source -> target negated,
  and a frame to itself does not move."""
  config = _motion_config(tiny_data_dir)
  _, clp, state, _ = _one_device_step(config)
  params = _moving_fields(state.params)
  rng = np.random.default_rng(2)
  au = rng.normal(size=(2, 5, config.model.au_dim)).astype(np.float32)
  width = params["pose_head"]["dense0"]["kernel"].shape[0]  # the encoder's feature width
  feat = rng.normal(size=(2, 5, width)).astype(np.float32)
  fields = lambda a, b, p, q: clp.model.apply({"params": params}, a, b, p, q,
                                              method=clp.model.motion_fields)
  there, back = fields(au[0], au[1], feat[0], feat[1]), fields(au[1], au[0], feat[1], feat[0])
  for f, g in zip(there, back):
    assert float(np.abs(f).max()) > 0.1
    np.testing.assert_allclose(np.asarray(f), -np.asarray(g), atol=1e-5)
  for f in fields(au[0], au[0], feat[0], feat[0]):
    np.testing.assert_array_equal(np.asarray(f), 0.0)
