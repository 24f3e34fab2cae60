"""voxceleb2: VoxCeleb2's videos (unlabelled) -> aligned pretraining clips, person = idNNNNN.

VoxCeleb2 ships as `dev/mp4/idNNNNN/<youtube id>/NNNNN.mp4` (5,994 people, 1,092,009 clips) and
`test/mp4/...` (118 people, 36,273 clips): faces already cropped, ~224x224 at 25 fps. It cannot be
downloaded here (a licence form); the user points `--manual_dir` at the folder that holds `dev/`
and/or `test/`. Everything else is video_folder's: the same decoding, face tracking, alignment,
clips, counts and 3-way person split.

Configs: `dev` (the dev set only: the usual pretraining set), `dev_test` (both).
"""

import dataclasses
from typing import Tuple

from etils import epath
import tensorflow_datasets as tfds

from data_builders.video_folder import video_folder_dataset_builder as vf


@dataclasses.dataclass
class VoxCeleb2Config(vf.VideoFolderConfig):
  """sets: which of VoxCeleb2's sets to read, e.g. ('dev',)."""
  sets: Tuple[str, ...] = ("dev",)


class VoxCeleb2(vf.VideoFolder):
  """VoxCeleb2 as aligned pretraining clips, split 3 ways by person."""

  VERSION = tfds.core.Version("1.0.0")
  RELEASE_NOTES = {"1.0.0": "First release: video_folder's clips, person = VoxCeleb2 id."}
  MANUAL_DOWNLOAD_INSTRUCTIONS = """\
  Request VoxCeleb2 from https://www.robots.ox.ac.uk/~vgg/data/voxceleb/vox2.html, unpack it, and
  pass the folder that holds its sets as --manual_dir:
    <manual_dir>/dev/mp4/id00012/21Uxsk56VDQ/00001.mp4
    <manual_dir>/test/mp4/id00017/01dfn2spqyE/00001.mp4   (config dev_test only)
  """
  BUILDER_CONFIGS = [
      VoxCeleb2Config(name="dev", sets=("dev",),
                      description="VoxCeleb2 dev: 5,994 people, aligned 8-frame clips at 25 fps."),
      VoxCeleb2Config(name="dev_test", sets=("dev", "test"),
                      description="VoxCeleb2 dev and test."),
  ]
  DEFAULT_CONFIG_NAME = "dev"

  def _find_videos(self, root: str) -> list:
    videos = []
    for name in self.builder_config.sets:
      folder = str(epath.Path(root) / name / "mp4")
      if not epath.Path(folder).is_dir():
        raise FileNotFoundError(
            f"voxceleb2/{self.builder_config.name} needs {folder} (VoxCeleb2's '{name}' set). "
            f"Expected:\n" + self.MANUAL_DOWNLOAD_INSTRUCTIONS)
      videos += vf.find_videos(folder)
    return videos

  def _identity(self, root: str, path: str) -> str:
    # <root>/<set>/mp4/<idNNNNN>/<youtube id>/<NNNNN>.mp4
    return vf.identity_of(root, path, 2)
