"""Export round trip, the AU protocol's folds and probe, and a tiny end-to-end evaluation."""

import functools
import json
import os
import pathlib

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from clp_jax.data import augment
from clp_jax.data import sources
from clp_jax.eval import evaluate
from clp_jax.eval import predictions
from clp_jax.eval import runner
from clp_jax.eval import supervised
from clp_jax.export import encoder as export
from clp_jax.export import interop
from clp_jax.models import clp as clp_model
from clp_jax.models import initialise
from clp_jax.models import resnet
from clp_jax.pretrain import train
from tests.test_train import _load_config, tiny_run_config


# The tests of one pretrained run share a worker (`make test` passes --dist loadgroup), and the
# run is session-scoped (a module-scoped one is torn down whenever the worker's next test is in
# another module), so it is trained once, not once per worker or visit (~40-65 s each).
ON_PRETRAINED_WORKER = pytest.mark.xdist_group("pretrained")


@pytest.fixture(scope="session")
def pretrained(tiny_data_dir, tmp_path_factory):
  """A 2-step tiny pretraining run and its export."""
  workdir = tmp_path_factory.mktemp("run")
  state = train.train(tiny_run_config(tiny_data_dir, num_steps=2, **{"data.split": "part1+part2"}),
                      str(workdir))
  out = tmp_path_factory.mktemp("export")
  export.export(str(workdir), str(out))
  return state, str(workdir), str(out)


SMALL = 10  # the supervised machinery's tests: ResNet-10, the same code with fewer blocks


def _init(module, seed, size=32) -> dict:
  """module's variables for [1, size, size, 3] inputs, drawn as the project draws them
  (`initialise`), jitted: eagerly, op by op, XLA:CPU compiles every operation on its own."""
  x = jnp.zeros((1, size, size, 3))
  return jax.jit(lambda key: initialise.init_variables(module, key, x))(jax.random.key(seed))


def _labelled(tiny_data_dir):
  source, info = sources.open_source("synthetic_au", "tiny_labelled", "part1+part2+part3", tiny_data_dir)
  return evaluate.load_labelled(source, info.metadata["aus"])


@pytest.mark.slow
@ON_PRETRAINED_WORKER
def test_export_round_trip_gives_identical_features(pretrained, tiny_data_dir):
  state, _, out = pretrained
  variables, info = export.load(out)
  assert info["architecture"] == "resnet10" and info["source_step"] == 2  # runlocal's depth
  images = _labelled(tiny_data_dir).images[:5]
  got = evaluate.extract_features(variables, info, images, batch_size=4)
  direct = {"params": state.params["encoder"], "batch_stats": state.batch_stats["encoder"],
            "au_head": state.params["au_head"]}
  want = evaluate.extract_features(jax.device_get(direct), info, images, batch_size=4)
  np.testing.assert_array_equal(got, want)
  code = evaluate.extract_features(variables, info, images, batch_size=4, kind="au_code")
  assert code.shape == (5, info["au_code_dim"])
  # the safetensors file holds the same encoder, in torchvision names
  template = _init(resnet.ResNet(info["depth"]), 0)
  st = interop.load_safetensors(os.path.join(out, "encoder.safetensors"), template)
  jax.tree.map(np.testing.assert_array_equal, st["params"], jax.device_get(variables["params"]))


def test_folds_are_subject_exclusive_and_empty_folds_fail(tiny_data_dir):
  data = _labelled(tiny_data_dir)
  ks = []
  for k, train_mask, test_mask in evaluate.folds(data):
    assert not set(data.subjects[train_mask]) & set(data.subjects[test_mask])
    assert (train_mask | test_mask).all()
    ks.append(k)
  assert ks == [1, 2, 3]
  no_part3 = evaluate.LabelledSet(data.images, data.labels, data.subjects,
                                  np.where(data.parts == 3, 1, data.parts), data.aus)
  with pytest.raises(ValueError, match="Fold 3 is empty"):
    evaluate.folds(no_part3)
  with pytest.raises(ValueError, match="no labels for AU5"):
    data.select_aus([1, 5])


def test_linear_probe_separates_separable_features():
  rng = np.random.default_rng(0)
  y = (rng.random((400, 3)) < [0.1, 0.3, 0.5]).astype(np.int8)
  x = np.concatenate([y * 2.0 + rng.normal(0, 0.3, y.shape), rng.normal(size=(400, 5))], 1)
  y_masked = y.copy()
  y_masked[rng.random(y.shape) < 0.2] = 9
  pred = evaluate.l2_probe(x[:300], y_masked[:300], x[300:], (1e-2,))[0]
  assert (pred == y[300:].astype(bool)).mean() > 0.97


