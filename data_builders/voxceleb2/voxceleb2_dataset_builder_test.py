"""TFDS's own builder test for voxceleb2 on dummy_data/ (make_dummy_data.py): VoxCeleb2's
layout, rendered faces, 24 frames a video."""

import tensorflow_datasets as tfds

from data_builders.voxceleb2 import voxceleb2_dataset_builder as vox

_TINY = dict(fps=0, clip_length=4, clip_stride=2, clip_hop=4, image_size=64, detect_every=3)


class TinyVoxCeleb2(vox.VoxCeleb2):
  """Every frame kept, 4-frame clips 2 apart every 4 frames: 5 clips a video."""
  BUILDER_CONFIGS = [vox.VoxCeleb2Config(name="dev", sets=("dev",), **_TINY),
                     vox.VoxCeleb2Config(name="dev_test", sets=("dev", "test"), **_TINY)]


class VoxCeleb2DevTest(tfds.testing.DatasetBuilderTestCase):
  DATASET_CLASS = TinyVoxCeleb2
  BUILDER_CONFIG_NAMES_TO_TEST = ["dev"]
  # id00012 (2 videos) -> part1, id00016 -> part2, id00015 -> part3 (`clips.identity_parts`)
  SPLITS = {"part1": 10, "part2": 5, "part3": 5}
  SKIP_CHECKSUMS = True


class VoxCeleb2DevAndTestTest(tfds.testing.DatasetBuilderTestCase):
  DATASET_CLASS = TinyVoxCeleb2
  BUILDER_CONFIG_NAMES_TO_TEST = ["dev_test"]
  # id00017 (test) and id00015 -> part1, id00012 -> part2, id00016 -> part3
  SPLITS = {"part1": 10, "part2": 10, "part3": 5}
  SKIP_CHECKSUMS = True


if __name__ == "__main__":
  tfds.testing.test_main()
