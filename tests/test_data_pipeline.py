"""The grain pipeline: shapes, determinism, resumable state, per-process shards, mesh placement."""

import os
import signal
import subprocess
import sys
import time

import cv2
import jax
import numpy as np
import pytest

from clp_jax import sharding
from clp_jax.data import augment as augment_lib
from clp_jax.data import pipeline
from clp_jax.data import sources
from tests.conftest import TINY, tiny_config

ONE_PROCESS = pipeline.shard_options(0, 1)


def _pretrain(data_dir, seed=0, batch=4, shard=ONE_PROCESS, split="part1+part2+part3", **kw):
  source, _ = sources.open_source("synthetic_au", tiny_config("pretrain"), split, data_dir)
  return pipeline.pretrain_dataset(source, global_batch_size=batch * shard.shard_count,
                                   seed=seed, shard=shard, num_threads=2, **kw)


def _take(ds, n, it=None):
  it = it or iter(ds)
  return [next(it) for _ in range(n)], it


def test_pretrain_batch_shapes_and_dtypes(tiny_data_dir):
  (b,), _ = _take(_pretrain(tiny_data_dir), 1)
  k, size = TINY["clip_length"], TINY["image_size"]
  assert b["clip"].shape == (4, k, size, size, 3) and b["clip"].dtype == np.uint8
  assert b["view"].shape == (4, k, augment_lib.VIEW_DIM) and b["view"].dtype == np.float32
  boxes = b["view"][..., :4]
  assert (boxes[..., :2] >= 0).all() and (boxes[..., 0] + boxes[..., 2] <= size + 1e-3).all()
  assert b["frame_index"].shape == (4, k) and b["frame_index"].dtype == np.int32
  np.testing.assert_array_equal(np.diff(b["frame_index"], axis=1), TINY["clip_stride"])
  assert b["subject_id"].shape == (4,) and b["video_key"].dtype == np.int32
  assert b["clip"].std() > 10  # real images, not blanks


def test_view_sharing_modes(tiny_data_dir):
  """Per frame: every view differs; shared: one view per clip."""
  (per_frame,), _ = _take(_pretrain(tiny_data_dir), 1)
  (shared,), _ = _take(_pretrain(tiny_data_dir, shared_view=True), 1)
  spread = lambda v: np.ptp(v, axis=1).max(axis=0)  # [VIEW_DIM]: largest change inside a clip
  assert (spread(per_frame["view"])[[0, 1, 2, 3, 5, 6, 7]] > 0).all()
  assert (spread(shared["view"]) == 0).all()
  assert (np.ptp(shared["view"], axis=0).max(axis=0)[[0, 1, 2, 3, 5, 6, 7]] > 0).all()


def test_pipeline_is_deterministic_for_a_seed(tiny_data_dir):
  a, _ = _take(_pretrain(tiny_data_dir, seed=3), 3)
  b, _ = _take(_pretrain(tiny_data_dir, seed=3), 3)
  c, _ = _take(_pretrain(tiny_data_dir, seed=4), 3)
  for x, y in zip(a, b):
    for key in x:
      np.testing.assert_array_equal(x[key], y[key])
  assert any(not np.array_equal(x["clip"], z["clip"]) for x, z in zip(a, c))


def test_restored_iterator_state_yields_exactly_the_next_batch(tiny_data_dir):
  _, it = _take(_pretrain(tiny_data_dir, seed=1), 5)  # past one epoch of 12 clips
  state = it.get_state()
  expected = next(it)
  fresh = iter(_pretrain(tiny_data_dir, seed=1))
  fresh.set_state(state)
  got = next(fresh)
  for key in expected:
    np.testing.assert_array_equal(got[key], expected[key])


