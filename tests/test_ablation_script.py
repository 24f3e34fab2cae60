"""benchmarks/ablation.py's bookkeeping: run names per seed, the over-seeds table, the time totals."""

import pathlib
import sys

import numpy as np
import pytest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "benchmarks"))
import ablation  # pylint: disable=g-import-not-at-top,wrong-import-position


def test_run_names_round_trip():
  for variant in ("clp", "no_cir", "infonce_cross_clip"):
    for seed in (0, 1, 12):
      assert ablation._split(ablation.run_name(variant, seed)) == (variant, seed)
  assert ablation.run_name("clp", 0) == "clp"  # seed 0 keeps the single-seed name


def test_seed_table_mean_sd_and_pairing():
  f1 = {"clp": 0.20, "clp_seed1": 0.18, "clp_seed2": 0.19,
        "no_cir": 0.21, "no_cir_seed1": 0.17, "no_cir_seed2": 0.195}
  by_name = {k: {"mean_f1": v} for k, v in f1.items()}
  lines = ablation._seed_table(["clp", "no_cir"], [0, 1, 2], by_name, base=0.15, top=0.25)
  row = next(l for l in lines if l.startswith("| no_cir |")).split("|")
  vals = np.array([0.21, 0.17, 0.195])
  assert row[2].strip() == f"{vals.mean():.3f} +- {vals.std(ddof=1):.3f}"
  assert row[3].strip() == f"{(vals.mean() - 0.15) / 0.10:+.0%}"
  assert row[5].strip() == "2"  # seeds 0 and 2 above clp's same seed
  assert row[6].strip() == row[7].strip() == "-"  # reports without person independence
  for k, share in (("no_cir", 0.2), ("no_cir_seed1", 0.3)):
    by_name[k]["person_independence"] = {"subject_share": share, "cross_subject_nn_f1": 0.1}
  lines = ablation._seed_table(["clp", "no_cir"], [0, 1, 2], by_name, base=0.15, top=0.25)
  row = next(l for l in lines if l.startswith("| no_cir |")).split("|")
  assert (row[6].strip(), row[7].strip()) == ("0.250", "0.100")  # over the seeds that have it


def test_pretrain_seconds_add_up_over_invocations(tmp_path):
  assert ablation._add_pretrain_seconds(str(tmp_path), "clp", 250.0) == pytest.approx(250.0)
  assert ablation._add_pretrain_seconds(str(tmp_path), "clp", 5.0) == pytest.approx(255.0)
  assert ablation._add_pretrain_seconds(str(tmp_path), "no_cir", 1.0) == pytest.approx(1.0)


def test_borrowed_baselines_must_come_from_the_same_evaluation(tmp_path):
  import json  # pylint: disable=g-import-not-at-top
  keys = dict(corpus="synthetic_au/labelled", protocol="linear", features="backbone",
              aus=["AU1"], num_frames=10, input_norm="per_image")
  mine = dict(keys, results=[{"encoder": "clp"}, {"encoder": "all_present"}])
  other = dict(keys, results=[{"encoder": "supervised", "mean_f1": 0.5},
                              {"encoder": "all_present", "mean_f1": 0.2},
                              {"encoder": "clp", "mean_f1": 0.9}])
  path = tmp_path / "report.json"
  path.write_text(json.dumps(other))
  got = ablation.borrow_baselines(mine, str(path))
  assert [r["encoder"] for r in got] == ["supervised"] and got[0]["borrowed_from"] == str(path)
  path.write_text(json.dumps(dict(other, num_frames=11)))
  with pytest.raises(ValueError, match="num_frames"):
    ablation.borrow_baselines(mine, str(path))
