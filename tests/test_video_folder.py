"""video_folder on the real clips of ../shared/data/real_videos: what it keeps, what it counts,
where the face lands in the crop, pretraining on it, and its errors."""

import os

import dlib
import numpy as np
import pytest
import simplejpeg

from clp_jax.data import sources
from clp_jax.data import video as video_lib
from clp_jax.data.faces import alignment
from clp_jax.data.faces import detect
from data_builders.video_folder import clips as clips_lib
from data_builders.video_folder import video_folder_dataset_builder as vf

REAL = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data",
                                    "real_videos"))
needs_real = pytest.mark.skipif(not os.path.isdir(REAL), reason=f"the real clips are not at {REAL}")


def _layout(root):
  """alice: the woman's clip; bob: the man's clip and a file that is not a video; carol: the
  man's clip again, under another name (three people: one per part)."""
  for person, name, src in (("alice", "pexels/w.mp4", "WolfgangLanger_Pexels.mp4"),
                            ("bob", "s.mp4", "single_face.mp4"),
                            ("carol", "2020/clip.mov", "single_face.mp4")):
    os.makedirs(os.path.dirname(os.path.join(root, person, name)), exist_ok=True)
    os.symlink(os.path.join(REAL, src), os.path.join(root, person, name))
  with open(os.path.join(root, "bob", "broken.mp4"), "w") as f:
    f.write("a download that failed")


def _build(manual, data_dir):
  builder = sources.get_builder("video_folder", "default", str(data_dir))
  builder.download_and_prepare(download_config=vf.tfds.download.DownloadConfig(
      manual_dir=str(manual)))
  return builder


@pytest.fixture(scope="module")
def real_corpus(tmp_path_factory):
  if not os.path.isdir(REAL):
    pytest.skip(f"the real clips are not at {REAL}")
  tmp = tmp_path_factory.mktemp("video_folder")
  _layout(tmp / "videos")
  return _build(tmp / "videos", tmp / "data"), str(tmp / "data")


def _expected_clips(path, spec):
  """Clips of a video whose every frame has the face: from its decoded frame count alone."""
  n = sum(1 for _ in video_lib.frames(path, clips_lib.frame_step(video_lib.frame_rate(path),
                                                                 spec.fps)))
  span = (spec.clip_length - 1) * spec.clip_stride + 1
  return (n - span) // spec.clip_hop + 1 if n >= span else 0


@needs_real
def test_the_real_clips_become_aligned_clips_and_the_broken_file_a_counted_skip(real_corpus):
  builder, _ = real_corpus
  spec = builder.builder_config.spec()
  meta = builder.info.metadata
  assert meta["identities"] == ["alice", "bob", "carol"]
  assert sorted(meta["parts"].values()) == [1, 2, 3]
  woman = _expected_clips(os.path.join(REAL, "WolfgangLanger_Pexels.mp4"), spec)
  man = _expected_clips(os.path.join(REAL, "single_face.mp4"), spec)
  assert (woman, man) == (58, 8)  # 472 and 72 frames, every one kept at ~24 and 30 fps
  counts = {p: builder.info.splits[f"part{p}"].num_examples for p in (1, 2, 3)}
  assert counts[meta["parts"]["alice"]] == woman
  assert counts[meta["parts"]["bob"]] == counts[meta["parts"]["carol"]] == man
  summary = meta["build_summary"][f"part{meta['parts']['bob']}"]
  assert summary["videos"] == 2 and summary["skipped"] == 1 and summary["clips"] == man
  assert sum(s["frames_without_face"] for s in meta["build_summary"].values()) == 0


@needs_real
def test_real_crops_put_the_eyes_on_the_template(real_corpus):
  """Eye centres from dlib's 68-point model (not the 5-point one alignment used), fitted on the
  stored crops inside the template's face box, sit on the template's eyes."""
  builder, _ = real_corpus
  source = builder.as_data_source(split="part1+part2+part3")
  predictor = dlib.shape_predictor(detect.model_path("shape_predictor_68_face_landmarks.dat"))
  size = builder.builder_config.image_size
  box = dlib.rectangle(int(0.13 * size), int(0.2 * size), int(0.87 * size), int(0.95 * size))
  errors = []
  for i in range(0, len(source), 7):
    record = source[i]
    steps = np.diff(record["frame_index"])
    assert np.all(steps == 2), record["frame_index"]
    np.testing.assert_allclose(record["landmarks"][:, :2] / size,
                               np.broadcast_to(alignment.FIVE_POINT_TEMPLATE[:2], (8, 2, 2)),
                               atol=0.03)
    crop = simplejpeg.decode_jpeg(record["frames"][0], colorspace="RGB")
    assert crop.shape == (size, size, 3)
    p = np.array([[q.x, q.y] for q in predictor(crop, box).parts()], np.float64)
    eyes = np.stack([p[36:42].mean(0), p[42:48].mean(0)]) / size
    errors.append(np.abs(eyes - alignment.FIVE_POINT_TEMPLATE[:2]).max())
  assert len(errors) >= 10 and np.median(errors) < 0.03 and max(errors) < 0.06


