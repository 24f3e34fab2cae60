"""Clip stabilisation: known warps are recovered, landmarks follow their frames, the head's drift
in rendered videos shrinks towards the same videos rendered with a still head."""

import dataclasses

import cv2
import numpy as np
import pytest

from benchmarks.stabilisation import change_kept
from benchmarks.stabilisation import frame_change
from clp_jax import train
from clp_jax.data import pipeline
from clp_jax.data import sources
from clp_jax.data import stabilise
from data_builders.synthetic_au import aus as au_lib
from data_builders.synthetic_au import dynamics
from data_builders.synthetic_au import identity as identity_lib
from data_builders.synthetic_au import render
from data_builders.synthetic_au import video as video_lib
from tests.conftest import TINY, tiny_config
from tests.test_train import tiny_run_config


def _warp(angle_deg, scale, shift, centre):
  """[2, 3] forward map original -> moved: rotation and scale about centre, then a shift."""
  m = cv2.getRotationMatrix2D(centre, angle_deg, scale).astype(np.float32)
  m[:, 2] += shift
  return m


def _moved_clip(image, moves):
  """Frames of `image` moved by each forward map; the middle frame is `image` itself."""
  h, w = image.shape[:2]
  return np.stack([cv2.warpAffine(image, m, (w, h), flags=cv2.INTER_LINEAR,
                                  borderMode=cv2.BORDER_REPLICATE) for m in moves])


def _to_points(m, points):
  return points @ m[:, :2].T + m[:, 2]


def test_stabilise_recovers_known_warps_and_moves_landmarks_with_them():
  frame = video_lib.generate_video(0, 3, 0, 1, 128, head_motion=0.0).frames[0]
  c = (64.0, 64.0)
  moves = [_warp(3, 1.03, (2.5, -1.5), c), _warp(-2, 0.98, (-3.0, 1.0), c),
           np.eye(2, 3, dtype=np.float32), _warp(1.5, 1.0, (1.0, 2.0), c),
           _warp(-4, 1.02, (0.0, -2.5), c)]
  clip = _moved_clip(frame, moves)
  for motion in ("affine", "euclidean"):
    out, warps, flow = stabilise.stabilise_clip(clip, motion=motion)
    assert flow is None
    assert out.shape == clip.shape and out.dtype == np.uint8
    np.testing.assert_array_equal(out[2], clip[2])
    np.testing.assert_array_equal(warps[2], np.eye(2, 3))
    # The warp maps stabilised (= reference) coordinates into each moved frame: it is the move.
    corners = np.array([[20, 20], [108, 20], [20, 108], [108, 108]], np.float32)
    for j, m in enumerate(moves):
      if motion == "euclidean" and abs(m[0, 0] ** 2 + m[0, 1] ** 2 - 1) > 1e-3:
        continue  # a scaled move is outside the euclidean model
      err = np.abs(_to_points(warps[j], corners) - _to_points(m, corners)).max()
      assert err < 0.5, (motion, j, err)
    if motion == "affine":
      # every stabilised frame matches the reference away from the borders it had to invent
      inner = lambda im: im[16:-16, 16:-16].astype(np.float32)
      for j in range(len(moves)):
        assert np.abs(inner(out[j]) - inner(frame)).mean() < 2.0, j
      # unstabilised, the moved frames differ from the reference far more
      assert np.abs(inner(clip[0]) - inner(frame)).mean() > 5.0
      # landmarks of the moved frames land back on the reference's
      marks = np.array([[50.0, 55.0], [78.0, 55.0], [64.0, 75.0]], np.float32)
      moved = np.stack([_to_points(m, marks) for m in moves])
      back = stabilise.warp_points(moved, warps)
      assert np.abs(back - marks).max() < 0.5


def test_warp_points_inverts_the_warp_exactly():
  rng = np.random.default_rng(0)
  warps = np.stack([_warp(a, s, (dx, dy), (40.0, 50.0)) for a, s, dx, dy in
                    rng.uniform([-5, 0.95, -3, -3], [5, 1.05, 3, 3], (6, 4))])
  points = rng.uniform(0, 100, (6, 3, 2)).astype(np.float32)
  moved = np.stack([_to_points(w, p) for w, p in zip(warps, points)])
  np.testing.assert_allclose(stabilise.warp_points(moved, warps), points, atol=1e-3)