def _probe_problem(seed=0, n=360, noise=30):
  """Labels [n, 3] with unknowns (9), features [n, 3 + noise] (3 informative), 3 subject groups."""
  rng = np.random.default_rng(seed)
  y = (rng.random((n, 3)) < [0.15, 0.3, 0.5]).astype(np.int8)
  x = np.concatenate([y * 0.8 + rng.normal(0, 1.0, y.shape),
                      rng.normal(size=(n, noise))], 1).astype(np.float32)
  y[rng.random(y.shape) < 0.1] = 9
  return x, y, np.repeat([1, 2, 3], n // 3)


def test_l2_probe_matches_sklearn_logistic_regression():
  from sklearn.linear_model import LogisticRegression
  x, y, _ = _probe_problem()
  z = (x - x.mean(0)) / (x.std(0) + 1e-6)
  grid = (1e-2, 1e-1, 1.0)
  w, b = evaluate._fit_l2_logistic(jnp.asarray(z), jnp.asarray(y == 1, jnp.float32),
                                   jnp.asarray((y == 0) | (y == 1), jnp.float32),
                                   jnp.asarray(grid, jnp.float32), steps=100)
  for g, l2 in enumerate(grid):
    for j in range(y.shape[1]):
      known = y[:, j] != 9
      ref = LogisticRegression(C=1 / (l2 * known.sum()), class_weight="balanced", tol=1e-10,
                               max_iter=10_000).fit(z[known], y[known, j])
      np.testing.assert_allclose(np.asarray(w[g, :, j]), ref.coef_[0], atol=2e-3)
      np.testing.assert_allclose(float(b[g, j]), ref.intercept_[0], atol=2e-3)


def test_select_l2_scores_each_strength_on_held_out_groups_like_sklearn():
  from sklearn.linear_model import LogisticRegression
  from sklearn.metrics import f1_score
  x, y, groups = _probe_problem(seed=1, noise=60)
  grid = (1e-3, 1e-1, 10.0)
  chosen, scores = evaluate.select_l2(x, y, groups, grid, steps=100)
  ref = np.zeros(len(grid))
  for g in (1, 2, 3):
    tr, te = groups != g, groups == g
    mean, std = x[tr].mean(0), x[tr].std(0) + 1e-6
    for i, l2 in enumerate(grid):
      f1 = []
      for j in range(y.shape[1]):
        k_tr, k_te = tr & (y[:, j] != 9), te & (y[:, j] != 9)
        clf = LogisticRegression(C=1 / (l2 * k_tr.sum()), class_weight="balanced", tol=1e-10,
                                 max_iter=10_000).fit((x[k_tr] - mean) / std, y[k_tr, j])
        f1.append(f1_score(y[k_te, j], clf.predict((x[k_te] - mean) / std), zero_division=0))
      ref[i] += np.mean(f1) / 3
  np.testing.assert_allclose(scores, ref, atol=0.02)
  assert chosen == grid[int(np.argmax(ref))]
  # 60 noise features and 240 training frames: the unregularised end must not win.
  assert chosen > grid[0]
  with pytest.raises(ValueError, match=r">= 2 subject groups"):
    evaluate.select_l2(x, y, np.ones(len(x), int), grid)


def _check_predictions(report, workdir, data):
  """Each result's predictions file holds every labelled frame once, in the fold that tests its
  subject, and scikit-learn's F1 of its decisions is the report's per fold and AU."""
  from sklearn.metrics import f1_score  # pylint: disable=g-import-not-at-top
  for r in report["results"]:
    got = predictions.read(os.path.join(workdir, r["predictions"]))
    assert got["aus"] == list(data.aus)
    np.testing.assert_array_equal(got["label"], data.labels)
    np.testing.assert_array_equal(got["fold"], data.parts)
    keys = set(zip(got["video_id"], got["frame_index"]))
    assert len(keys) == len(data.labels) and "" not in got["video_id"]
    clear = got["p"] != 0.5  # a logit within 1e-4 of 0 prints as 0.5000 either way
    np.testing.assert_array_equal(got["c"][clear], (got["p"] > 0.5)[clear])
    for f in r["folds"]:
      rows = got["fold"] == f["fold"]
      assert sorted(set(got["subject"][rows])) == f["test_subjects"]
      for j, au in enumerate(data.aus):
        known = rows & ((got["label"][:, j] == 0) | (got["label"][:, j] == 1))
        want = f1_score(got["label"][known, j], got["c"][known, j], zero_division=0)
        assert f["per_au_f1"][f"AU{au}"] == pytest.approx(want), (r["encoder"], f["fold"], au)


@pytest.mark.slow
@ON_PRETRAINED_WORKER
def test_tiny_end_to_end_eval_writes_the_report(pretrained, tiny_data_dir, tmp_path):
  _, _, out = pretrained
  config = _load_config("eval/synthetic_au", "tiny")
  config.data.data_dir = tiny_data_dir
  report = runner.run(config, [out], ["clp_tiny"], str(tmp_path))
  for name in ("report.json", "report.md", "f1_per_au.png"):
    assert (tmp_path / name).stat().st_size > 0
  saved = json.loads((tmp_path / "report.json").read_text())
  assert saved == json.loads(json.dumps(report))
  assert [r["encoder"] for r in saved["results"]] == ["clp_tiny", "random_init", "all_present",
                                                      "prevalence", "supervised"]
  assert saved["aus"] == [f"AU{a}" for a in (1, 2, 4, 6, 7, 10, 12, 14, 15, 17, 23, 24, 25, 26)]
  for r in saved["results"]:
    assert 0 <= r["mean_f1"] <= 1 and set(r["per_au_f1"]) == set(saved["aus"])
    assert [f["fold"] for f in r["folds"]] == [1, 2, 3]
    assert r["mean_f1"] == pytest.approx(np.mean([f["mean_f1"] for f in r["folds"]]))
  clp = saved["results"][0]
  assert clp["pretrained_on_parts"] == [1, 2] and "unseen_mean_f1" in clp
  for r in saved["results"][:2]:  # the linear probe's features; supervised has none
    assert all(f["l2"] in config.probe.l2_grid for f in r["folds"])
    p = r["person_independence"]
    assert 0 <= p["subject_share"] <= 1 and 0 <= p["cross_subject_nn_f1"] <= 1
  assert "Person independence" in (tmp_path / "report.md").read_text()
  # the supervised baseline stopped early on an inner split of each fold's training subjects
  sup = saved["results"][-1]
  for f in sup["folds"]:
    assert 1 <= f["best_step"] <= f["steps_run"] <= config.supervised.steps
    assert f["val_subjects"] and not set(f["val_subjects"]) & set(f["test_subjects"])
    assert max(v for _, v in f["val_f1"]) == dict(map(tuple, f["val_f1"]))[f["best_step"]]
  assert set(saved["scale"]["encoders"]) == {"clp_tiny", "random_init"}
  assert "Scale: " in (tmp_path / "report.md").read_text()
  _check_predictions(saved, str(tmp_path), _labelled(tiny_data_dir))
  assert "predictions/clp_tiny.csv" in (tmp_path / "report.md").read_text()
  # rows that run a network carry their wall time; the trivial ones none
  timed = [r["encoder"] for r in saved["results"] if r.get("seconds", 0) > 0]
  assert timed == ["clp_tiny", "random_init", "supervised"]
  assert "Wall time on this machine" in (tmp_path / "report.md").read_text()


@pytest.mark.slow
@ON_PRETRAINED_WORKER
def test_bad_encoder_directories_are_clear_errors(pretrained, tmp_path):
  _, workdir, out = pretrained
  with pytest.raises(FileNotFoundError, match="not an exported encoder"):
    export.load(str(tmp_path))
  with pytest.raises(FileNotFoundError, match="No checkpoint"):
    export.export(str(tmp_path), str(tmp_path / "x"))
  wrong = tmp_path / "wrong"
  wrong.mkdir()
  info = json.loads(pathlib.Path(out, "encoder.json").read_text())
  info["depth"], info["architecture"] = 50, "resnet50"
  (wrong / "encoder.json").write_text(json.dumps(info))
  os.symlink(os.path.join(out, "encoder"), wrong / "encoder")
  with pytest.raises(ValueError, match="do not match"):
    export.load(str(wrong))
  del workdir


def test_an_eval_of_no_network_is_a_clear_error(tiny_data_dir, tmp_path):
  """Trivial baselines alone evaluate nothing; the supervised baseline alone is an evaluation."""
  config = _load_config("eval/synthetic_au", "tiny")
  config.data.data_dir = tiny_data_dir
  config.baselines = ("all_present", "prevalence")
  with pytest.raises(ValueError, match=r"Nothing to evaluate.*'all_present', 'prevalence'"):
    runner.run(config, [], [], str(tmp_path))
  config.baselines = ("all_present", "supervised")
  config.supervised.augment.crop_scale = (0.9, 1.0)
  report = runner.run(config, [], [], str(tmp_path))
  assert [r["encoder"] for r in report["results"]] == ["all_present", "supervised"]
  saved = json.loads((tmp_path / "report.json").read_text())
  assert saved["supervised"]["augment"]["crop_scale"] == [0.9, 1.0]


def test_finetune_starts_from_the_given_encoder():
  """With no training steps, fine-tuning predicts with the given encoder's features and the fresh
  AU layer: equal to the linear-protocol feature path times that layer."""
  rng = np.random.default_rng(0)
  images = rng.integers(0, 256, (24, 40, 40, 3), dtype=np.uint8)
  labels = (rng.random((24, 3)) < 0.3).astype(np.int8)
  encoder = _init(resnet.ResNet(SMALL), 7)
  # Statistics unlike init's, so that a forgotten batch_stats shows.
  encoder = {"params": encoder["params"],
             "batch_stats": jax.tree.map(lambda x: 1.5 * x + 0.05, encoder["batch_stats"])}
  pred = supervised.train_and_predict(images[:12], labels[:12], images[12:], depth=SMALL,
                                      image_size=32, steps=0, batch_size=4, lr=1e-3, seed=3,
                                      encoder=encoder)
  head = _init(supervised.Classifier(SMALL, 3), 3)
  head = head["params"]["Dense_0"]
  feats = evaluate.extract_features(encoder, {"depth": SMALL, "input_size": 32}, images[12:], 4)
  logits = feats @ np.asarray(head["kernel"]) + np.asarray(head["bias"])
  sure = np.abs(logits) > 1e-4  # ties at 0 may fall either way
  assert sure.mean() > 0.9
  np.testing.assert_array_equal(pred[sure], (logits > 0)[sure])
  scratch = supervised.train_and_predict(images[:12], labels[:12], images[12:], depth=SMALL,
                                         image_size=32, steps=0, batch_size=4, lr=1e-3, seed=3)
  assert (scratch != pred).any()


def test_encoder_lr_scale_moves_only_the_head_at_zero():
  rng = np.random.default_rng(1)
  images = rng.integers(0, 256, (16, 40, 40, 3), dtype=np.uint8)
  labels = (rng.random((16, 2)) < 0.4).astype(np.int8)
  encoder = _init(resnet.ResNet(SMALL), 2)
  kw = dict(depth=SMALL, image_size=32, steps=2, batch_size=4, lr=1e-2, seed=0, encoder=encoder)
  _, frozen = supervised.train(images, labels, encoder_lr_scale=0.0, **kw)
  _, moved = supervised.train(images, labels, encoder_lr_scale=1.0, **kw)
  head0 = _init(supervised.Classifier(SMALL, 2), 0)
  jax.tree.map(np.testing.assert_array_equal, frozen["params"]["encoder"], encoder["params"])
  assert not np.allclose(frozen["params"]["Dense_0"]["kernel"], head0["params"]["Dense_0"]["kernel"])
  changed = jax.tree.leaves(jax.tree.map(lambda a, b: not np.allclose(a, b),
                                         moved["params"]["encoder"], encoder["params"]))
  assert all(changed)
  with pytest.raises(ValueError, match="encoder_lr_scale"):
    supervised.train(images, labels, encoder_lr_scale=-1.0, **kw)


def test_supervised_loss_is_class_balanced_bce_and_folds_share_one_compilation():
  """The step's loss equals a NumPy class-balanced BCE with unknown labels masked; a second fold
  (other labels, so other class weights) and a fine-tuned encoder reuse the same compilation."""
  rng = np.random.default_rng(4)
  images = rng.integers(0, 256, (8, 32, 32, 3), dtype=np.uint8)
  labels = rng.choice(np.array([0, 1, 9], np.int8), (8, 3), p=[0.6, 0.3, 0.1])
  tx, step = supervised._train_step(SMALL, 3, 32, 2, 1e-3, 1.0, "per_image")  # pylint: disable=protected-access
  model = supervised.Classifier(SMALL, 3)
  variables = _init(model, 0)
  known = ((labels == 0) | (labels == 1)).astype(np.float32)
  y = (labels == 1).astype(np.float32)
  n_pos, n_neg = (known * y).sum(0), (known * (1 - y)).sum(0)
  w_pos, w_neg = (n_pos + n_neg) / np.maximum(2 * n_pos, 1), (n_pos + n_neg) / np.maximum(2 * n_neg, 1)
  views = np.broadcast_to(augment.identity_view(32, 32), (8, augment.VIEW_DIM)).copy()
  _, _, _, loss = step(variables["params"], variables["batch_stats"],
                       tx.init(variables["params"]), images, views, y, known, w_pos, w_neg)
  x = clp_model.normalize(augment.device_views(jnp.asarray(images), jnp.asarray(views), 32), "per_image")
  train_apply = functools.partial(model.apply, train=True, mutable=["batch_stats"])
  logits, _ = jax.jit(train_apply)(variables, x)
  z = np.asarray(logits, np.float64)
  bce = np.maximum(z, 0) - z * y + np.log1p(np.exp(-np.abs(z)))
  want = (known * np.where(y > 0, w_pos, w_neg) * bce).sum() / known.sum()
  np.testing.assert_allclose(float(loss), want, rtol=1e-4)

  kw = dict(depth=SMALL, image_size=32, steps=2, batch_size=4, lr=1e-3, input_norm="per_image")
  supervised.train_and_predict(images, labels, images, **kw)
  compiled = step._cache_size()  # pylint: disable=protected-access
  supervised.train_and_predict(images, 1 - (labels == 1), images, seed=1, **kw)
  encoder = _init(resnet.ResNet(SMALL), 2)
  supervised.train_and_predict(images, labels, images, encoder=encoder, **kw)
  assert step._cache_size() == compiled  # pylint: disable=protected-access
  predict = supervised._predict_fn(SMALL, 3, 32, "per_image")  # pylint: disable=protected-access
  assert predict._cache_size() == 1  # pylint: disable=protected-access


def test_finetune_rejects_an_encoder_of_another_architecture():
  images = np.zeros((8, 40, 40, 3), np.uint8)
  labels = np.zeros((8, 2), np.int8)
  shapes = jax.eval_shape(resnet.ResNet(50).init, jax.random.key(0), jnp.zeros((1, 32, 32, 3)))
  r50 = jax.tree.map(lambda s: np.zeros(s.shape, s.dtype), shapes)  # the structure is what counts
  with pytest.raises(ValueError, match="another architecture"):
    supervised.train_and_predict(images, labels, images, depth=18, image_size=32, steps=1,
                                 batch_size=4, lr=1e-3, encoder=dict(r50))


@pytest.mark.slow
@ON_PRETRAINED_WORKER
def test_tiny_finetune_eval(pretrained, tiny_data_dir, tmp_path):
  _, _, out = pretrained
  config = _load_config("eval/synthetic_au", "tiny")
  config.protocol = "finetune"
  config.data.data_dir = tiny_data_dir
  report = runner.run(config, [out], ["clp_tiny"], str(tmp_path))
  assert report["protocol"] == "finetune" and report["finetune"]["steps"] == 3
  assert [r["encoder"] for r in report["results"]] == ["clp_tiny", "random_init", "all_present",
                                                       "prevalence", "supervised"]
  for r in report["results"]:
    assert 0 <= r["mean_f1"] <= 1 and [f["fold"] for f in r["folds"]] == [1, 2, 3]
  assert "unseen_mean_f1" in report["results"][0]
  _check_predictions(report, str(tmp_path), _labelled(tiny_data_dir))
  with pytest.raises(ValueError, match="repeat"):
    runner.run(config, [out], ["supervised"], str(tmp_path))
  config.protocol = "zero_shot"
  with pytest.raises(ValueError, match="config.protocol must be one of"):
    runner.run(config, [out], ["clp_tiny"], str(tmp_path))


def test_random_init_baseline_is_the_untrained_architecture():
  v = runner.random_encoder(18, 32, 16, 24, seed=5)
  want = _init(resnet.ResNet(18), 5)
  jax.tree.map(np.testing.assert_array_equal, {k: v[k] for k in ("params", "batch_stats")}, want)
  images = np.random.default_rng(0).integers(0, 256, (6, 40, 40, 3), dtype=np.uint8)
  code = evaluate.extract_features(v, {"depth": 18, "input_size": 32}, images, 3, kind="au_code")
  assert code.shape == (6, 16) and (code.std(0) > 0).all()  # a random head, not a constant
