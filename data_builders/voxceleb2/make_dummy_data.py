"""Writes voxceleb2's dummy_data/: VoxCeleb2's layout with rendered face videos.

  python data_builders/voxceleb2/make_dummy_data.py

dev/mp4/<id>/<youtube id>/<NNNNN>.mp4 for three people (one with two videos), test/mp4/ for one.
"""

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
from data_builders.synthetic_au import video as video_lib  # pylint: disable=g-import-not-at-top
from data_builders.video_folder import make_dummy_data as vf_dummy  # pylint: disable=g-import-not-at-top

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "dummy_data")
# (path under dummy_data, rendered subject): subjects the HOG detector finds in every frame
VIDEOS = [("dev/mp4/id00012/21Uxsk56VDQ/00001.mp4", 1),
          ("dev/mp4/id00012/21Uxsk56VDQ/00002.mp4", 1),
          ("dev/mp4/id00015/0fijmz4vTVU/00001.mp4", 4),
          ("dev/mp4/id00016/1a2b3c4d5e6/00003.mp4", 7),
          ("test/mp4/id00017/01dfn2spqyE/00001.mp4", 0)]


def main():
  for name, subject in VIDEOS:
    video = video_lib.generate_video(0, subject, int(name[-5]), 24, 160, align=False)
    vf_dummy.write(os.path.join(OUT, name), video.frames, "libx264")


if __name__ == "__main__":
  main()
