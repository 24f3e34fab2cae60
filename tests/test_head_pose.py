"""The head's pose from landmarks, and the penalty that keeps it out of the codes' within-clip change."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from clp_jax import faces
from clp_jax import head_pose
from clp_jax import losses
from clp_jax import sharding
from clp_jax import train
from clp_jax.data import augment
from clp_jax.data import pipeline
from clp_jax.data import sources
from data_builders.synthetic_au import synthetic_au_dataset_builder as sau
from data_builders.synthetic_au import video as video_lib
from tests.test_train import _fixed_batch, _one_device_step, _encode_real_frames, loss_metrics
from tests.test_train import tiny_run_config


def _face(yaw, pitch, roll, iod, mid):
  """Landmarks of a face with a known pose: eyes iod apart rotated by roll about their midpoint,
  nose tip (yaw, pitch) interocular distances along and across the eye line."""
  u = np.array([np.cos(roll), np.sin(roll)])
  v = np.array([-u[1], u[0]])
  mid = np.asarray(mid, np.float64)
  return np.stack([mid - u * iod / 2, mid + u * iod / 2, mid + (yaw * u + pitch * v) * iod])


def test_head_geometry_reads_a_known_pose():
  lm = _face(0.12, 0.4, 0.2, 30.0, (60.0, 50.0))
  got = np.asarray(head_pose.head_geometry(lm))
  np.testing.assert_allclose(got, [0.12, 0.4, 0.2, np.log(30.0), 60.0, 50.0], rtol=1e-5, atol=1e-5)
  # eye order does not matter, and a mirrored face has the mirrored pose
  np.testing.assert_allclose(np.asarray(head_pose.head_geometry(lm[[1, 0, 2]])), got, rtol=1e-5)
  mirrored = lm * [-1, 1] + [128, 0]
  want = [-0.12, 0.4, -0.2, np.log(30.0), 68.0, 50.0]
  np.testing.assert_allclose(np.asarray(head_pose.head_geometry(mirrored)), want, rtol=1e-5, atol=1e-5)


def test_yaw_and_pitch_survive_a_similarity_transform():
  lm = _face(-0.08, 0.35, -0.1, 22.0, (40.0, 70.0))
  m = faces.similarity_transform(lm[:2], np.array([[10.0, 20.0], [80.0, 35.0]]))
  moved = faces.transform_points(m, lm)
  np.testing.assert_allclose(np.asarray(head_pose.head_geometry(moved))[:2],
                             np.asarray(head_pose.head_geometry(lm))[:2], rtol=1e-4)


@pytest.mark.parametrize("flip", [0.0, 1.0])
def test_view_points_follow_the_pixels(flip):
  """A bright dot in a frame lands, in the view `device_views` draws, where `view_points` says."""
  h, w, size = 96, 120, 64
  yy, xx = np.mgrid[0:h, 0:w] + 0.5  # pixel centres
  point = np.array([70.3, 41.8])  # (x, y)
  dot = np.exp(-((xx - point[0]) ** 2 + (yy - point[1]) ** 2) / (2 * 2.0 ** 2))
  image = np.repeat((255 * dot)[..., None], 3, axis=-1).astype(np.uint8)
  view = np.array([10.0, 25.0, 80.0, 90.0, flip, 1, 1, 1], np.float32)
  out = np.asarray(augment.device_views(jnp.asarray(image), jnp.asarray(view), size))[..., 0]
  oy, ox = np.mgrid[0:size, 0:size] + 0.5
  centroid = np.array([(out * ox).sum(), (out * oy).sum()]) / out.sum()
  got = np.asarray(augment.view_points(jnp.asarray(point[None], jnp.float32), jnp.asarray(view), size))[0]
  np.testing.assert_allclose(got, centroid, atol=0.3)


def _r2_reference(z, g):
  """Least squares in NumPy: centre per clip, pool, regress every code dimension on g."""
  zc = (z - z.mean(1, keepdims=True)).reshape(-1, z.shape[-1])
  gc = (g - g.mean(1, keepdims=True)).reshape(-1, g.shape[-1])
  coef, *_ = np.linalg.lstsq(gc, zc, rcond=None)
  return np.sum((gc @ coef) ** 2) / np.sum(zc ** 2)


def test_pose_explained_variance_is_least_squares_r2():
  rng = np.random.default_rng(0)
  g = rng.normal(size=(16, 8, 6)) * [1, 10, 0.1, 1, 50, 3]
  z = rng.normal(size=(16, 8, 12)) + g[..., :1] * 0.3 - g[..., 3:4] * 0.5
  got = float(losses.pose_explained_variance(jnp.asarray(z), jnp.asarray(g), ridge=0.0))
  np.testing.assert_allclose(got, _r2_reference(z, g), rtol=1e-4)
  assert 0.1 < got < 0.9


def test_pose_explained_variance_ignores_clip_offsets_and_separates_pose_from_other_change():
  rng = np.random.default_rng(1)
  g = rng.normal(size=(32, 8, 6))
  offsets = rng.normal(size=(32, 1, 10)) * 100  # constant inside a clip: not change, not counted
  follows_pose = g @ rng.normal(size=(6, 10)) + offsets
  # a code that moves with the head in some clips and against it in others (as an AU code does)
  sign = rng.choice([-1.0, 1.0], size=(32, 1, 1))
  other = sign * g[..., :1] * rng.normal(size=(1, 1, 10)) + offsets
  r2 = lambda z: float(losses.pose_explained_variance(jnp.asarray(z), jnp.asarray(g)))
  assert r2(follows_pose) > 0.99
  assert r2(other) < 0.1


def test_detected_landmarks_are_the_rendered_ones_plus_detector_noise():
  v = video_lib.generate_video(0, 3, 0, 12, 96)
  a = video_lib.generate_video(0, 3, 0, 12, 96, align=True)
  assert v.landmarks.shape == (12, 3, 2) and v.landmarks.dtype == np.float32
  iod = np.linalg.norm(v.landmarks[:, 1] - v.landmarks[:, 0], axis=-1).mean()
  # aligned frames: the detected eyes land on the template's, level, up to the least-squares
  # residual of fitting 3 points with 4 degrees of freedom (the nose tip takes most of it)
  geometry = np.asarray(head_pose.head_geometry(a.landmarks))
  template = np.asarray(head_pose.head_geometry(faces.RIGID_TEMPLATE * 96))
  np.testing.assert_allclose(geometry[:, 4:], np.broadcast_to(template[4:], (12, 2)), atol=0.1 * iod)
  np.testing.assert_allclose(geometry[:, 2], 0.0, atol=np.radians(3))
  # the same detections, before and after alignment, give the same yaw and pitch
  np.testing.assert_allclose(np.asarray(head_pose.head_geometry(a.landmarks))[:, :2],
                             np.asarray(head_pose.head_geometry(v.landmarks))[:, :2], atol=1e-3)
  # and they follow the renderer's head: the eye line's roll against the video's roll timeline
  roll = np.degrees(np.asarray(head_pose.head_geometry(v.landmarks))[:, 2])
  assert np.std(roll) > 0.5


def test_step_penalises_pose_and_needs_landmarks(tiny_data_dir):
  config = tiny_run_config(tiny_data_dir, **{"loss.pose_decorrelation": 1.0})
  mesh, clp, state, batch = _one_device_step(config)
  host = jax.tree.map(np.asarray, batch)
  assert host["landmarks"].shape == host["frame_index"].shape + (3, 2)
  out, _, views = _encode_real_frames(clp, state, batch, config)
  au = np.asarray(out["au"], np.float64)
  au = (au / np.linalg.norm(au, axis=-1, keepdims=True)).reshape(views.shape[:2] + (-1,))
  geometry = np.asarray(head_pose.head_geometry(
      augment.view_points(host["landmarks"], host["view"], config.image_size)), np.float64)
  metrics = loss_metrics(clp, state, batch, config)
  np.testing.assert_allclose(float(metrics["pose_r2"]), _r2_reference(au, geometry), rtol=2e-2)
  without = {k: v for k, v in host.items() if k != "landmarks"}
  with pytest.raises(ValueError, match="pose_decorrelation > 0 needs landmarks"):
    loss_metrics(clp, state, sharding.global_batch(without, mesh), config)


def test_a_corpus_without_landmarks_is_refused_before_training(tiny_data_dir, tmp_path):
  """The labelled corpus has no per-frame landmarks: asking for the pose penalty on it names the
  setting, the corpus and the command that builds one."""
  config = tiny_run_config(tiny_data_dir, **{"loss.pose_decorrelation": 1.0,
                                             "data.config": "tiny_labelled"})
  with pytest.raises(ValueError, match=r"pose_decorrelation=1.0 needs per-frame landmarks.*"
                                       r"synthetic_au/tiny_labelled.*clp-data build"):
    train.train(config, str(tmp_path))


def _clip(rng, motion, k=8):
  """Landmarks of a k-frame clip whose head turns, tilts and drifts by `motion` over the clip,
  plus 2% detector noise."""
  t = np.linspace(0, 1, k)
  start = rng.uniform(-0.1, 0.1, 3)
  frames = [_face(start[0] + motion * 0.1 * s, 0.4 + start[1] + motion * 0.1 * s,
                  start[2] + motion * 0.05 * s, 30.0 * (1 + motion * 0.05 * s),
                  (60.0 + motion * 3 * s, 50.0)) for s in t]
  lm = np.stack(frames)
  return lm + rng.normal(0, 0.02 * 30.0, lm.shape)


def test_clip_motion_ranks_moving_heads_above_still_ones():
  rng = np.random.default_rng(0)
  motion = rng.uniform(0, 1, 40)
  score = head_pose.clip_motion(np.stack([_clip(rng, m) for m in motion]))
  assert score.shape == (40,)
  # rank correlation with the true motion despite the detector noise (unrelated scores: 0 +- 0.16)
  assert np.corrcoef(np.argsort(np.argsort(score)), np.argsort(np.argsort(motion)))[0, 1] > 0.6


class _Records:
  def __init__(self, landmarks):
    self.landmarks = landmarks

  def __len__(self):
    return len(self.landmarks)

  def __getitem__(self, i):
    return {"landmarks": self.landmarks[i]}


def test_stillest_clips_keeps_the_least_moving_fraction_and_refuses_bad_settings():
  rng = np.random.default_rng(1)
  landmarks = np.stack([_clip(rng, m) for m in rng.uniform(0, 1, 20)]).astype(np.float32)
  keep = pipeline.stillest_clips(_Records(landmarks), 0.25)
  score = head_pose.clip_motion(landmarks)
  np.testing.assert_array_equal(keep, np.sort(np.argsort(score)[:5]))
  with pytest.raises(ValueError, match=r"stillest_fraction must be in \(0, 1\], got 0"):
    pipeline.stillest_clips(_Records(landmarks), 0.0)
  with pytest.raises(ValueError, match="stillest_fraction < 1 needs landmarks"):
    pipeline.stillest_clips([{"frames": []}], 0.5)


def test_still_head_clips_of_the_renderer_read_as_still(tmp_path):
  """The corpus rendered with the head held still (`head_motion=0`) against the usual one: the
  landmark-based score puts the still clips below the moving ones. Only somewhat: with three
  landmarks and 2% detector noise a still clip still scores ~70% of a moving one (measured 6.1
  against 8.3), which bounds what `data.stillest_fraction` can select."""
  data_dir = str(tmp_path)
  for name in ("tiny_pretrain", "tiny_pretrain_still_head"):
    sau.SyntheticAu(config=name, data_dir=data_dir, file_format="array_record").download_and_prepare()
  sources_ = [sources.open_source("synthetic_au", n, "part1+part2+part3", data_dir)[0]
              for n in ("tiny_pretrain", "tiny_pretrain_still_head")]
  landmarks = [np.stack([np.asarray(s[i]["landmarks"]) for i in range(len(s))]) for s in sources_]
  score = head_pose.clip_motion(np.concatenate(landmarks))
  moving, still = score[:len(landmarks[0])], score[len(landmarks[0]):]
  assert np.median(still) < 0.85 * np.median(moving), (np.median(still), np.median(moving))