def test_epochs_cover_every_clip_once(tiny_data_dir):
  source, _ = sources.open_source("synthetic_au", tiny_config("pretrain"), "part1+part2+part3",
                                  tiny_data_dir)
  n = len(source)
  ds = _pretrain(tiny_data_dir, batch=n // 3)
  batches, _ = _take(ds, 3)
  seen = {(int(k), int(f[0])) for b in batches for k, f in zip(b["video_key"], b["frame_index"])}
  assert len(seen) == n


def test_process_shards_are_disjoint_and_cover(tiny_data_dir):
  keys = []
  for p in range(2):
    shard = pipeline.shard_options(p, 2)
    source, _ = sources.open_source("synthetic_au", tiny_config("pretrain"), "part1+part2+part3",
                                    tiny_data_dir)
    n = len(source) // 2
    ds = pipeline.pretrain_dataset(source, global_batch_size=2 * n, seed=0,
                                   shard=shard, num_threads=1)
    (b,), _ = _take(ds, 1)
    keys.append({(int(k), int(f[0])) for k, f in zip(b["video_key"], b["frame_index"])})
  assert not keys[0] & keys[1]
  assert len(keys[0] | keys[1]) == 2 * n


def test_global_batch_is_sharded_over_eight_devices(tiny_data_dir):
  assert jax.device_count() == 8, "conftest forces 8 host devices"
  mesh = sharding.make_mesh()
  (b,), _ = _take(_pretrain(tiny_data_dir, batch=8), 1)
  g = sharding.global_batch(b, mesh)
  size = TINY["image_size"]
  assert g["clip"].shape == (8, TINY["clip_length"], size, size, 3)
  assert g["clip"].sharding == sharding.batch_sharding(mesh)
  shards = g["clip"].addressable_shards
  assert len(shards) == 8 and {s.device for s in shards} == set(jax.devices())
  for s in shards:
    assert s.data.shape[0] == 1
    np.testing.assert_array_equal(np.asarray(s.data), b["clip"][s.index])


def test_global_batch_rejects_a_batch_that_does_not_split():
  mesh = sharding.make_mesh()
  with pytest.raises(ValueError, match="does not split"):
    sharding.global_batch({"x": np.zeros((6, 2))}, mesh)


def test_frames_dataset_matches_labels(tiny_data_dir):
  source, info = sources.open_source("synthetic_au", tiny_config("labelled"), "part2", tiny_data_dir)
  batches = list(pipeline.frames_dataset(source, batch_size=5, num_threads=1))
  images = np.concatenate([b["image"] for b in batches])
  occ = np.concatenate([b["au_occurrence"] for b in batches])
  size = TINY["image_size"]
  assert images.shape == (len(source), size, size, 3) and images.dtype == np.uint8
  np.testing.assert_array_equal(occ, np.stack([source[i]["au_occurrence"] for i in range(len(source))]))
  assert occ.shape[1] == len(info.metadata["aus"])
  records = [source[i] for i in range(len(source))]
  videos = [r["video_id"] for r in records]
  videos = [v.decode() if isinstance(v, bytes) else v for v in videos]  # TFDS Text reads as bytes
  np.testing.assert_array_equal(np.concatenate([b["video_id"] for b in batches]), videos)
  np.testing.assert_array_equal(np.concatenate([b["frame_index"] for b in batches]),
                                [r["frame_index"] for r in records])


def _views(images, views, size):
  return np.asarray(jax.jit(augment_lib.device_views, static_argnums=2)(images, views, size))


def test_device_views_crop_flip_and_jitter_match_numpy():
  rng = np.random.default_rng(0)
  img = rng.integers(0, 256, (2, 64, 64, 3), dtype=np.uint8)
  same = np.stack([augment_lib.identity_view(64, 64)] * 2)
  np.testing.assert_allclose(_views(img, same, 64), img, atol=1e-3)
  # an integer crop at scale 1 is the crop itself
  crop = same.copy()
  crop[:, :4] = [8, 16, 32, 32]
  np.testing.assert_allclose(_views(img, crop, 32), img[:, 8:40, 16:48], atol=1e-3)
  flip = same.copy()
  flip[:, 4] = 1
  np.testing.assert_allclose(_views(img, flip, 64), img[:, :, ::-1], atol=1e-3)
  jit = same.copy()
  jit[:, 5:] = [1.2, 0.8, 0.5]
  x = np.clip((img * 1.2 - 128) * 0.8 + 128, 0, 255)
  grey = (x @ np.array([0.299, 0.587, 0.114]))[..., None]
  np.testing.assert_allclose(_views(img, jit, 64), np.clip(grey + 0.5 * (x - grey), 0, 255), atol=1e-2)


def test_device_views_downscale_matches_area_resize():
  rng = np.random.default_rng(1)
  img = cv2.GaussianBlur(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8), (0, 0), 2)
  out = _views(img[None], augment_lib.identity_view(64, 64)[None], 32)[0]
  ref = cv2.resize(img, (32, 32), interpolation=cv2.INTER_AREA).astype(np.float32)
  assert np.abs(out - ref)[2:-2, 2:-2].mean() < 1.5


