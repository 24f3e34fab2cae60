"""One real video -> pretraining clip records: sampled frames, the main face aligned, clips cut.

Shared by the builders of unlabelled real video (video_folder, voxceleb2). A video is read once,
one frame at a time (`clp_jax.data.faces.stream`); only the frames of the clip being filled are held,
so memory does not grow with the video's length. Frames without a face are dropped and counted;
a clip is only cut where all its frames have the face.
"""

import collections
import dataclasses
import zlib

import numpy as np
import simplejpeg

from clp_jax.data import video as video_lib
from clp_jax.data.faces import alignment
from clp_jax.data.faces import openface
from clp_jax.data.faces import stream


@dataclasses.dataclass(frozen=True)
class ClipSpec:
  """fps: the rate frames are sampled at (0 keeps every frame; else every round(video fps / fps)
  -th frame, so a 50 fps video sampled at 25 keeps every 2nd). clip_length frames a clip,
  clip_stride sampled frames apart; clips start every clip_hop sampled frames. image_size: the
  aligned crop's side. detect_every: the face detector runs on one sampled frame in this many.
  openface: where OpenFace's CSV for a video sits beside it (`<stem>.csv`), its landmarks are
  used and nothing is detected (`clp_jax.data.faces.openface`)."""
  fps: float = 25.0
  clip_length: int = 8
  clip_stride: int = 2
  clip_hop: int = 8
  image_size: int = 112
  detect_every: int = 5
  jpeg_quality: int = 95
  openface: bool = True  # use an OpenFace CSV beside a video (<stem>.csv) instead of detection


@dataclasses.dataclass
class VideoStats:
  """What happened to one video: counts a build summary adds up."""
  frames: int = 0  # sampled frames
  without_face: int = 0  # sampled frames where no face was found (dropped)
  clips: int = 0
  error: str = ""  # why the video was skipped (unreadable, truncated), else empty


def identity_parts(identities, num_parts: int = 3) -> dict:
  """identity name -> its subject-exclusive part (1..num_parts): the names ordered by a hash of
  each (not by name, which often orders by recording date or site) and dealt round-robin, so the
  parts differ by at most one identity and every part has one from num_parts identities on."""
  order = sorted(set(identities), key=lambda name: (zlib.crc32(name.encode()), name))
  return {name: 1 + k % num_parts for k, name in enumerate(order)}


def frame_step(video_fps: float, fps: float) -> int:
  if not fps or not np.isfinite(video_fps) or video_fps <= 0:
    return 1
  return max(1, int(round(video_fps / fps)))


def video_clips(path: str, spec: ClipSpec, video_id: str, subject_id: int, part: int,
                stats: VideoStats):
  """Yields (key, record) for each clip of the video at path; fills stats as it goes.

  record: frames [clip_length] JPEG bytes of aligned crops, frame_index [clip_length] int32 (the
  frames' 0-based indices among the video's decoded frames), landmarks [clip_length, 3, 2]
  float32 (eye centres and nose base in the crop's pixels), video_id, subject_id, part.
  A video that cannot be decoded (or is cut short) stops the generator with stats.error set and
  the clips before the damage kept: the build logs and counts it, and goes on.
  """
  span = (spec.clip_length - 1) * spec.clip_stride + 1
  window = collections.deque(maxlen=span)  # the last `span` sampled frames: (index, jpeg, points)
  template = alignment.FIVE_POINT_TEMPLATE * spec.image_size
  landmarks = openface.beside(path) if spec.openface else None
  given = openface.read_faces(landmarks) if landmarks else None
  try:
    step = frame_step(video_lib.frame_rate(path), spec.fps)
    for n, f in enumerate(stream.aligned_frames(path, spec.image_size, every=step,
                                                detect_every=spec.detect_every, faces=given)):
      stats.frames += 1
      if f.face is None:
        stats.without_face += 1
        window.append(None)
      else:
        m = alignment.similarity_transform(f.face.rigid(), template)
        points = alignment.transform_points(m, f.face.rigid()).astype(np.float32)
        jpeg = simplejpeg.encode_jpeg(np.ascontiguousarray(f.crop), quality=spec.jpeg_quality,
                                      colorspace="RGB")
        window.append((f.index, jpeg, points))
      start = n - span + 1  # the clip that ends at this sampled frame
      if start < 0 or start % spec.clip_hop:
        continue
      members = list(window)[::spec.clip_stride]
      if any(m is None for m in members):
        continue
      stats.clips += 1
      yield f"{video_id}_c{start // spec.clip_hop:05d}", {
          "frames": np.array([m[1] for m in members], dtype=object),
          "frame_index": np.array([m[0] for m in members], np.int32),
          "landmarks": np.stack([m[2] for m in members]),
          "video_id": video_id,
          "subject_id": subject_id,
          "part": part,
      }
  except video_lib.VideoError as e:
    stats.error = str(e)
