"""One synthetic video: frames, per-frame AU labels, and the JPEG bytes a builder stores."""

import dataclasses

import cv2
import numpy as np

from clp_jax.data import faces
from data_builders.synthetic_au import aus as au_lib
from data_builders.synthetic_au import dynamics
from data_builders.synthetic_au import identity as identity_lib
from data_builders.synthetic_au import render


@dataclasses.dataclass(frozen=True)
class Video:
  """A rendered video.

  frames: [T, S, S, 3] uint8 RGB.
  au_intensity: [T, NUM_AUS] float32 in [0, 5].
  au_occurrence: [T, NUM_AUS] int8, 1 where intensity >= OCCURRENCE_THRESHOLD.
  landmarks: [T, 3, 2] float32, what a landmark detector would report on each stored frame: eye
    centres and nose tip (x, y) in pixels of the stored frame, with LANDMARK_NOISE (for aligned
    videos, moved by each frame's alignment like the pixels).
  """
  subject_id: int
  video_index: int
  frames: np.ndarray
  au_intensity: np.ndarray
  au_occurrence: np.ndarray
  jpeg_quality: int
  landmarks: np.ndarray

  @property
  def video_id(self) -> str:
    return video_id(self.subject_id, self.video_index)

  def jpeg(self, t: int) -> bytes:
    """Frame t encoded as JPEG at the video's camera quality (part of the nuisance)."""
    ok, buf = cv2.imencode(".jpg", self.frames[t][..., ::-1],
                           [cv2.IMWRITE_JPEG_QUALITY, self.jpeg_quality])
    if not ok:
      raise RuntimeError(f"JPEG encoding failed for {self.video_id} frame {t}")
    return buf.tobytes()


def video_id(subject_id: int, video_index: int) -> str:
  return f"S{subject_id:03d}_V{video_index:02d}"


# Landmark detectors miss by a few percent of the interocular distance, independently per frame:
# aligned frames inherit that jitter (the SD used here, as a fraction of that distance).
LANDMARK_NOISE = 0.02


def rigid_landmarks(marks: dict, rng: np.random.Generator = None) -> np.ndarray:
  """The points a frame is aligned on, from `render.render_face`'s landmarks: eye centres and nose
  tip, [3, 2] pixels (x, y), in the order of `faces.RIGID_TEMPLATE`; with rng, plus detector-like
  noise of LANDMARK_NOISE interocular distances."""
  rigid = np.concatenate([marks["eyes"], marks["nose_tip"]])
  if rng is not None:
    iod = np.linalg.norm(rigid[1] - rigid[0])
    rigid = rigid + rng.normal(0.0, LANDMARK_NOISE * iod, rigid.shape)
  return rigid


def video_timelines(seed: int, subject_id: int, video_index: int, num_frames: int) -> tuple:
  """The identity and per-frame timelines of a video, as `generate_video` draws them, without
  rendering: (identity, AU intensity [T, n_aus], `dynamics.Nuisance`, the video's generator, which
  rendering goes on drawing from)."""
  identity = identity_lib.sample_identity(subject_id, seed)
  rng = np.random.default_rng(np.random.SeedSequence([seed, 2, subject_id, video_index]))
  intensity = dynamics.au_timeline(num_frames, identity.expressiveness, rng)
  nuisance = dynamics.nuisance_timeline(num_frames, rng)
  return identity, intensity, nuisance, rng


def generate_video(seed: int, subject_id: int, video_index: int, num_frames: int,
                   size: int, align: bool = False) -> Video:
  """Renders video `video_index` of subject `subject_id`; deterministic in all arguments.

  align: warp every frame so that its eye centres and nose tip (rendered landmarks plus detector-
  like noise, LANDMARK_NOISE) land on `faces.RIGID_TEMPLATE`, as AU pipelines align real video.
  The AU and nuisance timelines are the same as unaligned.
  """
  identity, intensity, nuisance, rng = video_timelines(seed, subject_id, video_index, num_frames)
  background = render.background_for(identity, size)
  frames = np.empty((num_frames, size, size, 3), np.uint8)
  landmarks = np.empty((num_frames, 3, 2), np.float32)
  marks_rng = np.random.default_rng(np.random.SeedSequence([seed, 4, subject_id, video_index]))
  for t in range(num_frames):
    frames[t], marks = render.render_face(identity, intensity[t], nuisance, t, size, rng, background)
    detected = rigid_landmarks(marks, marks_rng)
    if align:
      m = faces.similarity_transform(detected, faces.RIGID_TEMPLATE * size)
      frames[t] = faces.align(frames[t], detected, size)
      detected = faces.transform_points(m, detected)
    landmarks[t] = detected
  occurrence = (intensity >= au_lib.OCCURRENCE_THRESHOLD).astype(np.int8)
  return Video(subject_id, video_index, frames, intensity, occurrence, nuisance.jpeg_quality,
               landmarks)
