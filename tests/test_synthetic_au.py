"""The synthetic corpus is a fair proxy: deterministic, labels that match the pixels, real structure."""

import numpy as np
import pytest

from data_builders.synthetic_au import aus
from data_builders.synthetic_au import dynamics
from data_builders.synthetic_au import identity as identity_lib
from data_builders.synthetic_au import render
from data_builders.synthetic_au import synthetic_au_dataset_builder as sau
from data_builders.synthetic_au import video as video_lib

SIZE = 128


def _face(subject: int, au: int = None, intensity: float = 0.0, seed: int = 0):
  x = np.zeros(aus.NUM_AUS, np.float32)
  if au is not None:
    x[aus.AU_INDEX[au]] = intensity
  idt = identity_lib.sample_identity(subject, seed)
  img, marks = render.render_face(idt, x, dynamics.still_nuisance(), 0, SIZE, np.random.default_rng(0))
  return img.astype(np.int16), marks


def test_identity_is_deterministic_and_distinct():
  assert identity_lib.sample_identity(3, 0) == identity_lib.sample_identity(3, 0)
  assert identity_lib.sample_identity(3, 0) != identity_lib.sample_identity(4, 0)
  assert identity_lib.sample_identity(3, 0) != identity_lib.sample_identity(3, 1)


def test_video_is_deterministic():
  a = video_lib.generate_video(0, 5, 1, 12, 64)
  b = video_lib.generate_video(0, 5, 1, 12, 64)
  c = video_lib.generate_video(1, 5, 1, 12, 64)
  np.testing.assert_array_equal(a.frames, b.frames)
  np.testing.assert_array_equal(a.au_intensity, b.au_intensity)
  assert a.jpeg(3) == b.jpeg(3)
  assert not np.array_equal(a.frames, c.frames)


def test_labels_are_consistent_and_smooth():
  v = video_lib.generate_video(0, 2, 0, 200, 32)
  assert v.au_intensity.shape == (200, aus.NUM_AUS)
  assert v.au_intensity.min() >= 0 and v.au_intensity.max() <= 5
  np.testing.assert_array_equal(v.au_occurrence, (v.au_intensity >= aus.OCCURRENCE_THRESHOLD).astype(np.int8))
  # onset/apex/offset: no jumps of a whole intensity level between consecutive frames at 25 fps
  assert np.abs(np.diff(v.au_intensity, axis=0)).max() < 1.5


def _region(marks, au):
  """Rows/columns where an AU is allowed to change pixels (with a margin)."""
  m = 0.06 * SIZE
  eye_y = marks["eyes"][:, 1].mean()
  nose_y = marks["nose_tip"][0, 1]
  mouth = marks["mouth"]
  if au in (1, 2, 4):  # brows, forehead, glabella, upper lids
    return (0, eye_y + m), (0, SIZE)
  if au == 7:  # lids, crow's feet
    return (eye_y - 2 * m, nose_y), (0, SIZE)
  if au == 6:  # lids, cheeks, crow's feet, infraorbital furrow, and it deepens the nasolabial fold
    return (eye_y - 2 * m, mouth[:, 1].max() + m), (0, SIZE)
  if au == 26:  # the jaw drops: the whole lower face outline moves
    return (nose_y - 2 * m, SIZE), (0, SIZE)
  # mouth, nasolabial folds, chin
  return (nose_y - 2 * m, SIZE), (mouth[:, 0].min() - 2.5 * m, mouth[:, 0].max() + 2.5 * m)


@pytest.mark.parametrize("au", aus.AUS)
def test_each_au_changes_only_its_region(au):
  for subject in range(4):
    neutral, marks = _face(subject)
    active, _ = _face(subject, au, 4.0)
    changed = np.abs(active - neutral).max(-1) > 10
    assert changed.sum() > 15, f"AU{au} at intensity 4 barely changed subject {subject}'s face"
    (y0, y1), (x0, x1) = _region(marks, au)
    ys, xs = np.nonzero(changed)
    inside = (ys >= y0) & (ys <= y1) & (xs >= x0) & (xs <= x1)
    assert inside.mean() > 0.99, (
        f"AU{au} changed {np.sum(~inside)} pixels outside its region for subject {subject}")


def test_au12_differs_only_around_the_mouth():
  neutral, marks = _face(7)
  smile, _ = _face(7, 12, 4.0)
  diff = np.abs(smile - neutral).max(-1)
  (y0, _), (x0, x1) = _region(marks, 12)
  outside = diff.copy()
  outside[int(y0):, int(x0):int(x1) + 1] = 0
  assert diff.max() > 40
  assert outside.max() <= 10


def test_intensity_is_monotonic_in_pixels():
  neutral, _ = _face(1)
  change = [np.abs(_face(1, 12, v)[0] - neutral).sum() for v in (1.0, 2.5, 5.0)]
  assert change[0] < change[1] < change[2]


def test_identities_differ_more_than_expressions():
  a, _ = _face(0)
  b, _ = _face(1)
  a_smile, _ = _face(0, 12, 5.0)
  assert np.abs(a - b).mean() > 4 * np.abs(a - a_smile).mean()


def test_co_occurrence_and_imbalance():
  occ = np.concatenate([video_lib.generate_video(0, s, 0, 160, 16).au_occurrence for s in range(12)])
  rate = occ.mean(0)
  assert rate.min() > 0.005 and rate.max() < 0.6
  assert rate.max() / rate.min() > 2.5  # imbalanced, as in BP4D and DISFA
  corr = np.corrcoef(occ.T.astype(float))
  for a, b in ((6, 12), (1, 2), (4, 7)):
    assert corr[aus.AU_INDEX[a], aus.AU_INDEX[b]] > 0.25, (a, b)
  assert abs(corr[aus.AU_INDEX[2], aus.AU_INDEX[24]]) < 0.2


def test_subject_parts_are_exclusive_and_balanced():
  parts = sau.subject_parts(40, 0)
  assert sorted(parts) == list(range(40))
  counts = np.bincount(list(parts.values()))[1:]
  assert counts.tolist() in ([14, 13, 13], [13, 14, 13], [13, 13, 14])
  assert parts == sau.subject_parts(40, 0) and parts != sau.subject_parts(40, 1)


def test_a_build_of_an_older_version_is_a_clear_error(tmp_path):
  """A data_dir holding only a finished 1.1.0 build (unaligned frames) is not read as 2.0.0:
  the error names the versions and the command that rebuilds."""
  from clp_jax.data import sources  # pylint: disable=g-import-not-at-top
  old = tmp_path / "synthetic_au" / "tiny_labelled" / "1.1.0"
  old.mkdir(parents=True)
  (old / "dataset_info.json").write_text("{}")
  with pytest.raises(sources.DatasetNotPreparedError) as e:
    sources.open_source("synthetic_au", "tiny_labelled", "part1", str(tmp_path))
  msg = str(e.value)
  assert "version 1.1.0" in msg and f"version {sau.SyntheticAu.VERSION}" in msg
  assert "clp-data build synthetic_au --config tiny_labelled" in msg
  # an interrupted build of the current version is not an older version
  (old.parent / f"incomplete.XYZ_{sau.SyntheticAu.VERSION}").mkdir()
  assert sources.other_versions(sau.SyntheticAu(config="tiny_labelled", data_dir=str(tmp_path))) == ["1.1.0"]
