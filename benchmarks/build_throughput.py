"""Corpus build throughput: `clp-data build video_folder` on a folder of real clips, run here with
1 and 2 worker processes and as an Apache Beam pipeline (DirectRunner, 2 processes). Prints a
table: wall time (process start to the prepared dataset, as a user sees it), clips written,
sampled frames, and frames per second.

  python benchmarks/build_throughput.py [--videos ../shared/data/real_videos] [--copies 2]

The folder holds every video of --videos `copies` times over, each copy a person of its own (so
there are jobs to spread). The Beam row needs the `beam` extra.
"""

import argparse
import os
import subprocess
import sys
import tempfile
import time

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")

MODES = [
    ("here, 1 worker", {"CLP_BUILD_WORKERS": "1"}, []),
    ("here, 2 workers", {"CLP_BUILD_WORKERS": "2"}, []),
    ("Beam DirectRunner, 2 processes", {}, [
        "--beam_pipeline_options", "direct_num_workers=2,direct_running_mode=multi_processing"]),
]


def layout(videos: str, root: str, copies: int) -> int:
  n = 0
  for name in sorted(os.listdir(videos)):
    if not name.lower().endswith((".mp4", ".avi", ".mov", ".mkv")):
      continue
    for c in range(copies):
      person = os.path.join(root, f"{os.path.splitext(name)[0]}_{c}")
      os.makedirs(person, exist_ok=True)
      os.symlink(os.path.join(os.path.abspath(videos), name), os.path.join(person, name))
      n += 1
  return n


def summary_counts(data_dir: str) -> dict:
  sys.path.insert(0, ROOT)
  from clp_jax.data import sources  # pylint: disable=g-import-not-at-top
  builder = sources.get_builder("video_folder", "default", data_dir)
  totals = {}
  for counts in builder.info.metadata["build_summary"].values():
    for k, v in counts.items():
      totals[k] = totals.get(k, 0) + v
  return totals


def main():
  parser = argparse.ArgumentParser(description=__doc__)
  parser.add_argument("--videos", default=os.path.join(ROOT, "..", "shared", "data", "real_videos"))
  parser.add_argument("--copies", type=int, default=2)
  args = parser.parse_args()
  clp_data = os.path.join(os.path.dirname(sys.executable), "clp-data")
  with tempfile.TemporaryDirectory() as tmp:
    n = layout(args.videos, os.path.join(tmp, "videos"), args.copies)
    print(f"video_folder on {n} videos ({args.copies} copies of {args.videos}), "
          f"{os.cpu_count()} cores\n")
    print("| build | wall s | clips | sampled frames | frames/s |")
    print("|---|---|---|---|---|")
    for i, (name, env, extra) in enumerate(MODES):
      data_dir = os.path.join(tmp, f"data{i}")
      start = time.perf_counter()
      run = subprocess.run([clp_data, "build", "video_folder", "--config", "default",
                            "--manual_dir", os.path.join(tmp, "videos"), "--data_dir", data_dir]
                           + extra, env={**os.environ, **env}, capture_output=True, text=True)
      wall = time.perf_counter() - start
      if run.returncode:
        print(f"| {name} | failed: {run.stderr.strip().splitlines()[-1:]} | | | |")
        continue
      c = summary_counts(data_dir)
      print(f"| {name} | {wall:.1f} | {c['clips']} | {c['frames']} | {c['frames'] / wall:.0f} |")


if __name__ == "__main__":
  main()
