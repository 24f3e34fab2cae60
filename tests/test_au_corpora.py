"""The AU-labelled corpus builders on their layout-exact dummy data: labels read back against the
label files, unknowns, odd frame numbering, counts, malformed rows, and clp-eval on the result."""

import csv
import os
import shutil

import numpy as np
import pytest
import scipy.io
import simplejpeg
import tensorflow_datasets as tfds

from clp_jax import config_files
from clp_jax.data import sources
from clp_jax.eval import runner
from data_builders.bp4d import layout as bp4d_layout

ROOT = os.path.join(os.path.dirname(__file__), "..")
BP4D_DUMMY = os.path.join(ROOT, "data_builders", "bp4d", "dummy_data")


def _build(name, manual_dir, data_dir):
  builder = sources.get_builder(name, "labelled", str(data_dir))
  builder.download_and_prepare(
      download_config=tfds.download.DownloadConfig(manual_dir=str(manual_dir)))
  return builder


@pytest.fixture(scope="module")
def bp4d(tmp_path_factory):
  data_dir = tmp_path_factory.mktemp("bp4d_data")
  return _build("bp4d", BP4D_DUMMY, data_dir), str(data_dir)


def _csv_labels(subject, task):
  """The occurrence file read with the csv module alone: {frame: {AU: value}}."""
  path = os.path.join(BP4D_DUMMY, "AUCoding", "AU_OCC", f"{subject}_{task}.csv")
  with open(path, newline="") as f:
    rows = list(csv.reader(f))
  return {int(r[0]): {au: int(r[au]) for au in bp4d_layout.AUS} for r in rows[1:]}


def test_bp4d_records_hold_the_label_files_values_with_9_as_unknown(bp4d):
  builder, _ = bp4d
  source = builder.as_data_source(split="part1+part2+part3")
  records = [source[i] for i in range(len(source))]
  by_key = {(r["video_id"].decode(), int(r["frame_index"])): r for r in records}
  expected = {(f"{s}/{t}", frame): values for s, t in
              (("F001", "T1"), ("F001", "T8"), ("M011", "T1"), ("F007", "T1"))
              for frame, values in _csv_labels(s, t).items()}
  # every coded frame with an image is a record; F007/T1's frame 15 has no image
  assert set(by_key) == set(expected) - {("F007/T1", 15)}
  assert {f for v, f in by_key if v == "M011/T1"} == set(range(997, 1003))  # 999 -> 1000
  unknown = 0
  for key, r in by_key.items():
    want = np.array([-1 if expected[key][au] == 9 else expected[key][au]
                     for au in bp4d_layout.AUS])
    np.testing.assert_array_equal(r["au_occurrence"], want)
    unknown += int((want == -1).sum())
    subject = key[0].split("/")[0]
    assert r["part"] == next(p for p, names in bp4d_layout.PARTS.items() if subject in names)
  assert unknown == 4  # AU4 on the second coded frame of each of the 4 tasks
  # intensity: AU6 and AU12 of F001/T1 from AU_INT (9 -> -1), every other cell unknown
  r = by_key[("F001/T1", 2442)]
  au = list(bp4d_layout.AUS)
  assert r["au_intensity"][au.index(6)] == 2442 % 6 and r["au_intensity"][au.index(12)] == 2442 % 6
  assert by_key[("F001/T1", 2441)]["au_intensity"][au.index(6)] == -1
  assert np.all(np.delete(r["au_intensity"], [au.index(6), au.index(12)]) == -1)
  summary = builder.info.metadata["build_summary"]
  assert summary["part3"]["without_image"] == 1 and summary["part3"]["records"] == 5
  assert sum(s["without_face"] for s in summary.values()) == 0


@pytest.mark.parametrize("row, match", [
    ("16,0,1\n", r"F007_T1.csv:8: 3 values, the header has 100"),
    ("16," + ",".join(["7"] * 99) + "\n", r"F007_T1.csv:8: occurrence values must be 0, 1 or 9"),
    ("16,x" + ",0" * 98 + "\n", r"F007_T1.csv:8: not a number"),
])
def test_a_malformed_label_row_names_its_file_and_line(tmp_path, row, match):
  manual = tmp_path / "BP4D"
  shutil.copytree(BP4D_DUMMY, manual)
  with open(manual / "AUCoding" / "AU_OCC" / "F007_T1.csv", "a") as f:
    f.write(row)
  builder = sources.get_builder("bp4d", "labelled", str(tmp_path / "data"))
  with pytest.raises(Exception, match=match):
    builder.download_and_prepare(
        download_config=tfds.download.DownloadConfig(manual_dir=str(manual)))
  assert not builder.is_prepared()


