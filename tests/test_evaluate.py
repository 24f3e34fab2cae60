"""Export round trip, the AU protocol's folds and probe, and a tiny end-to-end evaluation."""

import json
import os
import pathlib

import jax
import numpy as np
import pytest

from clp_jax import eval_cli
from clp_jax import evaluate
from clp_jax import export
from clp_jax import interop
from clp_jax import train
from clp_jax.data import sources
from clp_jax.models import resnet
from tests.test_train import _load_config, tiny_run_config


@pytest.fixture(scope="module")
def pretrained(tiny_data_dir, tmp_path_factory):
  """A 2-step tiny pretraining run and its export."""
  workdir = tmp_path_factory.mktemp("run")
  state = train.train(tiny_run_config(tiny_data_dir, num_steps=2, **{"data.split": "part1+part2"}),
                      str(workdir))
  out = tmp_path_factory.mktemp("export")
  export.export(str(workdir), str(out))
  return state, str(workdir), str(out)


def _labelled(tiny_data_dir):
  source, info = sources.open_source("synthetic_au", "tiny_labelled", "part1+part2+part3", tiny_data_dir)
  return evaluate.load_labelled(source, info.metadata["aus"])


@pytest.mark.slow
def test_export_round_trip_gives_identical_features(pretrained, tiny_data_dir):
  state, _, out = pretrained
  variables, info = export.load(out)
  assert info["architecture"] == "resnet18" and info["source_step"] == 2
  images = _labelled(tiny_data_dir).images[:5]
  got = evaluate.extract_features(variables, info, images, batch_size=4)
  direct = {"params": state.params["encoder"], "batch_stats": state.batch_stats["encoder"],
            "au_head": state.params["au_head"]}
  want = evaluate.extract_features(jax.device_get(direct), info, images, batch_size=4)
  np.testing.assert_array_equal(got, want)
  code = evaluate.extract_features(variables, info, images, batch_size=4, kind="au_code")
  assert code.shape == (5, info["au_code_dim"])
  # the safetensors file holds the same encoder, in torchvision names
  template = resnet.ResNet(18).init(jax.random.key(0), np.zeros((1, 32, 32, 3), np.float32))
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
  pred = evaluate.linear_probe(x[:300], y_masked[:300], x[300:])
  assert (pred == y[300:].astype(bool)).mean() > 0.97


@pytest.mark.slow
def test_tiny_end_to_end_eval_writes_the_report(pretrained, tiny_data_dir, tmp_path):
  _, _, out = pretrained
  config = _load_config("eval/synthetic_au", "tiny")
  config.data.data_dir = tiny_data_dir
  report = eval_cli.run(config, [out], ["clp_tiny"], str(tmp_path))
  for name in ("report.json", "report.md", "f1_per_au.png"):
    assert (tmp_path / name).stat().st_size > 0
  saved = json.loads((tmp_path / "report.json").read_text())
  assert saved == json.loads(json.dumps(report))
  assert [r["encoder"] for r in saved["results"]] == ["clp_tiny", "random_init", "supervised"]
  assert saved["aus"] == [f"AU{a}" for a in (1, 2, 4, 6, 7, 10, 12, 14, 15, 17, 23, 24, 25, 26)]
  for r in saved["results"]:
    assert 0 <= r["mean_f1"] <= 1 and set(r["per_au_f1"]) == set(saved["aus"])
    assert [f["fold"] for f in r["folds"]] == [1, 2, 3]
    assert r["mean_f1"] == pytest.approx(np.mean([f["mean_f1"] for f in r["folds"]]))
  clp = saved["results"][0]
  assert clp["pretrained_on_parts"] == [1, 2] and "unseen_mean_f1" in clp


@pytest.mark.slow
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
