"""video_folder: any folder of face videos -> the pretraining clip records of synthetic_au.

Point it at a folder (`clp-data build video_folder --config default --manual_dir DIR`): every
video under it (mp4, avi, mov, mkv, webm, m4v; any depth) is decoded one frame at a time, sampled
at the config's frame rate, its main face detected, tracked and aligned (`clp_jax.data.faces`, the
template every corpus uses) and cut into clips of aligned 112 px crops. The person in a video is
named by a folder level (`identity_level`): with DIR/<person>/<anything>/clip.mp4 the default
(level 0) gives <person>. Identities are split 3 ways, subject-exclusive, by a stable hash of
their names (splits part1, part2, part3; `clips.identity_parts`), as synthetic_au's subjects are.

Frames without a face are dropped and counted; a clip is cut only where all its frames have the
face. A video that cannot be read, or is cut short, is logged, counted and skipped (the clips
before the damage kept); the counts are in the build's metadata (`build_summary`) and printed by
`clp-data build`.
"""

import dataclasses
import os
from typing import Optional

from absl import logging
from etils import epath
import numpy as np
import tensorflow_datasets as tfds

from clp_jax.data import video as video_lib
from data_builders import corpus_builder
from data_builders.video_folder import clips as clips_lib

NUM_PARTS = 3


@dataclasses.dataclass
class VideoFolderConfig(tfds.core.BuilderConfig):
  """identity_level: the folder level under manual_dir that names the person (0: the first
  folder); None: every video is a person of its own. The rest: `clips.ClipSpec`."""
  identity_level: Optional[int] = 0
  fps: float = 25.0
  clip_length: int = 8
  clip_stride: int = 2
  clip_hop: int = 8
  image_size: int = 112
  detect_every: int = 5
  jpeg_quality: int = 95
  openface: bool = True

  def spec(self) -> clips_lib.ClipSpec:
    return clips_lib.ClipSpec(**{f.name: getattr(self, f.name)
                                 for f in dataclasses.fields(clips_lib.ClipSpec)})


def find_videos(root: str) -> list:
  """Every video file under root (by extension, any case; any depth), sorted. root may be a
  local folder or a remote one (gs://...: a Beam build on a cluster)."""
  found = []
  for folder, _, files in epath.Path(root).walk():
    found += [str(folder / f) for f in files if f.lower().endswith(video_lib.VIDEO_EXTENSIONS)]
  return sorted(found)


def video_name(root: str, path: str) -> str:
  """The video's id: its path under root without the extension, '/'-separated."""
  return os.path.splitext(os.path.relpath(path, root))[0].replace(os.sep, "/")


def identity_of(root: str, path: str, level: Optional[int]) -> str:
  """The person a video shows, from its folder at `level` under root (None: the video itself)."""
  if level is None:
    return video_name(root, path)
  folders = os.path.relpath(path, root).split(os.sep)[:-1]
  if not 0 <= level < len(folders):
    raise ValueError(
        f"{path}: identity_level={level} names the folder at that depth under {root}, but this "
        f"video sits {len(folders)} folder(s) deep ({'/'.join(folders) or 'at the top'}). "
        f"Lay videos out as <root>/<person>/.../<video>, or set identity_level (None: one "
        f"person per video)")
  return folders[level]


@dataclasses.dataclass
class ClipCounts:
  """What a build did with a split's videos (`build_summary`)."""
  videos: int = 0
  skipped: int = 0  # unreadable or cut short (the clips before the damage kept)
  without_clips: int = 0  # read, but no clip had a face in all its frames
  frames: int = 0  # sampled frames
  frames_without_face: int = 0
  clips: int = 0


