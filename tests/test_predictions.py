"""Per-frame prediction files: what they hold, that F1 recomputed from them is the report's, and
clear errors on files that are not one."""

import numpy as np
import pytest
from sklearn.metrics import f1_score

from clp_jax.eval import evaluate
from clp_jax.eval import predictions


def _labelled_set(n=30, aus=(1, 12, 26), seed=0):
  rng = np.random.default_rng(seed)
  labels = rng.choice(np.array([0, 1, -1], np.int8), (n, len(aus)), p=[0.6, 0.3, 0.1])
  parts = np.repeat([1, 2, 3], n // 3)
  return evaluate.LabelledSet(
      images=np.zeros((n, 2, 2, 3), np.uint8), labels=labels, subjects=100 + parts * 10 + np.arange(n) % 2,
      parts=parts, aus=aus, videos=np.array([f"v{i // 5}" for i in range(n)]),
      frame_index=np.arange(n) % 5 * 3)


def test_round_trip_columns_and_values(tmp_path):
  data = _labelled_set()
  logits = np.random.default_rng(1).normal(0, 2, data.labels.shape).astype(np.float32)
  logits[0, 0] = 1e-9  # a positive logit whose probability rounds to 0.5000: still present
  path = tmp_path / "out" / "clp.csv"
  predictions.write(str(path), data, logits)
  header = path.read_text().splitlines()[0].split(",")
  assert header == ["subject", "video_id", "frame_index", "fold", "AU01_p", "AU12_p", "AU26_p",
                    "AU01_c", "AU12_c", "AU26_c", "AU01_label", "AU12_label", "AU26_label"]
  got = predictions.read(str(path))
  assert got["aus"] == [1, 12, 26]
  np.testing.assert_array_equal(got["subject"], data.subjects.astype(str))
  np.testing.assert_array_equal(got["video_id"], data.videos)
  np.testing.assert_array_equal(got["frame_index"], data.frame_index)
  np.testing.assert_array_equal(got["fold"], data.parts)
  np.testing.assert_allclose(got["p"], 1 / (1 + np.exp(-logits.astype(np.float64))), atol=5e-5)
  np.testing.assert_array_equal(got["c"], logits > 0)
  assert got["c"][0, 0] == 1 and got["p"][0, 0] == 0.5
  np.testing.assert_array_equal(got["label"], data.labels)
  assert not list(tmp_path.glob("out/*.tmp"))


def test_f1_from_the_file_is_the_fold_f1_of_the_report(tmp_path):
  """fold_result's F1 (the report's) against scikit-learn on the file's decisions and labels,
  unknown labels dropped."""
  data = _labelled_set(n=60, seed=2)
  logits = np.random.default_rng(3).normal(0, 1, data.labels.shape)
  predictions.write(str(tmp_path / "x.csv"), data, logits)
  got = predictions.read(str(tmp_path / "x.csv"))
  for k in (1, 2, 3):
    test = data.parts == k
    result = evaluate.fold_result(k, test, logits[test], data)
    rows = got["fold"] == k
    for j, au in enumerate(data.aus):
      known = rows & (got["label"][:, j] >= 0)
      want = f1_score(got["label"][known, j], got["c"][known, j], zero_division=0)
      assert result["per_au_f1"][f"AU{au}"] == pytest.approx(want)


def test_bad_logits_and_bad_files_are_clear_errors(tmp_path):
  data = _labelled_set()
  with pytest.raises(ValueError, match="do not match the labels"):
    predictions.write(str(tmp_path / "a.csv"), data, np.zeros((3, 3)))
  missing = np.zeros(data.labels.shape)
  missing[4] = np.nan  # a frame no fold tested
  with pytest.raises(ValueError, match="1 frames have no out-of-fold prediction"):
    predictions.write(str(tmp_path / "a.csv"), data, missing)
  assert not (tmp_path / "a.csv").exists()

  good = tmp_path / "good.csv"
  predictions.write(str(good), data, np.zeros(data.labels.shape))
  lines = good.read_text().splitlines()
  bad = tmp_path / "bad_header.csv"
  bad.write_text("frame,AU01_c\n1,0\n")
  with pytest.raises(ValueError, match=r"bad_header.csv, line 1: expected the columns to start"):
    predictions.read(str(bad))
  short = tmp_path / "short.csv"
  short.write_text("\n".join(lines[:3] + [lines[3].rsplit(",", 1)[0]]) + "\n")
  with pytest.raises(ValueError, match=r"short.csv, line 4: 12 fields, expected 13"):
    predictions.read(str(short))
  text = tmp_path / "text.csv"
  text.write_text("\n".join(lines[:2] + [lines[2].replace(",0.5000,", ",high,", 1)]) + "\n")
  with pytest.raises(ValueError, match="not a number"):
    predictions.read(str(text))
  (tmp_path / "empty.csv").write_text("")
  with pytest.raises(ValueError, match="empty file"):
    predictions.read(str(tmp_path / "empty.csv"))


def test_file_names_from_encoder_names():
  assert predictions.file_name("clp_without_cir") == "clp_without_cir.csv"
  assert predictions.file_name("runs/a b:2k") == "runs_a_b_2k.csv"
