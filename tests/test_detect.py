"""clp-detect and the AU model directory clp-eval saves: the heads against the probe they come
from, the model's outputs against the encoder's features, per-frame CSVs of the real clips,
frames without a face, and bad input."""

import csv
import json
import os
import pathlib
import shutil
import subprocess
import sys

import cv2
import numpy as np
import pytest

from clp_jax.data import video as video_lib
from clp_jax.detect import au_model
from clp_jax.detect import runner as detect_runner
from clp_jax.eval import evaluate
from clp_jax.eval import runner as eval_runner
from clp_jax.export import encoder as export
from data_builders.video_folder import make_dummy_data as vf_dummy
from tests.test_evaluate import ON_PRETRAINED_WORKER
from tests.test_evaluate import _labelled
from tests.test_evaluate import pretrained  # pylint: disable=unused-import
from tests.test_train import _load_config

ROOT = pathlib.Path(__file__).resolve().parents[1]
REAL = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data",
                                    "real_videos"))
needs_real = pytest.mark.skipif(not os.path.isdir(REAL), reason=f"the real clips are not at {REAL}")

pytestmark = ON_PRETRAINED_WORKER


@pytest.fixture(scope="session")
def model_dir(pretrained, tiny_data_dir, tmp_path_factory):  # pylint: disable=redefined-outer-name
  """clp-eval --config.save_heads=True on the tiny corpus: the pretrained export as a detector."""
  _, _, export_dir = pretrained
  config = _load_config("eval/synthetic_au", "tiny")
  config.data.data_dir = tiny_data_dir
  config.baselines = ()
  config.save_heads = True
  workdir = tmp_path_factory.mktemp("eval")
  report = eval_runner.run(config, [export_dir], ["clp_tiny"], str(workdir))
  assert report["results"][0]["model"] == str(workdir / "models" / "clp_tiny")
  return str(workdir / "models" / "clp_tiny")


def test_heads_are_the_probe_refitted_on_every_frame(pretrained, tiny_data_dir):  # pylint: disable=redefined-outer-name
  _, _, export_dir = pretrained
  variables, info = export.load(export_dir)
  data = _labelled(tiny_data_dir)
  feats = evaluate.extract_features(variables, info, data.images, 32)
  probe = {"l2_grid": (0.01, 0.1, 1.0), "lbfgs_steps": 50}
  heads = evaluate.fit_heads(feats, data, probe)
  l2, _ = evaluate.select_l2(feats, data.labels, data.parts, probe["l2_grid"], 50)
  assert heads["l2"] == l2
  # the probe standardises with the training features' statistics; the heads fold that in
  want = evaluate.l2_probe_logits(feats, data.labels, feats, (l2,), 50)[0]
  got = feats @ heads["kernel"] + heads["bias"]
  np.testing.assert_allclose(got, want, rtol=1e-3, atol=1e-3 * np.abs(want).max())


def test_a_saved_model_scores_crops_as_its_encoder_and_heads_do(model_dir, tiny_data_dir):
  model = au_model.load(model_dir)
  info = json.load(open(os.path.join(model_dir, "au_model.json")))
  data = _labelled(tiny_data_dir)
  assert info["aus"] == list(data.aus) and info["alignment"]["template"] == "five_point"
  assert info["alignment"]["crop_size"] == data.images.shape[1]
  assert len(info["thresholds"]) == len(data.aus)
  crops = data.images[:8]
  feats = evaluate.extract_features(model.variables, model.encoder_info, crops, 8)
  want = 1 / (1 + np.exp(-(feats @ model.kernel + model.bias)))
  np.testing.assert_allclose(model.probabilities(crops), want, rtol=1e-4, atol=1e-5)


def test_an_incomplete_model_directory_names_what_is_missing(model_dir, tmp_path):
  broken = tmp_path / "model"
  shutil.copytree(model_dir, broken)
  os.remove(broken / "au_heads.safetensors")
  with pytest.raises(FileNotFoundError, match=r"missing au_heads.safetensors"):
    au_model.load(str(broken))
  assert detect_runner.run([str(tmp_path)], str(broken), str(tmp_path / "o")) == 2
  with pytest.raises(FileNotFoundError, match=r"no such model directory"):
    au_model.load(str(tmp_path / "nowhere"))
  shutil.copy(os.path.join(model_dir, "au_heads.safetensors"), broken)
  info = json.load(open(broken / "au_model.json"))
  info["aus"] = info["aus"][:-1]
  json.dump(info, open(broken / "au_model.json", "w"))
  with pytest.raises(ValueError, match=r"au_heads.safetensors: kernel .* expected"):
    au_model.load(str(broken))


