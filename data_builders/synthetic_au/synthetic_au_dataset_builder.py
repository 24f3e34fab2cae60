"""synthetic_au: procedurally rendered face videos with known facial action units.

The embedded default corpus of clp_jax: it needs no download and no licence, builds in about a
minute on two cores, and is deterministic from a seed. See README.md beside this file.

Frames are stored as JPEG bytes encoded with OpenCV in `Tensor(dtype=object)` features, so the
corpus builds to array_record and reads back through `tfds.data_source` without TensorFlow.
"""

import concurrent.futures
import dataclasses
import multiprocessing
import os

import numpy as np
import tensorflow_datasets as tfds

from data_builders.synthetic_au import aus as au_lib
from data_builders.synthetic_au import video as video_lib

NUM_PARTS = 3

# A corpus that builds in seconds (6 subjects, 2 per part; 2 videos of 24 frames each), for
# smoke runs and tests.
TINY = dict(num_subjects=6, videos_per_subject=2, frames_per_video=24, image_size=64,
            clip_length=4, clip_stride=2, clip_hop=4, label_stride=3)


@dataclasses.dataclass
class SyntheticAuConfig(tfds.core.BuilderConfig):
  """How big the corpus is and what a record holds.

  kind: 'pretrain' (unlabelled clips) or 'labelled' (frames with AU labels).
  clip_length / clip_stride: frames per pretraining clip and the frame step inside a clip.
  clip_hop: frames between the starts of consecutive clips of a video.
  label_stride: keep every label_stride-th frame in the labelled config.
  image_size: side of the stored face crop in pixels (the encoder reads a crop of it resized to
    its own input size, 96 by default).
  align: store face crops aligned on the eye centres and nose tip (`clp_jax.data.faces`, the module
    real corpora use), as AU pipelines see faces; False keeps the camera's whole frame, for
    studying alignment itself.
  """
  kind: str = "pretrain"
  num_subjects: int = 40
  videos_per_subject: int = 4
  frames_per_video: int = 80
  image_size: int = 112
  clip_length: int = 8
  clip_stride: int = 2
  clip_hop: int = 8
  label_stride: int = 2
  seed: int = 0
  align: bool = True


def subject_parts(num_subjects: int, seed: int) -> dict:
  """Subject id -> part (1..3): a seeded, balanced, subject-exclusive 3-way split."""
  order = np.random.default_rng(np.random.SeedSequence([seed, 3])).permutation(num_subjects)
  return {int(s): 1 + k % NUM_PARTS for k, s in enumerate(order)}


def clip_starts(cfg: SyntheticAuConfig) -> range:
  span = (cfg.clip_length - 1) * cfg.clip_stride + 1
  return range(0, cfg.frames_per_video - span + 1, cfg.clip_hop)


def _render_examples(cfg: SyntheticAuConfig, subject_id: int, video_index: int, part: int) -> list:
  """Renders one video and cuts it into (key, example) records for cfg.kind."""
  import cv2  # pylint: disable=g-import-not-at-top
  cv2.setNumThreads(1)  # one video per worker process: threads inside would oversubscribe
  video = video_lib.generate_video(cfg.seed, subject_id, video_index, cfg.frames_per_video,
                                   cfg.image_size, align=cfg.align)
  out = []
  if cfg.kind == "pretrain":
    for c, start in enumerate(clip_starts(cfg)):
      index = np.arange(cfg.clip_length, dtype=np.int32) * cfg.clip_stride + start
      out.append((f"{video.video_id}_c{c:03d}", {
          "frames": np.array([video.jpeg(int(t)) for t in index], dtype=object),
          "frame_index": index,
          "landmarks": video.landmarks[index],
          "video_id": video.video_id,
          "subject_id": subject_id,
          "part": part,
      }))
  else:
    for t in range(0, cfg.frames_per_video, cfg.label_stride):
      out.append((f"{video.video_id}_f{t:04d}", {
          "image": video.jpeg(t),
          "au_intensity": video.au_intensity[t],
          "au_occurrence": video.au_occurrence[t],
          "frame_index": t,
          "video_id": video.video_id,
          "subject_id": subject_id,
          "part": part,
      }))
  return out


