"""Face detection, tracking and alignment on real video (../shared/data/real_videos), and decoding
errors on damaged files."""

import os

import av
import dlib
import numpy as np
import pytest

from clp_jax.data import video as video_lib
from clp_jax.data.faces import alignment
from clp_jax.data.faces import detect
from clp_jax.data.faces import stream
from clp_jax.data.faces import track

REAL = os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data", "real_videos")
needs_real = pytest.mark.skipif(not os.path.isdir(REAL),
                                reason=f"the real clips are not at {os.path.abspath(REAL)}")


@pytest.fixture(scope="module")
def detector():
  return detect.Detector()


@pytest.fixture(scope="module")
def smile_frames():
  """single_face.mp4: 72 frames, 640x360, one man, neutral to a broad smile."""
  return [f.image for f in video_lib.frames(os.path.join(REAL, "single_face.mp4"))]


def _eyes68(image, box):
  """Eye centres from dlib's 68-point model (a model the alignment does not use): [2, 2], the
  eye on the image's left first."""
  predictor = dlib.shape_predictor(detect.model_path("shape_predictor_68_face_landmarks.dat"))
  shape = predictor(image, dlib.rectangle(*[int(round(v)) for v in box]))
  p = np.array([[q.x, q.y] for q in shape.parts()], np.float64)
  return np.stack([p[36:42].mean(0), p[42:48].mean(0)])


@needs_real
def test_every_frame_of_a_real_clip_gives_one_aligned_face_on_the_template(smile_frames):
  rows = list(stream.aligned_frames(os.path.join(REAL, "single_face.mp4"), size=112))
  assert [r.index for r in rows] == list(range(72)) == list(range(len(smile_frames)))
  times = np.array([r.timestamp for r in rows])
  assert np.all(np.diff(times) > 0) and times[1] == pytest.approx(1 / 30, abs=1e-3)
  found = [r for r in rows if r.face is not None]
  assert len(found) >= 0.9 * len(rows)  # the man is in every frame
  for r in found:
    assert r.crop.shape == (112, 112, 3) and r.crop.dtype == np.uint8
  # Crops centred on the face: the eye centres of an independent landmark model, carried through
  # the same warp, land on the template's eyes (within 4% of the side).
  for r in found[::9]:
    m = alignment.similarity_transform(r.face.rigid(), alignment.FIVE_POINT_TEMPLATE * 112)
    eyes = alignment.transform_points(m, _eyes68(smile_frames[r.index], r.face.box))
    np.testing.assert_allclose(eyes / 112, alignment.FIVE_POINT_TEMPLATE[:2], atol=0.04)


@needs_real
def test_tracking_between_detections_follows_the_detected_landmarks(detector, smile_frames):
  every = track.MainFaceTracker(detector, detect_every=1)
  sparse = track.MainFaceTracker(detector, detect_every=5)
  errors = []
  for frame in smile_frames:
    a, b = every(frame), sparse(frame)
    errors.append(np.linalg.norm(a.landmarks - b.landmarks, axis=1).mean() / a.interocular())
  assert every.detections == 72 and sparse.detections == 15  # frames 0, 5, ..., 70
  assert np.mean(errors) < 0.03 and np.max(errors) < 0.1


def test_a_frame_without_a_face_has_none_and_the_next_one_detects_again(detector):
  grey = np.full((360, 640, 3), 128, np.uint8)
  assert detector.detect(grey) == []
  tracker = track.MainFaceTracker(detector, detect_every=5)
  assert tracker(grey) is None and tracker(grey) is None
  assert tracker.detections == 2  # nothing followed: every frame detects
  with pytest.raises(ValueError, match=r"\[H, W, 3\] uint8"):
    detector.detect(grey.astype(np.float32))


@needs_real
def test_the_followed_face_stays_the_main_face_when_a_larger_one_appears(detector, smile_frames):
  import cv2  # pylint: disable=g-import-not-at-top
  face = smile_frames[0][100:340, 170:410]  # 240 x 240 around the man's face
  big = cv2.resize(face, (264, 264))
  canvas = lambda left, right: np.concatenate(  # noqa: E731
      [np.pad(left, ((0, 300 - left.shape[0]), (0, 0), (0, 0)), constant_values=128),
       np.pad(right, ((0, 300 - right.shape[0]), (0, 0), (0, 0)), constant_values=128)], 1)
  tracker = track.MainFaceTracker(detector, detect_every=1)
  only_left = canvas(face, np.full_like(big, 128))
  first = tracker(only_left)
  assert first.box[2] < 240  # the only face: the left one
  both = canvas(face, big)
  assert detector.detect(both)[0].box[0] > 240  # the larger face is the right one...
  assert tracker(both).box[2] < 240  # ...but the tracker keeps the one it followed
  fresh = track.MainFaceTracker(detector, detect_every=1)
  assert fresh(both).box[0] > 240  # a new track starts on the largest


