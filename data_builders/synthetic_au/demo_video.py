"""One rendered synthetic face video as a camera would give it (unaligned, H.264), with its true AUs
beside it: what `make demo` runs clp-detect on.

  python -m data_builders.synthetic_au.demo_video --out runs/demo/synthetic_clip.mp4

Writes <out> and <out stem>_labels.csv (frame 1-based, then AUxx_intensity and AUxx_occurrence
per AU, the renderer's truth). The default subject (41) and video are outside the corpus's 40
subjects, so no encoder has seen this person.
"""

import argparse
import csv
import os

import av
import numpy as np

from data_builders.synthetic_au import aus as au_lib
from data_builders.synthetic_au import video as video_lib


def write_video(path: str, frames: np.ndarray, fps: int = 25) -> None:
  """frames [T, H, W, 3] uint8 RGB -> an H.264 mp4 at fps."""
  os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
  with av.open(path, "w") as out:
    stream = out.add_stream("libx264", rate=fps)
    stream.height, stream.width = frames.shape[1:3]
    stream.pix_fmt = "yuv420p"
    stream.options = {"crf": "20"}
    for image in frames:
      for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
        out.mux(packet)
    for packet in stream.encode():
      out.mux(packet)


def main(argv=None) -> None:
  parser = argparse.ArgumentParser(description=__doc__,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument("--out", required=True)
  parser.add_argument("--seconds", type=float, default=8.0)
  parser.add_argument("--size", type=int, default=256)
  parser.add_argument("--subject", type=int, default=41)
  parser.add_argument("--seed", type=int, default=0)
  args = parser.parse_args(argv)
  n = int(round(args.seconds * 25))
  video = video_lib.generate_video(args.seed, args.subject, 0, n, args.size, align=False)
  write_video(args.out, video.frames)
  labels = os.path.splitext(args.out)[0] + "_labels.csv"
  names = [f"AU{a:02d}" for a in au_lib.AUS]
  with open(labels, "w", newline="") as f:
    writer = csv.writer(f)
    writer.writerow(["frame"] + [f"{a}_intensity" for a in names]
                    + [f"{a}_occurrence" for a in names])
    for t in range(n):
      writer.writerow([t + 1] + [f"{v:.2f}" for v in video.au_intensity[t]]
                      + [int(v) for v in video.au_occurrence[t]])
  print(f"Rendered {n} frames ({args.size} px, subject {args.subject}) to {args.out}; "
        f"true AUs in {labels}")


if __name__ == "__main__":
  main()
