"""Face alignment: the similarity transform against known transforms, and aligned synthetic video."""

import cv2
import numpy as np
import pytest

from clp_jax.data import faces
from data_builders.synthetic_au import video as video_lib


def _similarity(angle_deg, scale, shift):
  a = np.deg2rad(angle_deg)
  m = np.zeros((2, 3))
  m[:, :2] = scale * np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
  m[:, 2] = shift
  return m


def test_similarity_transform_recovers_a_known_transform():
  rng = np.random.default_rng(0)
  src = rng.uniform(0, 100, (5, 2))
  m = _similarity(17.0, 1.3, [4.0, -9.0])
  dst = src @ m[:, :2].T + m[:, 2]
  np.testing.assert_allclose(faces.similarity_transform(src, dst), m, atol=1e-9)
  # OpenCV's own least-squares estimate on exact points agrees
  cv, _ = cv2.estimateAffinePartial2D(src.astype(np.float32), dst.astype(np.float32))
  np.testing.assert_allclose(faces.similarity_transform(src, dst), cv, atol=1e-3)


def test_similarity_transform_is_never_a_reflection():
  src = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
  mirrored = src * [-1.0, 1.0]  # only a reflection maps these exactly
  m = faces.similarity_transform(src, mirrored)
  assert np.linalg.det(m[:, :2]) > 0


def test_similarity_transform_rejects_bad_landmarks():
  with pytest.raises(ValueError, match="coincide"):
    faces.similarity_transform(np.ones((3, 2)), np.zeros((3, 2)) + [[0, 0], [1, 0], [0, 1]])
  with pytest.raises(ValueError, match=r"\[N >= 2, 2\]"):
    faces.similarity_transform(np.zeros((3, 2)), np.zeros((2, 2)))


def test_align_puts_a_marked_point_on_its_template_position():
  """A bright dot at each landmark of a rotated, shifted, scaled 'face' lands on the template."""
  size = 96
  m = _similarity(-12.0, 0.8, [20.0, 5.0])
  marks = (faces.RIGID_TEMPLATE * size) @ m[:, :2].T + m[:, 2]
  image = np.zeros((128, 128, 3), np.uint8)
  for x, y in marks:
    cv2.circle(image, (int(round(x)), int(round(y))), 2, (255, 255, 255), -1)
  out = faces.align(image, marks, size)
  for x, y in faces.RIGID_TEMPLATE * size:
    assert out[int(round(y)), int(round(x))].min() > 100


def test_aligned_video_keeps_the_labels_and_is_deterministic():
  raw = video_lib.generate_video(0, 4, 1, 16, 64)
  aligned = video_lib.generate_video(0, 4, 1, 16, 64, align=True)
  np.testing.assert_array_equal(aligned.au_intensity, raw.au_intensity)
  np.testing.assert_array_equal(aligned.au_occurrence, raw.au_occurrence)
  assert aligned.frames.shape == raw.frames.shape and not np.array_equal(aligned.frames, raw.frames)
  np.testing.assert_array_equal(aligned.frames,
                                video_lib.generate_video(0, 4, 1, 16, 64, align=True).frames)


def test_default_configs_store_aligned_faces_with_the_labels_of_the_camera_frames(tiny_data_dir,
                                                                                 tmp_path):
  """The default (here tiny) configs hold aligned crops; the same corpus built with align=False
  has the same records and labels, only the pixels differ."""
  from clp_jax.data import sources  # pylint: disable=g-import-not-at-top
  from data_builders.synthetic_au import synthetic_au_dataset_builder as sau  # pylint: disable=g-import-not-at-top
  unaligned = sau.SyntheticAuConfig(name="tiny_labelled_unaligned", kind="labelled", align=False,
                                    **sau.TINY)
  builder = sau.SyntheticAu(config=unaligned, data_dir=str(tmp_path), file_format="array_record")
  builder.download_and_prepare()
  split = "part1+part2+part3"
  raw = builder.as_data_source(split=split)
  aligned, info = sources.open_source("synthetic_au", "tiny_labelled", split, tiny_data_dir)
  assert info.metadata["aligned"] is True and builder.info.metadata["aligned"] is False
  assert len(aligned) == len(raw)
  for i in range(0, len(raw), 7):
    a, r = aligned[i], raw[i]
    assert a["video_id"] == r["video_id"] and a["frame_index"] == r["frame_index"]
    np.testing.assert_array_equal(a["au_occurrence"], r["au_occurrence"])
    assert a["image"] != r["image"]
