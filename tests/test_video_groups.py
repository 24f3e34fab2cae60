"""Batches of several clips per video (`data.clips_per_video`) for `loss.video_negatives`."""

import itertools

import jax
import numpy as np
import pytest

from clp_jax import sharding
from clp_jax import step as step_lib
from clp_jax import train
from clp_jax.data import pipeline
from clp_jax.data import sources
from clp_jax.data import video_groups
from tests.conftest import TINY, tiny_config
from tests.test_train import loss_metrics
from tests.test_train import tiny_run_config
from tests.test_train import two_step_infonce


def _brute_max_disjoint(first, last):
  best = 0
  for r in range(1, len(first) + 1):
    for combo in itertools.combinations(range(len(first)), r):
      if all(first[a] > last[b] or last[a] < first[b] for a, b in itertools.combinations(combo, 2)):
        best = r
  return best


def test_disjoint_counts_and_picks_match_brute_force():
  rng = np.random.default_rng(0)
  for _ in range(40):
    n = int(rng.integers(1, 8))
    first = rng.integers(0, 40, n)
    last = first + rng.integers(0, 12, n)
    best = _brute_max_disjoint(first, last)
    assert video_groups._max_disjoint(first, last) == best  # pylint: disable=protected-access
    kept = video_groups.pick_disjoint(first, last, best, rng)
    if kept:  # a random greedy order may fail; what it returns must be disjoint
      assert len(set(kept)) == best
      for a, b in itertools.combinations(kept, 2):
        assert first[a] > last[b] or last[a] < first[b]
    assert video_groups.pick_disjoint(first, last, best + 1, rng) == []


def _grouped(data_dir, seed=0, batch=4, m=2):
  source, _ = sources.open_source("synthetic_au", tiny_config("pretrain"), "part1+part2+part3",
                                  data_dir)
  return pipeline.pretrain_dataset(source, global_batch_size=batch, seed=seed, shared_view=True,
                                   clips_per_video=m, shard=pipeline.shard_options(0, 1),
                                   num_threads=1)


def test_batches_hold_disjoint_clips_of_one_video_with_one_view(tiny_data_dir):
  it = iter(_grouped(tiny_data_dir, batch=6, m=3))
  seen_pairs = set()
  for _ in range(6):
    b = next(it)
    g = 2  # videos per batch
    keys = b["video_key"].reshape(3, g)  # row j * g + v: clip j of video v
    assert (keys == keys[0]).all() and len(set(keys[0].tolist())) == g
    np.testing.assert_array_equal(b["subject_id"].reshape(3, g), b["subject_id"][:g][None].repeat(3, 0))
    t = b["frame_index"].reshape(3, g, -1)
    for v in range(g):
      ranges = [(t[j, v].min(), t[j, v].max()) for j in range(3)]
      for (a0, a1), (b0, b1) in itertools.combinations(ranges, 2):
        assert a0 > b1 or a1 < b0, ranges
      seen_pairs.add(tuple(sorted(r[0] for r in ranges)))
      views = b["view"].reshape(3, g, *b["view"].shape[1:])[:, v]
      assert (views == views[0, 0]).all()  # one view for all the video's clips and frames
    assert not (b["view"][0, 0] == b["view"][1, 0]).all()  # videos differ
  # 24-frame videos, clips of 7 frames every 4: only starts 0, 8, 16 are three disjoint clips
  assert seen_pairs == {(0, 8, 16)}


def test_grouped_pipeline_is_deterministic_and_draws_varied_pairs(tiny_data_dir):
  a = [next(it) for it in [iter(_grouped(tiny_data_dir, seed=3))] for _ in range(8)]
  b = [next(it) for it in [iter(_grouped(tiny_data_dir, seed=3))] for _ in range(8)]
  for x, y in zip(a, b):
    for key in x:
      np.testing.assert_array_equal(x[key], y[key])
  starts = {tuple(sorted(x["frame_index"][[j, j + 2], 0].tolist())) for x in a for j in range(2)}
  assert len(starts) > 1  # pairs drawn anew, not one fixed pair per video
  assert all(s[1] - s[0] > (TINY["clip_length"] - 1) * TINY["clip_stride"] for s in starts)


def test_bad_settings_are_clear_errors(tiny_data_dir, tmp_path):
  with pytest.raises(ValueError, match="clips_per_video=4: no video"):
    next(iter(_grouped(tiny_data_dir, batch=4, m=4)))
  with pytest.raises(ValueError, match="does not split into groups"):
    next(iter(_grouped(tiny_data_dir, batch=3, m=2)))
  config = tiny_run_config(tiny_data_dir, **{"loss.video_negatives": True})
  with pytest.raises(ValueError, match="data.clips_per_video=1; set it to 2"):
    train.train(config, str(tmp_path))


def test_train_step_adds_the_other_clips_as_candidates(tiny_data_dir):
  """On one grouped batch, with the same weights: the step's InfoNCE with video negatives is
  strictly larger than without (same positives, more candidates)."""
  config = tiny_run_config(tiny_data_dir, **{"data.clips_per_video": 2})
  mesh = sharding.make_mesh()
  clp = step_lib.sharded_step(config, mesh)
  state = clp.init(jax.random.key(0))
  batch = sharding.global_batch(next(iter(_grouped(tiny_data_dir, batch=8))), mesh)
  values = {}
  for on in (False, True):
    config.loss.video_negatives = on
    metrics = loss_metrics(clp, state, batch, config, train=False)
    values[on] = float(metrics["infonce"])
  assert values[True] > values[False] + 1e-3, values


def test_training_with_video_negatives_runs(tiny_data_dir, tmp_path):
  two_step_infonce(tiny_data_dir, tmp_path,
                   **{"loss.video_negatives": True, "data.clips_per_video": 2})