def _squeeze(h, w, amplitude):
  """A smooth non-rigid sampling offset [H, W, 2] no global warp undoes: the face's left half
  moves right and its right half left and down (Gaussian bumps of `amplitude` px, SD a sixth of
  the width, a face turning in depth)."""
  ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
  bump = lambda cx: np.exp(-((xs - cx) ** 2 + (ys - 0.55 * h) ** 2) / (2 * (w / 6) ** 2))
  left, right = bump(0.35 * w), bump(0.65 * w)
  return np.stack([amplitude * (left - right), 0.5 * amplitude * right], -1).astype(np.float32)


def test_flow_removes_a_smooth_non_rigid_move_and_moves_landmarks_with_it():
  frame = video_lib.generate_video(0, 3, 0, 1, 128, head_motion=0.0).frames[0]
  h, w = frame.shape[:2]
  ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
  offsets = [_squeeze(h, w, a) for a in (2.5, -2.0, 0.0, 1.5)]
  # moved(x) = frame(x + d(x)): what the frame has at p, the moved one has where q + d(q) = p
  clip = np.stack([cv2.remap(frame, xs + d[..., 0], ys + d[..., 1], cv2.INTER_LINEAR,
                             borderMode=cv2.BORDER_REPLICATE) for d in offsets])
  inner = lambda im: im[16:-16, 16:-16].astype(np.float32)
  euclid, _, none = stabilise.stabilise_clip(clip, motion="euclidean")
  flowed, warps, flow = stabilise.stabilise_clip(clip, motion="flow")
  assert none is None and flow.shape == (4, h, w, 2) and flow.dtype == np.float32
  mid = 2
  np.testing.assert_array_equal(flowed[mid], clip[mid])
  for j in (0, 1, 3):
    raw, rigid, dense = (np.abs(inner(c[j]) - inner(frame)).mean() for c in (clip, euclid, flowed))
    assert dense < 0.6 * min(raw, rigid), (j, raw, rigid, dense)
  marks = np.array([[50.0, 55.0], [78.0, 55.0], [64.0, 75.0]], np.float32)
  moved = []
  for d in offsets:
    q = marks.copy()
    for _ in range(20):  # q = p - d(q)
      q = marks - np.stack([d[int(round(y)), int(round(x))] for x, y in q])
    moved.append(q)
  err = np.abs(stabilise.warp_points(np.stack(moved), warps, flow) - marks).max()
  # without the flow the landmarks stay about where the squeeze moved them
  err_rigid = np.abs(stabilise.warp_points(np.stack(moved), warps) - marks).max()
  assert err < 0.6 and err_rigid > max(1.0, 2 * err), (err, err_rigid)


def test_flow_keeps_most_of_an_au_and_removes_most_of_the_heads_moves():
  """Rendered pairs (neutral face, the same face with one AU or one head change): the euclidean
  warp keeps the AUs whole but most of yaw and scale; the flow keeps most of each AU and removes
  most of every head change."""
  euclid, flow = change_kept("euclidean", 2), change_kept("flow", 2)
  head = ["yaw 7 deg", "pitch 4 deg", "roll 3 deg", "shift 1.3%", "scale 1.5%"]
  assert euclid["AU at 3"] > 0.9 and flow["AU at 3"] > 0.65, (euclid, flow)
  assert np.mean([euclid[k] for k in head]) > 0.5, euclid
  assert np.mean([flow[k] for k in head]) < 0.35, flow
  assert all(flow[k] < 0.5 for k in head), flow


def test_rigid_fit_recovers_a_rigid_move_and_ignores_a_local_one():
  """A flow made of the template's 6 rigid fields, plus a strong local bump (an AU moving one
  region on its own): the Huber-weighted fit gives back the rigid parameters, and a plain least
  squares fit does not."""
  h = w = 64
  basis, rho = stabilise.rigid_basis(h, w)
  assert basis.shape == (6, h, w, 2) and rho.shape == (h, w)
  true = np.array([0.8, -0.5, 0.02, -0.03, 0.09, -0.05])
  flow = np.tensordot(true, basis, axes=1)
  ys, xs = np.mgrid[0:h, 0:w]
  bump = np.exp(-((xs - 32) ** 2 + (ys - 47) ** 2) / (2 * 3.0 ** 2))  # the mouth's region
  flow[..., 1] += 3.0 * bump
  face = rho < stabilise.RIGID_FIT
  # the error of each fit's rigid flow over the face, in pixels (the bump itself moves 3 px)
  error = lambda p: np.abs(np.tensordot(p - true, basis, axes=1))[face].max()
  robust = error(stabilise.fit_rigid_flow(flow, basis, rho))
  plain = error(stabilise.fit_rigid_flow(flow, basis, rho, iterations=0))
  assert robust < 0.05 and plain > 5 * robust, (robust, plain)


