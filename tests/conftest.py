"""Shared fixtures. Eight CPU devices are forced before JAX starts, so sharding is tested for real."""

import os

os.environ.setdefault("XLA_FLAGS", "--xla_force_host_platform_device_count=8")
os.environ.setdefault("CLP_BUILD_WORKERS", "2")

import pathlib  # pylint: disable=g-import-not-at-top

import pytest  # pylint: disable=g-import-not-at-top

from data_builders.synthetic_au import synthetic_au_dataset_builder as sau  # pylint: disable=g-import-not-at-top

REAL_VIDEOS = pathlib.Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "real_videos"

# A corpus small enough to build in seconds: 6 subjects (2 per part), 2 videos of 24 frames.
TINY = dict(num_subjects=6, videos_per_subject=2, frames_per_video=24, image_size=64,
            clip_length=4, clip_stride=2, clip_hop=4, label_stride=3)


def tiny_config(kind: str) -> sau.SyntheticAuConfig:
  return sau.SyntheticAuConfig(name=f"tiny_{kind}", kind=kind, **TINY)


@pytest.fixture(scope="session")
def tiny_data_dir(tmp_path_factory) -> str:
  """A data_dir holding the tiny synthetic_au corpus, both configs, built once per session."""
  data_dir = str(tmp_path_factory.mktemp("tfds"))
  for kind in ("pretrain", "labelled"):
    sau.SyntheticAu(config=tiny_config(kind), data_dir=data_dir,
                    file_format="array_record").download_and_prepare()
  return data_dir
