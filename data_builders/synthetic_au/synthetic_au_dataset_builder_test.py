"""TFDS's own builder test for synthetic_au, on a tiny corpus (it needs TensorFlow: test extra)."""

import tensorflow_datasets as tfds

from data_builders.synthetic_au import synthetic_au_dataset_builder as sau

_TINY = dict(num_subjects=6, videos_per_subject=2, frames_per_video=24, image_size=32,
             clip_length=4, clip_stride=2, clip_hop=4, label_stride=3)


class TinySyntheticAu(sau.SyntheticAu):
  """The same builder at a size that builds in a second."""
  BUILDER_CONFIGS = [sau.SyntheticAuConfig(name="pretrain", kind="pretrain", **_TINY),
                     sau.SyntheticAuConfig(name="labelled", kind="labelled", **_TINY)]


class SyntheticAuPretrainTest(tfds.testing.DatasetBuilderTestCase):
  DATASET_CLASS = TinySyntheticAu
  BUILDER_CONFIG_NAMES_TO_TEST = ["pretrain"]
  # 2 subjects per part x 2 videos x clips starting at 0, 4, ..., 16 (a 7-frame span in 24 frames)
  SPLITS = {"part1": 20, "part2": 20, "part3": 20}
  SKIP_CHECKSUMS = True


class SyntheticAuLabelledTest(tfds.testing.DatasetBuilderTestCase):
  DATASET_CLASS = TinySyntheticAu
  BUILDER_CONFIG_NAMES_TO_TEST = ["labelled"]
  # 2 subjects per part x 2 videos x frames 0, 3, ..., 21
  SPLITS = {"part1": 32, "part2": 32, "part3": 32}
  SKIP_CHECKSUMS = True


if __name__ == "__main__":
  tfds.testing.test_main()