@needs_real
@pytest.mark.slow
def test_pretraining_runs_on_a_video_folder_corpus(real_corpus, tmp_path):
  import jax  # pylint: disable=g-import-not-at-top
  from clp_jax import config_files  # pylint: disable=g-import-not-at-top
  from clp_jax.pretrain import train  # pylint: disable=g-import-not-at-top
  _, data_dir = real_corpus
  config = config_files.load(os.path.join(os.path.dirname(__file__), "..", "configs",
                                          "default.py"), "runlocal")
  config.num_steps, config.checkpoint_every = 2, 2
  config.data.update(name="video_folder", config="default", data_dir=data_dir,
                     split="part1+part2+part3")
  state = train.train(config, str(tmp_path / "run"))
  assert int(state.step) == 2
  assert all(np.isfinite(np.asarray(x)).all() for x in jax.tree.leaves(state.params))
  assert os.path.isdir(tmp_path / "run" / "checkpoints" / "2")


def test_layout_errors_name_the_folder_the_file_and_the_setting(tmp_path):
  with pytest.raises(FileNotFoundError, match=r"--manual_dir.*missing or empty"):
    _build(tmp_path / "nowhere", tmp_path / "data")
  (tmp_path / "empty" / "person").mkdir(parents=True)
  (tmp_path / "empty" / "person" / "notes.txt").write_text("no video here")
  with pytest.raises(FileNotFoundError, match=r"No video files \(.mp4.*under .*empty"):
    _build(tmp_path / "empty", tmp_path / "data")
  (tmp_path / "flat").mkdir()
  (tmp_path / "flat" / "a.mp4").write_text("x")
  with pytest.raises(ValueError, match=r"a.mp4: identity_level=0 .*\(at the top\)"):
    _build(tmp_path / "flat", tmp_path / "data")
  assert vf.identity_of("/r", "/r/a.mp4", None) == "a"
  assert vf.identity_of("/r", "/r/dev/mp4/id1/yt/0001.mp4", 2) == "id1"


def test_parts_are_balanced_and_subject_exclusive():
  names = [f"id{i:05d}" for i in range(100)]
  parts = clips_lib.identity_parts(names)
  assert sorted(np.bincount(list(parts.values()))[1:]) == [33, 33, 34]
  assert clips_lib.identity_parts(reversed(names)) == parts  # order of discovery does not matter
  assert sorted(clips_lib.identity_parts(["a", "b", "c"]).values()) == [1, 2, 3]


def test_voxceleb2_names_the_set_folder_it_needs(tmp_path):
  (tmp_path / "vox" / "test" / "mp4").mkdir(parents=True)
  builder = sources.get_builder("voxceleb2", "dev", str(tmp_path / "data"))
  with pytest.raises(FileNotFoundError, match=r"vox/dev/mp4 \(VoxCeleb2's 'dev' set\)"):
    builder.download_and_prepare(download_config=vf.tfds.download.DownloadConfig(
        manual_dir=str(tmp_path / "vox")))
  assert not builder.is_prepared()  # an interrupted build never looks prepared


@needs_real
def test_an_openface_csv_beside_a_video_replaces_detection(tmp_path):
  from tests.test_face_detect import _write_openface_csv  # pylint: disable=g-import-not-at-top
  person = tmp_path / "videos" / "bob"
  person.mkdir(parents=True)
  os.symlink(os.path.join(REAL, "single_face.mp4"), person / "s.mp4")
  frames = [f.image for f in video_lib.frames(os.path.join(REAL, "single_face.mp4"))]
  _write_openface_csv(person / "s.csv", frames, detect.Detector(), no_face=range(10, 15))
  builder = _build(tmp_path / "videos", tmp_path / "data")
  summary = builder.info.metadata["build_summary"]["part1"]
  assert summary["frames_without_face"] == 5
  # clips start every 8 frames and take every 2nd of 15: those at 0 and 8 meet frames 10-14
  assert summary["clips"] == 8 - 2 == builder.info.splits["part1"].num_examples
