"""Video -> aligned face crops (`clp_jax.data.faces.stream`): frames per second on one core, and peak
memory against the video's length. Prints a table.

  python benchmarks/face_align.py [--videos ../shared/data/real_videos] [--detect_every 5]

Each measurement runs in a child process pinned to one core (decoding, detection, landmarks and
the warp share it), so frames/s is per core. Peak memory is the child's peak resident set for the
real 20 s clip and for a 2 min video made of it (the clip re-encoded 6 times over, H.264 640x360):
streaming keeps the two within a few percent.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

CHILD = r"""
import json, os, sys, time
os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
import cv2
cv2.setNumThreads(1)
from clp_jax.data import video as video_lib
from clp_jax.data.faces import detect, stream
def peak_mb():
  # VmHWM, not ru_maxrss: the latter carries over the parent's peak across fork + exec
  with open("/proc/self/status") as f:
    return next(int(l.split()[1]) for l in f if l.startswith("VmHWM")) / 1024
path, detect_every, size = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
t = time.perf_counter()
n_decode = sum(1 for _ in video_lib.frames(path))
decode_s = time.perf_counter() - t
detector = detect.Detector()  # loading the models (~0.2 s) is not counted
t = time.perf_counter()
n = found = 0
for f in stream.aligned_frames(path, size=size, detect_every=detect_every, detector=detector):
  n += 1
  found += f.face is not None
total_s = time.perf_counter() - t
print(json.dumps(dict(frames=n, decoded=n_decode, found=found, decode_fps=n_decode / decode_s,
                      fps=n / total_s,
                      peak_mb=peak_mb())))
"""


def measure(path: str, detect_every: int, size: int) -> dict:
  out = subprocess.run([sys.executable, "-c", CHILD, path, str(detect_every), str(size)],
                       check=True, capture_output=True, text=True,
                       cwd=os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
  return json.loads(out.stdout.strip().splitlines()[-1])


def loop_video(src: str, dst: str, times: int) -> None:
  """dst: src's frames `times` over, H.264 at src's size and rate."""
  import av  # pylint: disable=g-import-not-at-top
  from clp_jax.data import video as video_lib  # pylint: disable=g-import-not-at-top
  frames = [f.image for f in video_lib.frames(src)]
  rate = round(video_lib.frame_rate(src))
  with av.open(dst, "w") as out:
    s = out.add_stream("libx264", rate=rate)
    s.height, s.width = frames[0].shape[:2]
    s.pix_fmt = "yuv420p"
    for _ in range(times):
      for img in frames:
        for packet in s.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
          out.mux(packet)
    for packet in s.encode():
      out.mux(packet)


def main():
  p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  p.add_argument("--videos", default=os.path.join(os.path.dirname(__file__), "..", "..", "shared",
                                                  "data", "real_videos"))
  p.add_argument("--detect_every", type=int, default=5)
  p.add_argument("--size", type=int, default=112)
  args = p.parse_args()
  rows = []
  for name in ("single_face.mp4", "WolfgangLanger_Pexels.mp4"):
    rows.append((name, measure(os.path.join(args.videos, name), args.detect_every, args.size)))
  with tempfile.TemporaryDirectory() as tmp:
    long_path = os.path.join(tmp, "WolfgangLanger_x6.mp4")
    loop_video(os.path.join(args.videos, "WolfgangLanger_Pexels.mp4"), long_path, 6)
    rows.append(("WolfgangLanger_Pexels.mp4 x 6 (2 min)",
                 measure(long_path, args.detect_every, args.size)))
  print(f"Video -> aligned {args.size} px crops, one core, detector every {args.detect_every} "
        f"frames (`clp_jax.data.faces.stream`)\n")
  print("| video | frames | face found | decode only, frames/s | decode + track + align, "
        "frames/s | peak memory |")
  print("|---|---|---|---|---|---|")
  for name, r in rows:
    print(f"| {name} | {r['frames']} | {r['found'] / r['frames']:.1%} | {r['decode_fps']:.0f} | "
          f"**{r['fps']:.0f}** | {r['peak_mb']:.0f} MB |")
  short, long_ = rows[1][1]["peak_mb"], rows[2][1]["peak_mb"]
  print(f"\nPeak memory, 2 min video / 20 s video: {long_ / short:.3f}")


if __name__ == "__main__":
  main()