def video_job(root: str, path: str, spec: clips_lib.ClipSpec, subject_id: int, part: int):
  """(records, ClipCounts) of one video: the job a worker runs."""
  import cv2  # pylint: disable=g-import-not-at-top
  cv2.setNumThreads(1)  # one video per worker process: threads inside would oversubscribe
  stats = clips_lib.VideoStats()
  records = list(clips_lib.video_clips(path, spec, video_name(root, path), subject_id, part,
                                       stats))
  counts = ClipCounts(videos=1, frames=stats.frames, frames_without_face=stats.without_face,
                      clips=stats.clips)
  if stats.error:
    counts.skipped = 1
    logging.warning("skipped the rest of %s: %s", path, stats.error)
  elif not stats.clips:
    counts.without_clips = 1
    logging.warning("no clip from %s (%d of %d sampled frames without a face)", path,
                    stats.without_face, stats.frames)
  return records, counts


class VideoFolder(corpus_builder.CorpusBuilder):
  """Face videos from a folder, as aligned pretraining clips split 3 ways by person."""

  VERSION = tfds.core.Version("1.0.0")
  RELEASE_NOTES = {"1.0.0": "First release: aligned 112 px clips, dlib HOG + 5-point alignment."}
  MANUAL_DOWNLOAD_INSTRUCTIONS = """\
  Pass the folder of your videos as --manual_dir: videos (mp4, avi, mov, mkv, webm, m4v) at any
  depth, the person named by a folder level, by default the first:
    <manual_dir>/<person>/<anything>/<video>.mp4
  (config `flat`: every video its own person, the videos anywhere under manual_dir).
  """
  BUILDER_CONFIGS = [
      VideoFolderConfig(name="default", description="Aligned 8-frame clips at 25 fps, the "
                        "person from the first folder level."),
      VideoFolderConfig(name="flat", identity_level=None,
                        description="As default, every video a person of its own."),
  ]
  DEFAULT_CONFIG_NAME = "default"
  JOB_FN = staticmethod(video_job)
  JOB_NOUN = "video"
  COUNTS = ClipCounts

  def _info(self) -> tfds.core.DatasetInfo:
    cfg = self.builder_config
    n = cfg.clip_length
    return tfds.core.DatasetInfo(
        builder=self,
        description=__doc__,
        features=tfds.features.FeaturesDict({
            "frames": tfds.features.Tensor(shape=(n,), dtype=np.object_),
            # eye centres and nose base, (x, y) pixels of the stored crop
            "landmarks": tfds.features.Tensor(shape=(n, 3, 2), dtype=np.float32),
            "frame_index": tfds.features.Tensor(shape=(n,), dtype=np.int32),
            "video_id": tfds.features.Text(),
            "subject_id": tfds.features.Tensor(shape=(), dtype=np.int32),
            "part": tfds.features.Tensor(shape=(), dtype=np.int32),
        }),
        metadata=tfds.core.MetadataDict(
            image_size=cfg.image_size, fps=cfg.fps, aligned=True, template="five_point",
            clip_length=cfg.clip_length, clip_stride=cfg.clip_stride),
    )

  def _split_jobs(self, dl_manager):
    root = str(self.manual_root(dl_manager))
    videos = self._find_videos(root)
    if not videos:
      raise FileNotFoundError(
          f"No video files ({', '.join(video_lib.VIDEO_EXTENSIONS)}) under {root}. Expected:\n"
          + self.MANUAL_DOWNLOAD_INSTRUCTIONS)
    identity = {v: self._identity(root, v) for v in videos}  # layout errors before any work
    names = sorted(set(identity.values()))
    subject_id = {name: i for i, name in enumerate(names)}
    parts = clips_lib.identity_parts(names, NUM_PARTS)
    self.info.metadata.update(identities=names, parts=parts)
    spec = self.builder_config.spec()
    # A part needs a person: with fewer than 3 people the last parts are left out.
    return {f"part{p}": [(root, v, spec, subject_id[identity[v]], p) for v in videos
                         if parts[identity[v]] == p]
            for p in range(1, NUM_PARTS + 1)}

  def _find_videos(self, root: str) -> list:
    """The videos to read under the manual folder (corpus builders narrow it to their layout)."""
    return find_videos(root)

  def _identity(self, root: str, path: str) -> str:
    """The person a video shows."""
    return identity_of(root, path, self.builder_config.identity_level)

  def _records_of(self, counts: ClipCounts) -> int:
    return counts.clips
