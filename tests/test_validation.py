"""Held-out pretraining losses: fixed batches, disjoint subjects, logged values re-scored offline."""

import os

import jax
import numpy as np
import pytest

from clp_jax import sharding
from clp_jax.pretrain import step as step_lib
from clp_jax.pretrain import train
from clp_jax.pretrain import validation
from tests.test_train import tiny_run_config


def _config(data_dir, **overrides):
  return tiny_run_config(data_dir, **{"data.split": "part1+part2", "validation.split": "part3",
                                      "validation.batches": 2, **overrides})


def test_split_names():
  assert validation.split_names("part1+part2") == {"part1", "part2"}
  assert validation.split_names("train[:90%] + validation") == {"train", "validation"}


def test_held_out_split_sharing_subjects_is_an_error(tiny_data_dir):
  config = _config(tiny_data_dir, **{"validation.split": "part2+part3"})
  mesh = sharding.make_mesh()
  with pytest.raises(ValueError, match=r"config.validation.split='part2\+part3' shares \['part2'\]"):
    validation.Validator(config, mesh, clp=None)


def test_fixed_batches_are_fixed_and_held_out_subjects_are_unseen(tiny_data_dir):
  config = _config(tiny_data_dir)
  a = validation.fixed_batches(config, "part3", 2)
  b = validation.fixed_batches(config, "part3", 2)
  for x, y in zip(a, b):
    for k in x:
      np.testing.assert_array_equal(x[k], y[k])
  seen = validation.fixed_batches(config, config.data.split, 2)
  held_out_subjects = {int(s) for x in a for s in x["subject_id"]}
  seen_subjects = {int(s) for x in seen for s in x["subject_id"]}
  assert held_out_subjects and seen_subjects and not held_out_subjects & seen_subjects
  with pytest.raises(ValueError, match="config.validation.batches must be >= 1"):
    validation.fixed_batches(config, "part3", 0)


def test_mean_metrics_is_the_mean_over_batches_and_leaves_the_state(tiny_data_dir):
  config = _config(tiny_data_dir)
  mesh = sharding.make_mesh()
  clp = step_lib.sharded_step(config, mesh)
  state = clp.init(jax.random.key(0))
  before = jax.tree.map(np.asarray, state.batch_stats)
  batches = validation.fixed_batches(config, "part3", 2)
  both = validation.mean_metrics(clp, state, batches, mesh)
  one, two = (validation.mean_metrics(clp, state, [b], mesh) for b in batches)
  assert set(both) >= {"loss", "temporal_margin", "infonce", "recon", "cir_au"}
  for k in both:
    np.testing.assert_allclose(both[k], (one[k] + two[k]) / 2, rtol=1e-5, atol=1e-6)
  assert one["loss"] != two["loss"]  # two different batches, not one scored twice
  # Inference-mode batch norm: the running statistics are read, never written.
  jax.tree.map(np.testing.assert_array_equal, before, jax.tree.map(np.asarray, state.batch_stats))
  again = validation.mean_metrics(clp, state, batches, mesh)
  assert again == both


@pytest.mark.slow
def test_held_out_losses_are_logged_at_their_steps(tiny_data_dir, tmp_path, capsys):
  config = _config(tiny_data_dir, num_steps=4, checkpoint_every=2, **{"validation.every": 2})
  train.train(config, str(tmp_path))
  printed = capsys.readouterr().out
  assert "step 4: loss on fixed clips, seen subjects" in printed
  logged = dict(train.loss_history(str(tmp_path), "heldout/loss"))
  logged_seen = dict(train.loss_history(str(tmp_path), "seen/loss"))
  assert sorted(logged) == [2, 4] and sorted(logged_seen) == [2, 4]
  assert all(np.isfinite(v) and v > 0 for v in list(logged.values()) + list(logged_seen.values()))
  assert os.path.isdir(tmp_path / "tb")
