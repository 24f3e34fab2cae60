"""TFDS's own builder test for bp4d on dummy_data/ (make_dummy_data.py): BP4D's layout, rendered
faces, real-format label files with 9s and odd frame numbering."""

import tensorflow_datasets as tfds

from data_builders.bp4d import bp4d_dataset_builder as bp4d


class Bp4dTest(tfds.testing.DatasetBuilderTestCase):
  DATASET_CLASS = bp4d.Bp4d
  # part1: F001 T1 (6 coded frames) + T8 (4); part2: M011 T1 (6 coded, 997-1002; the image of
  # 1003 has no label row); part3: F007 T1 (6 coded, one of them without its image)
  SPLITS = {"part1": 10, "part2": 6, "part3": 5}
  SKIP_CHECKSUMS = True


if __name__ == "__main__":
  tfds.testing.test_main()