def test_bp4d_layout_errors_name_what_is_missing(tmp_path):
  manual = tmp_path / "BP4D"
  shutil.copytree(BP4D_DUMMY, manual)
  shutil.rmtree(manual / "BP4D-training" / "M011")
  with pytest.raises(FileNotFoundError, match=r"M011_T1.csv has labels, but there is no frames "
                                              r"folder .*BP4D-training/M011/T1"):
    _build("bp4d", manual, tmp_path / "data")
  shutil.rmtree(manual / "AUCoding")
  with pytest.raises(FileNotFoundError, match=r"occurrence labels in .*AUCoding/AU_OCC"):
    _build("bp4d", manual, tmp_path / "data")
  assert sorted(bp4d_layout.task_frames(BP4D_DUMMY + "/BP4D-training/M011/T1")) == list(
      range(997, 1004))


def _zip_subject(frames_root, subject, extra=()):
  """Replaces <frames_root>/<subject>/ by <subject>.zip holding <subject>/<Task>/<frame>.jpg."""
  import zipfile  # pylint: disable=g-import-not-at-top
  with zipfile.ZipFile(frames_root / f"{subject}.zip", "w") as zf:
    for path in sorted((frames_root / subject).rglob("*.jpg")):
      zf.write(path, path.relative_to(frames_root).as_posix())
    for name, data in extra:
      zf.writestr(name, data)
  shutil.rmtree(frames_root / subject)


@pytest.mark.slow
def test_bp4d_reads_zipped_subjects_as_their_folders(bp4d, tmp_path):
  manual = tmp_path / "BP4D"
  shutil.copytree(BP4D_DUMMY, manual)
  _zip_subject(manual / "BP4D-training", "F001")
  zipped = _build("bp4d", manual, tmp_path / "data")
  split = "part1+part2+part3"
  got = zipped.as_data_source(split=split)
  want = bp4d[0].as_data_source(split=split)
  key = lambda r: (r["video_id"], int(r["frame_index"]))
  got = sorted((got[i] for i in range(len(got))), key=key)
  want = sorted((want[i] for i in range(len(want))), key=key)
  assert len(got) == len(want) and any(r["video_id"] == b"F001/T1" for r in got)
  for a, b in zip(got, want):
    assert key(a) == key(b) and a["image"] == b["image"]
    np.testing.assert_array_equal(a["au_occurrence"], b["au_occurrence"])


@pytest.mark.parametrize("member", ["../../escape/T1/0001.jpg", "/etc/T1/0001.jpg",
                                    "F001/../../T1/0001.jpg", "M011/T1/0001.jpg"])
def test_bp4d_refuses_an_archive_member_outside_its_subject_folder(tmp_path, member):
  manual = tmp_path / "BP4D"
  shutil.copytree(BP4D_DUMMY, manual)
  _zip_subject(manual / "BP4D-training", "F001", extra=[(member, b"x")])
  with pytest.raises(ValueError, match=r"F001\.zip: member .* refused"):
    _build("bp4d", manual, tmp_path / "data")
  assert not (tmp_path / "escape").exists()


@pytest.mark.slow
def test_clp_eval_runs_on_the_bp4d_layout(bp4d, tmp_path):
  _, data_dir = bp4d
  config = config_files.load(os.path.join(ROOT, "configs", "eval", "bp4d.py"), "dummy")
  config.data.data_dir = data_dir
  report = runner.run(config, [], [], str(tmp_path))
  assert report["aus"] == [f"AU{a}" for a in bp4d_layout.AUS]
  assert [r["encoder"] for r in report["results"]] == ["random_init", "all_present", "prevalence",
                                                      "supervised"]
  for r in report["results"]:
    assert [f["fold"] for f in r["folds"]] == [1, 2, 3]
  assert (tmp_path / "report.md").exists()


DISFA_DUMMY = os.path.join(ROOT, "data_builders", "disfa", "dummy_data")


