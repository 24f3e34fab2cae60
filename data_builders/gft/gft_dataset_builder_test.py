"""TFDS's own builder test for gft on dummy_data/ (make_dummy_data.py): a non-default layout
described by its gft_layout.json."""

import tensorflow_datasets as tfds

from data_builders.gft import gft_dataset_builder as gft


class GftTest(tfds.testing.DatasetBuilderTestCase):
  DATASET_CLASS = gft.Gft
  # one participant per part (the layout's partition), 10 labelled frames each
  SPLITS = {"part1": 10, "part2": 10, "part3": 10}
  SKIP_CHECKSUMS = True


if __name__ == "__main__":
  tfds.testing.test_main()
