"""Trivial baselines against closed forms, the scale rule, the inner split and early stopping."""

import dataclasses
import os

import numpy as np
import pytest

from clp_jax import config_files
from clp_jax.data import augment
from clp_jax.eval import baselines
from clp_jax.eval import evaluate
from clp_jax.eval import report as report_lib
from clp_jax.eval import supervised


def _labelled(seed=0, n=600, rates=(0.05, 0.2, 0.6)):
  """A LabelledSet of 12 subjects in 3 parts with unknown labels (-1) sprinkled in."""
  rng = np.random.default_rng(seed)
  labels = (rng.random((n, len(rates))) < rates).astype(np.int8)
  labels[rng.random(labels.shape) < 0.05] = -1
  subjects = np.repeat(np.arange(12), n // 12)
  return evaluate.LabelledSet(images=np.zeros((n, 2, 2, 3), np.uint8), labels=labels,
                              subjects=subjects, parts=1 + subjects % 3, aus=(1, 2, 4))


def test_all_present_scores_2p_over_1_plus_p_per_au_and_fold():
  data = _labelled()
  result, logits = baselines.trivial_logits("all_present", data)
  assert (logits > 0).all()
  for f in result["folds"]:
    y = data.labels[data.parts == f["fold"]]
    for j, au in enumerate(data.aus):
      known = (y[:, j] == 0) | (y[:, j] == 1)
      p = (y[known, j] == 1).mean()
      assert f["per_au_f1"][f"AU{au}"] == pytest.approx(2 * p / (1 + p))


def test_prevalence_is_the_training_folds_base_rate_and_predicts_only_majority_aus():
  data = _labelled()
  result, logits = baselines.trivial_logits("prevalence", data)
  for f in result["folds"]:
    test = data.parts == f["fold"]
    y = data.labels[~test]
    rate = np.array([(y[(y[:, j] >= 0), j] == 1).mean() for j in range(3)])
    prob = 1 / (1 + np.exp(-logits[test]))
    np.testing.assert_allclose(prob, np.broadcast_to(rate, prob.shape), rtol=1e-5)
    # AUs rarer than 1/2 are never predicted: F1 0; the common one is always predicted
    assert f["per_au_f1"]["AU1"] == 0 and f["per_au_f1"]["AU2"] == 0
    assert f["per_au_f1"]["AU4"] > 0.5
  with pytest.raises(ValueError, match="trivial baseline"):
    baselines.trivial_logits("coin", data)


def _result(name, folds):
  return {"encoder": name, "mean_f1": float(np.mean(folds)),
          "folds": [{"fold": k + 1, "mean_f1": v} for k, v in enumerate(folds)]}


def test_scale_resolves_only_when_supervised_clears_all_present_by_three_fold_sds():
  trivial = _result("all_present", [0.20, 0.21, 0.19])
  untrained = _result("random_init", [0.30, 0.32, 0.28])
  clp = _result("clp", [0.45, 0.50, 0.40])
  good = baselines.scale([clp, untrained, trivial, _result("supervised", [0.60, 0.62, 0.58])])
  assert good["resolvable"] and good["supervised_margin"] == pytest.approx(0.4)
  assert good["supervised_fold_sd"] == pytest.approx(0.02)
  assert good["encoders"]["clp"]["gap_closed"] == pytest.approx((0.45 - 0.30) / (0.60 - 0.30))
  assert good["encoders"]["clp"]["above_all_present"]  # +0.25 > 3 x 0.05
  assert good["encoders"]["random_init"]["gap_closed"] is None
  # supervised 0.1 above all_present, but its folds spread 0.05: not resolvable, no gap closed
  noisy = baselines.scale([clp, untrained, trivial, _result("supervised", [0.25, 0.30, 0.35])])
  assert noisy["resolvable"] is False and noisy["encoders"]["clp"]["gap_closed"] is None
  results = [clp, untrained, trivial, _result("supervised", [0.25, 0.30, 0.35])]
  for r in results:
    r["per_au_f1"] = {}
  text = report_lib.markdown({"corpus": "c", "protocol": "linear", "aus": [],
                              "results": results, "scale": noisy})
  assert "cannot resolve encoders" in text and "not resolvable" in text
  assert baselines.scale([clp, untrained])["resolvable"] is None
  # a supervised baseline below the untrained probe leaves no gap to close
  weak = baselines.scale([clp, untrained, trivial, _result("supervised", [0.27, 0.28, 0.26])])
  assert weak["resolvable"] and weak["encoders"]["clp"]["gap_closed"] is None
  assert "not above random_init" in weak["reason"]


def test_inner_split_is_subject_exclusive_seeded_and_never_empty():
  subjects = np.repeat(np.arange(10), 5)
  val = evaluate.inner_split(subjects, 0.2, seed=3)
  assert len(set(subjects[val])) == 2 and not set(subjects[val]) & set(subjects[~val])
  np.testing.assert_array_equal(val, evaluate.inner_split(subjects, 0.2, seed=3))
  few = np.array([4, 4, 9])
  assert len(set(few[evaluate.inner_split(few, 0.01, 0)])) == 1
  assert (~evaluate.inner_split(np.array([1, 2]), 0.99, 0)).any()
  with pytest.raises(ValueError, match=">= 2 training subjects"):
    evaluate.inner_split(np.array([5, 5]), 0.2, 0)


def test_early_stopping_keeps_the_best_measurement_and_stops_after_patience():
  rng = np.random.default_rng(0)
  images = rng.integers(0, 256, (40, 36, 36, 3), dtype=np.uint8)
  labels = (rng.random((40, 2)) < 0.4).astype(np.int8)
  history = {}
  kw = dict(depth=10, image_size=32, batch_size=8, lr=1e-3, input_norm="per_image")
  supervised.train(images[:30], labels[:30], steps=12, val_images=images[30:],
                   val_labels=labels[30:], eval_every=2, patience=2, history=history, **kw)
  steps = [s for s, _ in history["val_f1"]]
  f1 = [v for _, v in history["val_f1"]]
  assert steps == list(range(2, history["steps_run"] + 1, 2))
  assert history["best_step"] == steps[int(np.argmax(f1))]
  if history["steps_run"] < 12:  # it stopped: the last two measurements did not beat the best
    assert max(f1[-2:]) <= max(f1[:-2]) and len(f1) - 1 - int(np.argmax(f1)) == 2
  full = {}
  supervised.train(images[:30], labels[:30], steps=4, history=full, **kw)
  assert full == {"val_f1": [], "best_step": 4, "steps_run": 4}


def test_supervised_training_views_follow_the_given_augmentation(monkeypatch):
  """The eval config's `supervised.augment` reaches the views the network trains on."""
  seen = []
  draw = augment.draw_views

  def recording(n, h, w, cfg, rng):
    seen.append(cfg)
    return draw(n, h, w, cfg, rng)

  monkeypatch.setattr(augment, "draw_views", recording)
  rng = np.random.default_rng(0)
  images = rng.integers(0, 256, (16, 36, 36, 3), dtype=np.uint8)
  labels = (rng.random((16, 2)) < 0.4).astype(np.int8)
  mild = augment.AugmentConfig.from_config(dict(crop_scale=(0.9, 1.0), flip=False))
  supervised.train(images, labels, steps=2, depth=10, image_size=32, batch_size=8, lr=1e-3,
                   input_norm="per_image", augment_cfg=mild)
  assert seen == [mild, mild]
  supervised.train(images, labels, steps=1, depth=10, image_size=32, batch_size=8, lr=1e-3,
                   input_norm="per_image")
  assert seen[-1] == augment.AugmentConfig()
  # the eval config writes every view setting out, so a report records the views it trained on:
  # the milder supervised views by default, the earlier (AugmentConfig's) in the capped demo
  path = os.path.join(os.path.dirname(__file__), "..", "configs", "eval", "synthetic_au.py")
  config = config_files.load(path)
  fields = {f.name for f in dataclasses.fields(augment.AugmentConfig)}
  assert set(config.supervised.augment) == fields
  assert augment.AugmentConfig.from_config(config.supervised.augment) == augment.AugmentConfig(
      crop_scale=(0.85, 1.0), crop_ratio=(0.95, 1.05), brightness=0.1, contrast=0.1,
      saturation=0.1)
  demo = config_files.load(path, "demo")
  assert augment.AugmentConfig.from_config(demo.supervised.augment) == augment.AugmentConfig()


def test_supervised_training_on_fewer_frames_than_a_batch_repeats_them():
  rng = np.random.default_rng(1)
  images = rng.integers(0, 256, (3, 36, 36, 3), dtype=np.uint8)
  labels = np.array([[1, 0], [0, -1], [1, 1]], np.int8)
  history = {}
  supervised.train(images, labels, steps=2, depth=10, image_size=32, batch_size=8, lr=1e-3,
                   input_norm="per_image", history=history)
  assert history["steps_run"] == 2