def test_face_template_sits_on_the_face_the_landmarks_give():
  """Eyes at (50, 60) and (78, 60), nose below: the centre lies RIGID_BELOW_EYES interocular
  distances below the eyes' midpoint, whichever eye comes first and however the face is rolled;
  two eyes in one place are refused."""
  for points in ([[50, 60], [78, 60], [64, 75]], [[78, 60], [50, 60], [64, 75]]):
    (cx, cy), (a, b) = stabilise.face_template(np.array(points, np.float32))
    np.testing.assert_allclose([cx, cy], [64, 60 + stabilise.RIGID_BELOW_EYES * 28], atol=1e-4)
    np.testing.assert_allclose([a, b], np.array(stabilise.RIGID_AXES_IOD) * 28, atol=1e-4)
  rolled = np.array([[50, 60], [78, 60], [64, 75]], np.float64)
  turn = np.array([[np.cos(0.3), -np.sin(0.3)], [np.sin(0.3), np.cos(0.3)]])
  (cx, cy), _ = stabilise.face_template((rolled - 64) @ turn.T + 64)
  expected = (np.array([64, 60 + stabilise.RIGID_BELOW_EYES * 28]) - 64) @ turn.T + 64
  np.testing.assert_allclose([cx, cy], expected, atol=1e-4)
  with pytest.raises(ValueError, match="two distinct eye centres"):
    stabilise.face_template(np.array([[50, 60], [50, 60], [64, 75]], np.float32))


def test_rigid_stabilisation_removes_yaw_and_pitch_and_keeps_the_aus():
  """Rendered pairs: the rigid move of an ellipsoidal face, after the euclidean warp, takes out
  what no 2-D warp does (the parallax of yaw and pitch) and keeps an AU nearly as whole as the
  euclidean warp does, more than the smoothed flow."""
  euclid, flow, rigid = (change_kept(m, 2) for m in ("euclidean", "flow", "rigid"))
  assert rigid["yaw 7 deg"] < 0.3 < euclid["yaw 7 deg"], (euclid, rigid)
  assert rigid["pitch 4 deg"] < 0.15 and rigid["pitch 4 deg"] < euclid["pitch 4 deg"] / 3, rigid
  assert rigid["AU at 3"] > 0.85 and rigid["AU at 3"] > flow["AU at 3"] + 0.08, (flow, rigid)
  assert rigid["gaze 0.25"] > 0.8, rigid


def test_rigid_stabilisation_moves_landmarks_with_their_frames():
  """A rendered head turning and nodding (exact landmarks, no detector noise): each frame's eye
  centres and nose tip, taken through the warp and the rigid flow, land near the middle frame's
  (the move undone), much nearer than they were."""
  ident = identity_lib.sample_identity(3, 0)
  bg = render.background_for(ident, 128)
  frames, marks = [], []
  for yaw, pitch, roll in ((-6, 3, -2), (-3, 1.5, -1), (0, 0, 0), (3, -1.5, 1), (6, -3, 2)):
    n = dataclasses.replace(dynamics.still_nuisance(1), yaw=np.float32([yaw]),
                            pitch=np.float32([pitch]), roll=np.float32([roll]))
    img, m = render.render_face(ident, np.zeros(au_lib.NUM_AUS, np.float32), n, 0, 128,
                                np.random.default_rng(0), bg)
    frames.append(img)
    marks.append(video_lib.rigid_landmarks(m))
  clip, marks = np.stack(frames), np.stack(marks).astype(np.float32)
  out, warps, flow = stabilise.stabilise_clip(clip, motion="rigid")
  assert flow.shape == clip.shape[:3] + (2,) and flow.dtype == np.float32
  np.testing.assert_array_equal(out[2], clip[2])
  moved = stabilise.warp_points(marks, warps, flow)
  before = np.abs(marks - marks[2]).mean()
  after = np.abs(moved - marks[2]).mean()
  assert before > 1.0 and after < 0.35 * before, (before, after)


