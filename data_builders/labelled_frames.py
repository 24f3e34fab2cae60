"""What the AU-labelled corpus builders (bp4d, disfa, gft) share: the record, the face path and
the counts.

A labelled record is what synthetic_au's `labelled` config holds, so `clp-eval` reads every
corpus the same way: the aligned face crop (JPEG), occurrence per AU (1, 0, or -1 where the
corpus says unknown), intensity per AU (0-5, -1 where unknown or not coded), the frame's index,
its video, its subject and its part (the corpus's standard subject-exclusive 3 folds).
"""

import dataclasses
import sys
from typing import Iterator, Tuple

from absl import logging
import numpy as np
import simplejpeg
import tensorflow_datasets as tfds

from clp_jax.data.faces import alignment
from clp_jax.data.faces import detect
from clp_jax.data.faces import track
from data_builders import corpus_builder


def features(num_aus: int) -> tfds.features.FeaturesDict:
  return tfds.features.FeaturesDict({
      "image": tfds.features.Tensor(shape=(), dtype=np.object_),
      "au_occurrence": tfds.features.Tensor(shape=(num_aus,), dtype=np.int8),
      "au_intensity": tfds.features.Tensor(shape=(num_aus,), dtype=np.float32),
      "frame_index": tfds.features.Tensor(shape=(), dtype=np.int32),
      "video_id": tfds.features.Text(),
      "subject_id": tfds.features.Tensor(shape=(), dtype=np.int32),
      "part": tfds.features.Tensor(shape=(), dtype=np.int32),
  })


@dataclasses.dataclass
class LabelledConfig(tfds.core.BuilderConfig):
  """The aligned crops: image_size px a side, the detector run on one frame in detect_every (the
  tracker follows the face between), stored as JPEG at jpeg_quality (as video_folder's)."""
  image_size: int = 112
  detect_every: int = 5
  jpeg_quality: int = 95


@dataclasses.dataclass
class Counts:
  """What a build did with the labelled frames: added up per part into `build_summary`."""
  labelled: int = 0  # frames with a label row
  records: int = 0
  without_face: int = 0  # labelled frames where no face was found (dropped)
  without_image: int = 0  # labelled frames with no image (dropped)
  damaged_videos: int = 0  # videos that could not be decoded to their end (logged)
  corpus_landmarks: int = 0  # records aligned on landmarks shipped with the corpus (not detected)


def records(frames: Iterator[Tuple[int, np.ndarray]], labels: dict, *, video_id: str,
            subject_id: int, part: int, counts: Counts, size: int = 112, detect_every: int = 5,
            jpeg_quality: int = 95, detector=None, faces=None):
  """One video's labelled records, its frames read one at a time.

  frames: (frame index, [H, W, 3] uint8 RGB) in the video's order, the corpus's own numbering;
  labels: {frame index: (occurrence [A] int8, intensity [A] float32)}. faces: landmarks that
  come with the corpus, anything with .get(frame index) -> `detect.Face` or None; where given,
  nothing is detected (a frame without an entry has no face). Otherwise every frame, labelled
  or not, goes through the face tracker (it needs the sequence), and only labelled frames are
  stored. Yields (key, record); fills counts.
  """
  tracker = None if faces is not None else track.MainFaceTracker(
      detector or detect.Detector(), detect_every)
  seen = set()
  for index, image in frames:
    if tracker is None:
      face = faces.get(index) if index in labels else None
    else:
      face = tracker(image)
    if index not in labels:
      continue
    seen.add(index)
    counts.labelled += 1
    if face is None:
      counts.without_face += 1
      continue
    if tracker is None:
      counts.corpus_landmarks += 1
    crop = alignment.align(image, face.rigid(), size, alignment.FIVE_POINT_TEMPLATE)
    occurrence, intensity = labels[index]
    counts.records += 1
    yield f"{video_id.replace('/', '_')}_f{index:06d}", {
        "image": simplejpeg.encode_jpeg(np.ascontiguousarray(crop), quality=jpeg_quality,
                                        colorspace="RGB"),
        "au_occurrence": np.asarray(occurrence, np.int8),
        "au_intensity": np.asarray(intensity, np.float32),
        "frame_index": np.int32(index),
        "video_id": video_id,
        "subject_id": np.int32(subject_id),
        "part": np.int32(part),
    }
  missing = len(set(labels) - seen)
  counts.labelled += missing
  counts.without_image += missing


def video_frames(path: str, counts: Counts, corpus: str):
  """(frame index, [H, W, 3] uint8 RGB) of a video, one at a time. A damaged video keeps the frames
  before the damage; it is logged and counted (counts.damaged_videos), and the labelled frames
  after it then count as frames without an image."""
  from clp_jax.data import video as video_lib  # pylint: disable=g-import-not-at-top
  try:
    for f in video_lib.frames(path):
      yield f.index, f.image
  except video_lib.VideoError as e:
    counts.damaged_videos += 1
    logging.warning("%s: %s", corpus, e)


class LabelledBuilder(corpus_builder.CorpusBuilder, skip_registration=True):
  """A builder of an AU-labelled corpus: labelled records, its jobs counted in `Counts`."""

  COUNTS = Counts

  def _info_for(self, aus, **metadata) -> tfds.core.DatasetInfo:
    """The DatasetInfo every labelled corpus has: features for `aus`, the crop in metadata."""
    return tfds.core.DatasetInfo(
        builder=self,
        description=sys.modules[type(self).__module__].__doc__,
        features=features(len(aus)),
        metadata=tfds.core.MetadataDict(
            aus=list(aus), image_size=self.builder_config.image_size, aligned=True,
            template="five_point", **metadata),
        homepage=getattr(self, "HOMEPAGE", None),
    )

  def _crop_args(self) -> tuple:
    """(image_size, detect_every, jpeg_quality): the trailing arguments of every job."""
    cfg = self.builder_config
    return cfg.image_size, cfg.detect_every, cfg.jpeg_quality

  def _summarize(self, split: str, counts: Counts) -> None:
    super()._summarize(split, counts)
    if counts.without_face or counts.without_image or counts.damaged_videos:
      logging.warning("%s %s: dropped %d labelled frames without a face and %d without an image "
                      "(%d damaged videos)", self.name, split, counts.without_face,
                      counts.without_image, counts.damaged_videos)