def _read_csv(path):
  with open(path, newline="") as f:
    return list(csv.DictReader(f))


def _check_rows(rows, model, n_frames):
  assert len(rows) == n_frames
  assert [int(r["frame"]) for r in rows] == list(range(1, n_frames + 1))
  times = [float(r["timestamp"]) for r in rows]
  assert all(b > a for a, b in zip(times, times[1:]))
  names = [f"AU{a:02d}" for a in model.aus]
  for r in rows:
    if r["success"] == "1":
      p = np.array([float(r[f"{n}_p"]) for n in names])
      assert ((p >= 0) & (p <= 1)).all()
      c = np.array([int(r[f"{n}_c"]) for n in names])
      np.testing.assert_array_equal(c, p >= model.thresholds)
      assert float(r["face_w"]) > 0 and float(r["face_h"]) > 0
    else:
      assert all(r[f"{n}_p"] == "" and r[f"{n}_c"] == "" for n in names)
      assert r["face_x"] == ""


@needs_real
def test_clp_detect_on_the_real_clips_an_image_and_a_broken_file(model_dir, tmp_path):
  model = au_model.load(model_dir)
  inputs = tmp_path / "in"
  inputs.mkdir()
  shutil.copy(os.path.join(REAL, "single_face.mp4"), inputs / "man.mp4")
  first = next(video_lib.frames(os.path.join(REAL, "single_face.mp4"))).image
  cv2.imwrite(str(inputs / "man.png"), first[..., ::-1])
  (inputs / "broken.mp4").write_bytes(b"not a video at all")
  out = tmp_path / "out"
  # Through the command line, as a user runs it: absl flags, positional inputs, the exit code.
  done = subprocess.run(
      [sys.executable, "-m", "clp_jax.detect.cli", str(inputs),
       os.path.join(REAL, "WolfgangLanger_Pexels.mp4"), f"--model={model_dir}", f"--out={out}",
       "--noprogress"], capture_output=True, text=True, timeout=900, check=False,
      env=dict(os.environ, PYTHONPATH=str(ROOT)))
  assert done.returncode == 1, done.stderr[-3000:]
  assert "broken.mp4: not a readable video" in done.stderr
  for name, path in (("man", "single_face.mp4"), ("WolfgangLanger_Pexels", None)):
    video = os.path.join(REAL, path or f"{name}.mp4")
    n = sum(1 for _ in video_lib.frames(video))
    rows = _read_csv(out / f"{name}.csv")
    _check_rows(rows, model, n)
    success = np.mean([r["success"] == "1" for r in rows])
    print(f"{name}: a face in {success:.1%} of {n} frames")
    assert success > 0.8
    assert (out / f"{name}.png").stat().st_size > 10_000
  image = _read_csv(out / "man_2.csv")  # the image's name, made unique
  assert len(image) == 1 and image[0]["success"] == "1" and image[0]["timestamp"] == "0.000"
  assert not (out / "man_2.png").exists()
  assert "a face in" in done.stdout


@needs_real
def test_frames_without_a_face_are_marked_and_rows_stay_in_order(model_dir, tmp_path):
  model = au_model.load(model_dir)
  frames = [f.image for f in video_lib.frames(os.path.join(REAL, "single_face.mp4"))][:40]
  black = set(range(12, 18))
  for t in black:
    frames[t] = np.zeros_like(frames[t])
  path = str(tmp_path / "gap.mp4")
  vf_dummy.write(path, np.stack(frames), "libx264")
  out = tmp_path / "out"
  options = detect_runner.Options(detect_every=1, batch_size=8, progress=False)
  assert detect_runner.run([path], model_dir, str(out), options) == 0
  rows = _read_csv(out / "gap.csv")
  _check_rows(rows, model, 40)
  assert {int(r["frame"]) - 1 for r in rows if r["success"] == "0"} == black