def test_still_surround_shows_the_middle_frame_outside_the_face_and_the_rigid_face_inside():
  """motion="rigid_still_surround" is "rigid" inside the face and the middle frame outside it.
  Why it exists, measured on the same clip: after "rigid" the surround still changes from frame
  to frame (the global warp moves the still background against the head)."""
  video = video_lib.generate_video(2, 1, 0, 24, 96)
  clip, marks = video.frames[::3], video.landmarks[::3]
  ref = len(clip) // 2
  rigid, warps, flow = stabilise.stabilise_clip(clip, motion="rigid", landmarks=marks)
  still, warps_s, flow_s = stabilise.stabilise_clip(clip, motion="rigid_still_surround",
                                                    landmarks=marks)
  np.testing.assert_array_equal(warps_s, warps)
  np.testing.assert_array_equal(flow_s, flow)
  _, rho = stabilise.rigid_basis(96, 96, stabilise.face_template(marks[ref]))
  outside = rho >= stabilise.SURROUND_FADE[1]
  inside = rho <= stabilise.RIGID_FADE[0]
  assert outside.mean() > 0.1 and inside.mean() > 0.3, (outside.mean(), inside.mean())
  for j in range(len(clip)):
    np.testing.assert_array_equal(still[j][outside], clip[ref][outside])
    np.testing.assert_array_equal(still[j][inside], rigid[j][inside])
  surround_change = np.abs(rigid[:, outside].astype(int) - rigid[ref][outside]).mean()
  assert surround_change > 1.0, surround_change


def test_a_still_clip_is_left_as_it_is():
  frame = video_lib.generate_video(0, 5, 0, 1, 96, head_motion=0.0).frames[0]
  clip = np.repeat(frame[None], 4, axis=0)
  for motion in ("euclidean", "flow", "rigid", "rigid_still_surround"):
    out, warps, _ = stabilise.stabilise_clip(clip, motion=motion)
    np.testing.assert_allclose(warps, np.repeat(np.eye(2, 3)[None], 4, axis=0), atol=1e-3)
    assert np.abs(out.astype(int) - clip).max() <= 1, motion


def test_stabilising_rendered_videos_removes_most_of_the_heads_drift():
  """The same videos rendered with and without the head's drift: stabilised, the moving ones
  come most of the way to the still ones (the rest is parallax no 2-D warp removes), and the
  still ones barely change (the warp does not follow the AUs)."""
  raw, stab, still, still_stab = [], [], [], []
  for subject in range(4):
    moving = video_lib.generate_video(1, subject, 0, 24, 96).frames[::3]
    calm = video_lib.generate_video(1, subject, 0, 24, 96, head_motion=0.0).frames[::3]
    raw.append(frame_change(moving))
    stab.append(frame_change(stabilise.stabilise_clip(moving)[0]))
    still.append(frame_change(calm))
    still_stab.append(frame_change(stabilise.stabilise_clip(calm)[0]))
  raw, stab, still, still_stab = map(np.mean, (raw, stab, still, still_stab))
  assert raw > still * 1.2, (raw, still)
  assert (raw - stab) > 0.5 * (raw - still), (raw, stab, still)
  assert abs(still_stab - still) < 0.25 * (raw - still), (still, still_stab)


def test_pipeline_stabilises_clips_and_refuses_an_unknown_motion(tiny_data_dir):
  source, _ = sources.open_source("synthetic_au", tiny_config("pretrain"), "part1+part2+part3",
                                  tiny_data_dir)
  batch = lambda **kw: next(iter(pipeline.pretrain_dataset(
      source, global_batch_size=4, seed=1, shard=pipeline.shard_options(0, 1), shared_view=True,
      **kw)))
  plain = batch()
  k, size = TINY["clip_length"], TINY["image_size"]
  mid = k // 2
  for motion in ("affine", "flow", "rigid", "rigid_still_surround"):
    stable = batch(stabilise=motion)
    assert stable["clip"].shape == (4, k, size, size, 3)
    np.testing.assert_array_equal(stable["view"], plain["view"])  # the same draws
    np.testing.assert_array_equal(stable["clip"][:, mid], plain["clip"][:, mid])
    assert not np.array_equal(stable["clip"], plain["clip"]), motion
    if "landmarks" in plain:
      np.testing.assert_array_equal(stable["landmarks"][:, mid], plain["landmarks"][:, mid])
      assert np.isfinite(stable["landmarks"]).all()
  with pytest.raises(ValueError, match="data.stabilise must be one of .*got 'homography'"):
    batch(stabilise="homography")


def test_train_reads_data_stabilise_from_the_config(tiny_data_dir, tmp_path):
  """The setting reaches the pipeline: an unknown motion stops the run before it trains."""
  config = tiny_run_config(tiny_data_dir, **{"data.stabilise": "homography"})
  with pytest.raises(ValueError, match="data.stabilise must be one of .*got 'homography'"):
    train.train(config, str(tmp_path / "run"))
  assert not (tmp_path / "run" / "checkpoints").exists() or not any(
      (tmp_path / "run" / "checkpoints").iterdir())


def test_opencv_keeps_to_the_calling_thread():
  # the input threads parallelise over clips; OpenCV's own pool on top only added contention
  assert cv2.getNumThreads() == 1