def test_drawn_views_vary_and_stay_inside_the_frame():
  cfg = augment_lib.AugmentConfig()
  views = augment_lib.draw_views(400, 64, 80, cfg, np.random.default_rng(0))
  y0, x0, h, w = views[:, :4].T
  assert (y0 >= 0).all() and (x0 >= 0).all() and (y0 + h <= 64 + 1e-4).all() and (x0 + w <= 80 + 1e-4).all()
  area = h * w / (64 * 80)
  assert area.min() >= 0.7 and area.max() <= 1.0 and area.std() > 0.03  # clamped sides shrink a few
  assert 0.3 < views[:, 4].mean() < 0.7
  with pytest.raises(ValueError, match="Unknown augmentation"):
    augment_lib.AugmentConfig.from_config({"hue": 0.1})


def test_bad_jpeg_is_a_clear_error():
  with pytest.raises(ValueError, match="Could not decode a JPEG of 4 bytes"):
    augment_lib.decode_jpeg(b"oops")


def test_missing_dataset_names_the_build_command(tmp_path):
  with pytest.raises(sources.DatasetNotPreparedError) as e:
    sources.open_source("synthetic_au", "pretrain", "part1", str(tmp_path))
  assert f"clp-data build synthetic_au --config pretrain --data_dir {tmp_path}" in str(e.value)
  with pytest.raises(ValueError, match="no config 'bogus'"):
    sources.open_source("synthetic_au", "bogus", "part1", str(tmp_path))


_SLOW_CORPUS = dict(num_subjects=6, videos_per_subject=4, frames_per_video=60, image_size=64)
_BUILD = """
import sys
from data_builders.synthetic_au import synthetic_au_dataset_builder as sau
cfg = sau.SyntheticAuConfig(name="resume_test", kind="pretrain", **%r)
sau.SyntheticAu(config=cfg, data_dir=sys.argv[1], file_format="array_record").download_and_prepare()
""" % _SLOW_CORPUS


def test_interrupted_build_never_looks_prepared_and_rebuilds(tmp_path):
  from data_builders.synthetic_au import synthetic_au_dataset_builder as sau  # pylint: disable=g-import-not-at-top
  env = dict(os.environ, CLP_BUILD_WORKERS="1")
  proc = subprocess.Popen([sys.executable, "-c", _BUILD, str(tmp_path)], env=env,
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
  pattern = "synthetic_au/resume_test/incomplete*"
  deadline = time.time() + 60
  while time.time() < deadline and not list(tmp_path.glob(pattern)):
    time.sleep(0.02)
  assert list(tmp_path.glob(pattern)), "the build never started writing"
  os.killpg(proc.pid, signal.SIGKILL)
  assert proc.wait() == -signal.SIGKILL, "the build finished before it could be interrupted"
  cfg = sau.SyntheticAuConfig(name="resume_test", kind="pretrain", **_SLOW_CORPUS)
  with pytest.raises(sources.DatasetNotPreparedError, match="clp-data build"):
    sources.open_source("synthetic_au", cfg, "part1", str(tmp_path))
  # Running the build again completes it.
  sources.get_builder("synthetic_au", cfg, str(tmp_path)).download_and_prepare()
  source, _ = sources.open_source("synthetic_au", cfg, "part1+part2+part3", str(tmp_path))
  assert len(source) == 6 * 4 * len(sau.clip_starts(cfg))


def test_a_data_dir_with_a_tilde_is_the_home_folder(tiny_data_dir, monkeypatch):
  # `--config.data.data_dir=~/data` reaches the code unexpanded (bash expands ~ only at the start
  # of a word); the corpus must still be found there.
  home = os.path.dirname(tiny_data_dir)
  monkeypatch.setenv("HOME", home)
  source, _ = sources.open_source("synthetic_au", "tiny_labelled", "part1",
                                  "~/" + os.path.basename(tiny_data_dir))
  want, _ = sources.open_source("synthetic_au", "tiny_labelled", "part1", tiny_data_dir)
  assert len(source) == len(want) > 0