def _encode(path, n, faststart=True):
  options = {"movflags": "faststart"} if faststart else {}
  with av.open(path, "w", options=options) as out:
    s = out.add_stream("libx264", rate=25)
    s.width, s.height, s.pix_fmt = 64, 48, "yuv420p"
    rng = np.random.default_rng(0)
    for _ in range(n):  # noise: every frame costs bytes, so a cut leaves whole frames before it
      img = rng.integers(0, 256, (48, 64, 3), dtype=np.uint8)
      for packet in s.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
        out.mux(packet)
    for packet in s.encode():
      out.mux(packet)


def test_damaged_videos_raise_an_error_naming_the_file(tmp_path):
  good = str(tmp_path / "good.mp4")
  _encode(good, 50)
  assert [f.index for f in video_lib.frames(good, every=10)] == [0, 10, 20, 30, 40]
  assert video_lib.frame_rate(good) == pytest.approx(25)
  data = open(good, "rb").read()
  cut = tmp_path / "cut.mp4"
  cut.write_bytes(data[:int(len(data) * 0.6)])
  decoded = []
  with pytest.raises(video_lib.VideoError, match=r"cut.mp4: decoding (failed|ended) after \d+"):
    for f in video_lib.frames(str(cut)):
      decoded.append(f.index)
  assert decoded == list(range(len(decoded))) and 0 < len(decoded) < 50
  text = tmp_path / "notes.mp4"
  text.write_text("not a video")
  with pytest.raises(video_lib.VideoError, match="notes.mp4: not a readable video"):
    next(video_lib.frames(str(text)))
  with pytest.raises(video_lib.VideoError, match="missing.avi: not a readable video"):
    next(video_lib.frames(str(tmp_path / "missing.avi")))


def _write_openface_csv(path, frames, detector, no_face=()):
  """An OpenFace 2.x-format CSV of frames: 68 points from dlib's 68-point model (not the 5-point
  one alignment uses otherwise), success 0 on the frames in no_face."""
  predictor = dlib.shape_predictor(detect.model_path("shape_predictor_68_face_landmarks.dat"))
  header = (["frame", "face_id", "timestamp", "confidence", "success"]
            + [f"x_{i}" for i in range(68)] + [f"y_{i}" for i in range(68)] + ["AU12_r"])
  lines = [", ".join(header)]
  for t, image in enumerate(frames):
    box = detector.detect(image)[0].box
    shape = predictor(image, dlib.rectangle(*[int(round(v)) for v in box]))
    p = np.array([[q.x, q.y] for q in shape.parts()], np.float64)
    ok = 0 if t in no_face else 1
    lines.append(", ".join([str(t + 1), "0", f"{t / 30:.3f}", "0.98", str(ok)]
                           + [f"{v:.1f}" for v in p[:, 0]] + [f"{v:.1f}" for v in p[:, 1]]
                           + ["0.5"]))
  with open(path, "w") as f:
    f.write("\n".join(lines) + "\n")


@needs_real
def test_openface_landmarks_replace_detection_and_land_on_the_template(detector, smile_frames,
                                                                        tmp_path):
  from clp_jax.data.faces import openface  # pylint: disable=g-import-not-at-top
  csv_path = tmp_path / "single_face.csv"
  _write_openface_csv(csv_path, smile_frames, detector, no_face=range(10, 15))
  faces = openface.read_faces(str(csv_path))
  assert sorted(faces) == [t for t in range(72) if not 10 <= t < 15]
  rows = list(stream.aligned_frames(os.path.join(REAL, "single_face.mp4"), faces=faces))
  assert [r.index for r in rows if r.face is None] == list(range(10, 15))
  detected = {r.index: r for r in stream.aligned_frames(os.path.join(REAL, "single_face.mp4"))}
  for r in rows[::7]:
    if r.face is None:
      continue
    # the same face aligned from either landmark source: eye centres within 3% of the side
    np.testing.assert_allclose(r.face.rigid()[:2], detected[r.index].face.rigid()[:2],
                               atol=0.03 * 640)
  lines = csv_path.read_text().splitlines()
  lines[5] = lines[5].rsplit(",", 3)[0]
  csv_path.write_text("\n".join(lines) + "\n")
  with pytest.raises(openface.LandmarkFileError, match=r"single_face.csv:6: \d+ values"):
    openface.read_faces(str(csv_path))
  (tmp_path / "other.csv").write_text("frame, success\n1, 1\n")
  with pytest.raises(openface.LandmarkFileError, match=r"other.csv:1: not an OpenFace 2.x CSV"):
    openface.read_faces(str(tmp_path / "other.csv"))
