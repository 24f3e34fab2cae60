"""Writes video_folder's dummy_data/: three people's short face videos, laid out as a user's folder.

  python data_builders/video_folder/make_dummy_data.py

Faces rendered by synthetic_au (unaligned camera frames, 160 px, 24 frames) so that the face
detector finds them; one video per container the builder reads (mp4/H.264, avi/MPEG-4,
mkv/H.264), one file that is not a video (a skip the build counts), one non-video file.
"""

import os
import sys

import av

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
from data_builders.synthetic_au import video as video_lib  # pylint: disable=g-import-not-at-top

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "dummy_data")
# (person folder, file under it, codec, subject id of the rendered face)
# Subjects whose faces dlib's HOG detector scores highest (> 0.45 in every frame at 160 px):
# the cartoon faces sit near its threshold, and a marginal one drops out after compression.
VIDEOS = [("id00017", "5MkXgwdrmJw/00001.mp4", "libx264", 1),
          ("id00061", "zR1UwD3Cgks/00004.avi", "mpeg4", 4),
          ("ID-carol", "clip.MKV", "libx264", 7)]


def write(path: str, frames, codec: str) -> None:
  os.makedirs(os.path.dirname(path), exist_ok=True)
  with av.open(path, "w") as out:
    s = out.add_stream(codec, rate=25)
    s.height, s.width = frames.shape[1:3]
    s.pix_fmt = "yuv420p"
    # MPEG-4 part 2 at its default 200 kb/s blurs the face past detection after the first GOP
    s.options = {"crf": "28"} if codec == "libx264" else {"b": "2M"}
    for img in frames:
      for packet in s.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
        out.mux(packet)
    for packet in s.encode():
      out.mux(packet)


def main():
  for person, name, codec, subject in VIDEOS:
    video = video_lib.generate_video(0, subject, 0, 24, 160, align=False)
    write(os.path.join(OUT, person, name), video.frames, codec)
  with open(os.path.join(OUT, "id00061", "zR1UwD3Cgks", "00005.mp4"), "w") as f:
    f.write("not a video: a download that failed\n")
  with open(os.path.join(OUT, "id00017", "notes.txt"), "w") as f:
    f.write("not a video file: ignored\n")


if __name__ == "__main__":
  main()