def test_disfa_records_follow_the_label_lines_and_intensity_2_is_present(tmp_path):
  from data_builders.disfa import layout as disfa_layout  # pylint: disable=g-import-not-at-top
  builder = _build("disfa", DISFA_DUMMY, tmp_path / "data")
  source = builder.as_data_source(split="part1+part2+part3")
  records = {(source[i]["video_id"].decode(), int(source[i]["frame_index"])): source[i]
             for i in range(len(source))}
  assert len(records) == 12 + 11 + 11  # SN013 has no landmark file for frame 5
  for (subject, t), r in records.items():
    want = []
    for au in disfa_layout.AUS:
      path = os.path.join(DISFA_DUMMY, "ActionUnit_Labels", subject, f"{subject}_au{au}.txt")
      with open(path) as f:
        want.append(int(f.read().splitlines()[t].split(",")[1]))  # 0-based line = frame index
    np.testing.assert_array_equal(r["au_intensity"], want)
    np.testing.assert_array_equal(r["au_occurrence"], np.array(want) >= 2)
  assert ("SN003", 11) not in records  # its AU1 file stops a line early
  assert builder.info.metadata["parts"]["SN013"] == 2
  summary = builder.info.metadata["build_summary"]
  assert summary["part2"]["corpus_landmarks"] == 11 and summary["part2"]["without_face"] == 1
  assert summary["part1"]["corpus_landmarks"] == 0


def _stored_crop(record):
  return simplejpeg.decode_jpeg(record["image"]).astype(np.float64)


def test_disfa_aligns_on_its_shipped_landmarks_where_it_has_them(tmp_path):
  """SN013's crops are warps of its video frames by its landmark files' points: moving the points
  moves the crop the same way, and the `detected` config ignores them."""
  from clp_jax.data import video as video_lib  # pylint: disable=g-import-not-at-top
  from clp_jax.data.faces import alignment  # pylint: disable=g-import-not-at-top
  manual = tmp_path / "DISFA"
  shutil.copytree(DISFA_DUMMY, manual)
  lm_dir = manual / "Landmark_Points" / "SN013" / "tmp_frame_lm"
  shift = np.array([6.0, -4.0])
  points = {}
  for path in sorted(lm_dir.iterdir()):
    t = int(path.name.split("_")[1])
    points[t] = scipy.io.loadmat(str(path))["pts"] + shift
    scipy.io.savemat(str(path), {"pts": points[t]})
  frames = {f.index: f.image for f in video_lib.frames(
      os.path.join(DISFA_DUMMY, "Videos_LeftCamera", "LeftVideoSN013_comp.avi"))}
  builder = _build("disfa", manual, tmp_path / "data")
  source = builder.as_data_source(split="part2")
  records = {int(source[i]["frame_index"]): source[i] for i in range(len(source))}
  assert sorted(records) == sorted(points) and 5 not in records
  for t, record in records.items():
    eyes_left, eyes_right = points[t][36:42].mean(0), points[t][42:48].mean(0)
    rigid = np.stack([eyes_left, eyes_right, points[t][33]])
    want = alignment.align(frames[t], rigid, 112, alignment.FIVE_POINT_TEMPLATE)
    unshifted = alignment.align(frames[t], rigid - shift, 112, alignment.FIVE_POINT_TEMPLATE)
    got = _stored_crop(record)
    assert np.abs(got - want).mean() < 3.0, t  # JPEG's error only
    assert np.abs(got - unshifted).mean() > 3 * np.abs(got - want).mean(), t
  detected = sources.get_builder("disfa", "detected", str(tmp_path / "data"))
  detected.download_and_prepare(
      download_config=tfds.download.DownloadConfig(manual_dir=str(manual)))
  assert detected.info.splits["part2"].num_examples == 12
  assert detected.info.metadata["build_summary"]["part2"]["corpus_landmarks"] == 0


def test_disfa_landmark_file_errors_name_the_file(tmp_path):
  manual = tmp_path / "DISFA"
  shutil.copytree(DISFA_DUMMY, manual)
  bad = manual / "Landmark_Points" / "SN013" / "tmp_frame_lm" / "SN013_0003_lm.mat"
  scipy.io.savemat(str(bad), {"points": np.zeros((66, 2))})
  with pytest.raises(Exception, match=r"SN013_0003_lm.mat: no 'pts' array \(found \['points'\]\)"):
    _build("disfa", manual, tmp_path / "data")
  scipy.io.savemat(str(bad), {"pts": np.zeros((68, 3))})
  with pytest.raises(Exception, match=r"SN013_0003_lm.mat: 'pts' is \(68, 3\), expected 66 x 2"):
    _build("disfa", manual, tmp_path / "data2")
  bad.write_bytes(b"not a mat file")
  with pytest.raises(Exception, match=r"SN013_0003_lm.mat: not a readable MATLAB file"):
    _build("disfa", manual, tmp_path / "data3")


