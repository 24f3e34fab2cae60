"""TFDS's own builder test for video_folder on dummy_data/ (make_dummy_data.py): three people's
face videos in mp4, avi and mkv, a file that is not a video, and a text file."""

import tensorflow_datasets as tfds

from data_builders.video_folder import video_folder_dataset_builder as vf


class TinyVideoFolder(vf.VideoFolder):
  """Every frame kept, 4-frame clips 2 apart every 4 frames, 64 px crops."""
  BUILDER_CONFIGS = [vf.VideoFolderConfig(name="default", fps=0, clip_length=4, clip_stride=2,
                                          clip_hop=4, image_size=64, detect_every=3)]


class VideoFolderTest(tfds.testing.DatasetBuilderTestCase):
  DATASET_CLASS = TinyVideoFolder
  # one person per part, one readable 24-frame video each: clips start at 0, 4, ..., 16 (a
  # 7-frame span), where every frame has the face
  SPLITS = {"part1": 5, "part2": 5, "part3": 5}
  SKIP_CHECKSUMS = True


if __name__ == "__main__":
  tfds.testing.test_main()
