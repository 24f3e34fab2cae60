"""clp-detect throughput: frames per second of a model over real 640x360 video, against real time,
and peak memory for a 20 s and a 2 min video. Prints a table.

  python benchmarks/detect_throughput.py --model runs/demo/eval/models/clp [--videos ...]

Each video runs in a child process (all cores, as `clp-detect` would), through
`clp_jax.detect.runner.process`: decoding, face tracking (detector every 5th frame), alignment, the jitted
encoder and heads in batches of 32, the CSV and the plot. `frames/s` counts the whole input
(compilation included, the model loaded before); `steady` leaves out the first batch.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

CHILD = r"""
import argparse, json, sys, time
from clp_jax.data import video as video_lib
from clp_jax.data.faces import detect
from clp_jax.detect import au_model
from clp_jax.detect import runner
from clp_jax.detect import detection
def peak_mb():
  with open("/proc/self/status") as f:
    return next(int(l.split()[1]) for l in f if l.startswith("VmHWM")) / 1024
model_dir, path, out = sys.argv[1:4]
model = au_model.load(model_dir)
detector = detect.Detector()
options = runner.Options(progress=False)
# steady state: time the rows after the first batch (compiled by then)
t0 = time.perf_counter()
marks = []
orig = detection._Batcher.flush
def flush(self):
  rows = orig(self)
  marks.append((time.perf_counter(), len(rows)))
  return rows
detection._Batcher.flush = flush
s = runner.process(model, detector, path, out, "bench", options)
total = time.perf_counter() - t0
(t1, n1), (t_end, _) = marks[0], marks[-1]
steady = (s["frames"] - n1) / (t_end - t1) if t_end > t1 else float("nan")
print(json.dumps(dict(frames=s["frames"], faces=s["faces"], seconds=total,
                      fps=s["frames"] / total, steady_fps=steady, peak_mb=peak_mb())))
"""


def measure(model: str, path: str, out: str) -> dict:
  run = subprocess.run([sys.executable, "-c", CHILD, model, path, out], check=True,
                       capture_output=True, text=True,
                       cwd=os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
  return json.loads(run.stdout.strip().splitlines()[-1])


def main():
  p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  p.add_argument("--model", required=True)
  p.add_argument("--videos", default=os.path.join(os.path.dirname(__file__), "..", "..", "shared",
                                                  "data", "real_videos"))
  args = p.parse_args()
  from benchmarks import face_align  # pylint: disable=g-import-not-at-top
  from clp_jax.data import video as video_lib  # pylint: disable=g-import-not-at-top
  src = os.path.join(args.videos, "WolfgangLanger_Pexels.mp4")
  fps = video_lib.frame_rate(src)
  with tempfile.TemporaryDirectory() as tmp:
    long_path = os.path.join(tmp, "WolfgangLanger_x6.mp4")
    face_align.loop_video(src, long_path, 6)
    rows = [("WolfgangLanger_Pexels.mp4 (20 s)", measure(args.model, src, tmp)),
            ("the same x 6 (2 min)", measure(args.model, long_path, tmp))]
  with open(os.path.join(args.model, "encoder.json")) as f:
    enc = json.load(f)
  print(f"clp-detect, {enc['architecture']} at {enc['input_size']} px, 640x360 video at "
        f"{fps:.2f} fps, {os.cpu_count()} cores\n")
  print("| video | frames | face found | frames/s (all) | steady frames/s | x real time | "
        "peak memory |")
  print("|---|---|---|---|---|---|---|")
  for name, r in rows:
    print(f"| {name} | {r['frames']} | {r['faces'] / r['frames']:.1%} | {r['fps']:.1f} | "
          f"{r['steady_fps']:.1f} | **{r['fps'] / fps:.2f}** | {r['peak_mb']:.0f} MB |")
  print(f"\nPeak memory, 2 min / 20 s: {rows[1][1]['peak_mb'] / rows[0][1]['peak_mb']:.3f}")


if __name__ == "__main__":
  main()