def test_disfa_bad_label_lines_and_damaged_videos(tmp_path):
  manual = tmp_path / "DISFA"
  shutil.copytree(DISFA_DUMMY, manual)
  label = manual / "ActionUnit_Labels" / "SN013" / "SN013_au9.txt"
  lines = label.read_text().splitlines()
  lines[4] = "5,seven"
  label.write_text("\n".join(lines) + "\n")
  with pytest.raises(Exception, match=r"SN013_au9.txt:5: expected 'frameIdx,intensity'"):
    _build("disfa", manual, tmp_path / "data")
  shutil.copy(DISFA_DUMMY + "/ActionUnit_Labels/SN013/SN013_au9.txt", label)
  # a second part-2 subject (SN018) whose video is cut before its first frame
  labels = manual / "ActionUnit_Labels"
  shutil.copytree(labels / "SN013", labels / "SN018")
  for f in (labels / "SN018").iterdir():
    f.rename(f.with_name(f.name.replace("SN013", "SN018")))
  videos = manual / "Videos_LeftCamera"
  (videos / "LeftVideoSN018_comp.avi").write_bytes(
      (videos / "LeftVideoSN013_comp.avi").read_bytes()[:2000])
  builder = _build("disfa", manual, tmp_path / "data2")
  summary = builder.info.metadata["build_summary"]["part2"]
  assert summary["damaged_videos"] == 1 and summary["without_image"] == 12
  assert builder.info.splits["part2"].num_examples == summary["records"] == 11  # SN013: 12 - 1
  # a part left with nothing: an error that says why
  (videos / "LeftVideoSN003_comp.avi").write_bytes(b"")
  with pytest.raises(ValueError, match=r"disfa part3: no record from its 1 subject\(s\)"):
    _build("disfa", manual, tmp_path / "data3")


GFT_DUMMY = os.path.join(ROOT, "data_builders", "gft", "dummy_data")


def test_gft_follows_its_layout_file(tmp_path):
  builder = _build("gft", GFT_DUMMY, tmp_path / "data")
  meta = builder.info.metadata
  assert meta["subjects"] == ["001a", "001b", "002c"] and meta["videos_without_file"] == 1
  assert meta["parts"] == {"001a": 1, "001b": 2, "002c": 3}
  source = builder.as_data_source(split="part1+part2+part3")
  with open(os.path.join(GFT_DUMMY, "coded", "001b_group001_au.csv"), newline="") as f:
    rows = list(csv.DictReader(f))
  from data_builders.gft import layout as gft_layout  # pylint: disable=g-import-not-at-top
  checked = 0
  for i in range(len(source)):
    r = source[i]
    if r["video_id"].decode() != "001b_group001":
      continue
    row = rows[int(r["frame_index"])]  # 'Frame' is 0-based in this layout
    want = [int(row[f"AU{au:02d}"]) for au in gft_layout.AUS]
    np.testing.assert_array_equal(r["au_occurrence"], [-1 if v == -9 else v for v in want])
    checked += 1
  assert checked == 10


def test_gft_layout_errors(tmp_path):
  manual = tmp_path / "GFT"
  shutil.copytree(GFT_DUMMY, manual)
  (manual / "gft_layout.json").write_text('{"labels": "coded/{video}_au.csv", "fps": 30}')
  with pytest.raises(ValueError, match=r"gft_layout.json: unknown keys \['fps'\]"):
    _build("gft", manual, tmp_path / "data")
  (manual / "gft_layout.json").write_text('{"labels": "coded/{video}_au.csv"}')
  with pytest.raises(FileNotFoundError, match=r"none of the 4 label files .*/videos/\{video\}.mp4"):
    _build("gft", manual, tmp_path / "data")
  (manual / "gft_layout.json").write_text(
      '{"labels": "coded/{video}_au.csv", "videos": "session/{video}.mp4"}')
  with pytest.raises(Exception, match=r"_au.csv:1: the header has no column \['frame'"):
    _build("gft", manual, tmp_path / "data")