class SyntheticAu(tfds.core.GeneratorBasedBuilder):
  """Synthetic face videos with per-frame AU intensities, split 3 ways by subject."""

  VERSION = tfds.core.Version("2.0.0")
  RELEASE_NOTES = {
      "1.0.0": "First release: 14 AUs, pretrain clips and labelled frames.",
      "1.1.0": "Pretraining clips carry detected landmarks (eye centres, nose tip) per frame.",
      "2.0.0": "Face crops aligned on the eyes (112 px) in the default configs; AU effects of "
               "FACS-like magnitude (an intensity of 3 visibly changes its region).",
  }
  BUILDER_CONFIGS = [
      SyntheticAuConfig(name="pretrain", description="Unlabelled 8-frame clips for pretraining.",
                        kind="pretrain"),
      SyntheticAuConfig(name="labelled", description="Frames with AU labels for evaluation.",
                        kind="labelled"),
  ]
  BUILDER_CONFIGS += [
      SyntheticAuConfig(name=f"tiny_{c.name}", description=f"A seconds-long {c.name} corpus.",
                        kind=c.kind, **TINY)
      for c in list(BUILDER_CONFIGS)]
  DEFAULT_CONFIG_NAME = "pretrain"

  def _info(self) -> tfds.core.DatasetInfo:
    cfg = self.builder_config
    common = {
        "frame_index": tfds.features.Tensor(shape=(), dtype=np.int32) if cfg.kind == "labelled"
        else tfds.features.Tensor(shape=(cfg.clip_length,), dtype=np.int32),
        "video_id": tfds.features.Text(),
        "subject_id": tfds.features.Tensor(shape=(), dtype=np.int32),
        "part": tfds.features.Tensor(shape=(), dtype=np.int32),
    }
    if cfg.kind == "pretrain":
      features = {
          "frames": tfds.features.Tensor(shape=(cfg.clip_length,), dtype=np.object_),
          # a detector's eye centres and nose tip, (x, y) pixels of the stored frame: the head's
          # pose, as OpenFace's CSVs give it for real video
          "landmarks": tfds.features.Tensor(shape=(cfg.clip_length, 3, 2), dtype=np.float32),
      }
    elif cfg.kind == "labelled":
      features = {
          "image": tfds.features.Tensor(shape=(), dtype=np.object_),
          "au_intensity": tfds.features.Tensor(shape=(au_lib.NUM_AUS,), dtype=np.float32),
          "au_occurrence": tfds.features.Tensor(shape=(au_lib.NUM_AUS,), dtype=np.int8),
      }
    else:
      raise ValueError(f"SyntheticAuConfig.kind must be 'pretrain' or 'labelled', got {cfg.kind!r}")
    return tfds.core.DatasetInfo(
        builder=self,
        description=__doc__,
        features=tfds.features.FeaturesDict({**features, **common}),
        metadata=tfds.core.MetadataDict(
            aus=list(au_lib.AUS), image_size=cfg.image_size, fps=25, aligned=cfg.align,
            clip_length=cfg.clip_length, clip_stride=cfg.clip_stride,
            occurrence_threshold=au_lib.OCCURRENCE_THRESHOLD,
            parts={str(k): v for k, v in subject_parts(cfg.num_subjects, cfg.seed).items()}),
        homepage="https://github.com/clp-jax/clp_jax",
    )

  def _split_generators(self, dl_manager):
    del dl_manager  # procedural: nothing to download
    return {f"part{p}": self._generate_examples(p) for p in range(1, NUM_PARTS + 1)}

  def _generate_examples(self, part: int):
    cfg = self.builder_config
    parts = subject_parts(cfg.num_subjects, cfg.seed)
    jobs = [(s, v) for s in sorted(parts) if parts[s] == part for v in range(cfg.videos_per_subject)]
    workers = min(len(jobs), int(os.environ.get("CLP_BUILD_WORKERS", os.cpu_count() or 1)))
    if workers <= 1:
      for s, v in jobs:
        yield from _render_examples(cfg, s, v, part)
      return
    # spawn, not fork: the calling process may already run JAX or grain threads, and a fork
    # would copy their held locks into the workers and deadlock them.
    ctx = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(workers, mp_context=ctx) as pool:
      futures = [pool.submit(_render_examples, cfg, s, v, part) for s, v in jobs]
      for future in futures:
        yield from future.result()
