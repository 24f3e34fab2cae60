"""Shared fixtures. Eight CPU devices are forced before JAX starts, so sharding is tested for real."""

import os

os.environ.setdefault("XLA_FLAGS", "--xla_force_host_platform_device_count=8")
os.environ.setdefault("CLP_BUILD_WORKERS", "2")


import pytest  # pylint: disable=g-import-not-at-top

from data_builders.synthetic_au import synthetic_au_dataset_builder as sau  # pylint: disable=g-import-not-at-top


TINY = sau.TINY


def tiny_config(kind: str) -> str:
  """The registered tiny config's name: 6 subjects (2 per part), 2 videos of 24 frames."""
  return f"tiny_{kind}"


@pytest.fixture(scope="session")
def tiny_data_dir(tmp_path_factory) -> str:
  """A data_dir holding the tiny synthetic_au corpus, both configs, built once per session."""
  data_dir = str(tmp_path_factory.mktemp("tfds"))
  for kind in ("pretrain", "labelled"):
    sau.SyntheticAu(config=tiny_config(kind), data_dir=data_dir,
                    file_format="array_record").download_and_prepare()
  return data_dir
