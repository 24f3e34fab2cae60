"""clp-detect: per-frame AU detection on your videos and images, with a model clp-eval saved.

  clp-detect VIDEO_OR_IMAGE_OR_FOLDER... --model runs/eval/models/clp --out runs/detect

For each input (a folder: every video and image under it) it writes <out>/<name>.csv, one row per
decoded frame (an image: one row), and for a video <out>/<name>.png, the AU probabilities over
time. Columns, OpenFace-like:

  frame       1-based frame number (OpenFace's numbering)
  timestamp   seconds from the video's start (the frame's presentation time; 0 for an image)
  success     1 where a face was found, else 0 (and the AU cells are empty)
  face_x, face_y, face_w, face_h   the face box in the frame's pixels
  confidence  the face detector's margin at the face's last detection (> 0: detected)
  AUxx_p      the probability that AU xx is present (0-1)
  AUxx_c      1 where AUxx_p reaches the model's threshold for AU xx, else 0

The main face is the largest at the first detection, then the one the tracker follows (the
detector runs every --detect_every frames). An input that cannot be read is reported with its
name and skipped; the others are still processed, and the exit code is 1.
"""

import argparse
import csv
import os
import sys
import time

import numpy as np
import tqdm

from clp_jax import xla_cpu
from clp_jax.data import video as video_lib
from clp_jax.detect import au_model
from clp_jax.detect import detection


def expand_inputs(inputs) -> tuple:
  """Paths given -> (files to process, errors): a folder gives every video and image under it,
  sorted; a missing path is an error."""
  files, errors = [], []
  for path in inputs:
    if os.path.isdir(path):
      found = []
      for folder, dirs, names in os.walk(path):
        dirs.sort()
        found += [os.path.join(folder, n) for n in sorted(names)
                  if n.lower().endswith(video_lib.VIDEO_EXTENSIONS + detection.IMAGE_EXTENSIONS)]
      if not found:
        errors.append(f"{path}: a folder with no video or image in it")
      files += found
    elif os.path.exists(path):
      files.append(path)
    else:
      errors.append(f"{path}: no such file or folder")
  return files, errors


def output_name(path: str, used: set) -> str:
  """The input's file stem, made unique in this run (name, name_2, ...)."""
  stem = os.path.splitext(os.path.basename(path))[0] or "input"
  name, k = stem, 1
  while name in used:
    k += 1
    name = f"{stem}_{k}"
  used.add(name)
  return name


def header(model) -> list:
  names = model.info.get("au_names") or [f"AU{a:02d}" for a in model.aus]
  return (["frame", "timestamp", "success", "face_x", "face_y", "face_w", "face_h", "confidence"]
          + [f"{n}_p" for n in names] + [f"{n}_c" for n in names])


def csv_row(row: detection.FrameRow, thresholds: np.ndarray) -> list:
  out = [row.frame, f"{row.timestamp:.3f}", int(row.success)]
  if not row.success:
    return out + [""] * (5 + 2 * len(thresholds))
  out += [f"{v:.1f}" for v in row.box] + [f"{row.confidence:.3f}"]
  out += [f"{p:.4f}" for p in row.probabilities]
  out += [int(p >= t) for p, t in zip(row.probabilities, thresholds)]
  return out


def plot(path: str, times: np.ndarray, probs: np.ndarray, model, title: str) -> None:
  """probs [T, A] (NaN without a face) over times [T] -> one panel per AU, the threshold dashed."""
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use("Agg")
  from matplotlib import pyplot as plt  # pylint: disable=g-import-not-at-top
  names = model.info.get("au_names") or [f"AU{a:02d}" for a in model.aus]
  n = len(names)
  fig, axes = plt.subplots(n, 1, figsize=(10, 0.55 * n + 1.0), sharex=True, squeeze=False)
  for i, (ax, name) in enumerate(zip(axes[:, 0], names)):
    ax.plot(times, probs[:, i], lw=1.0, color="C0")
    ax.axhline(model.thresholds[i], color="0.6", lw=0.6, ls="--")
    ax.set_ylim(0, 1)
    ax.set_yticks([])
    ax.set_ylabel(name, rotation=0, ha="right", va="center", fontsize=8)
    for side in ("top", "right"):
      ax.spines[side].set_visible(False)
  axes[-1, 0].set_xlabel("time (s)")
  axes[0, 0].set_title(title, fontsize=9)
  fig.tight_layout(h_pad=0.1)
  fig.savefig(path, dpi=110)
  plt.close(fig)


def process(model, detector, path: str, out_dir: str, name: str, args) -> dict:
  """One input -> its CSV (and a video's plot). Returns a summary; raises on unreadable input
  (a damaged video keeps the rows before the damage)."""
  csv_path = os.path.join(out_dir, f"{name}.csv")
  is_image = path.lower().endswith(detection.IMAGE_EXTENSIONS)
  start = time.perf_counter()
  times, probs = [], []
  frames = found = 0
  error = None
  with open(csv_path, "w", newline="") as f:
    writer = csv.writer(f)
    writer.writerow(header(model))
    if is_image:
      rows = [detection.image_row(model, path, detector)]
    else:
      total = video_lib.frame_count(path) or None
      rows = tqdm.tqdm(detection.video_rows(model, path, detector, batch_size=args.batch_size,
                                            detect_every=args.detect_every),
                       total=total, desc=os.path.basename(path), unit=" frames",
                       disable=args.quiet, leave=False)
    try:
      for row in rows:
        writer.writerow(csv_row(row, model.thresholds))
        frames += 1
        found += row.success
        times.append(row.timestamp)
        probs.append(row.probabilities if row.success
                     else np.full(len(model.aus), np.nan, np.float32))
    except video_lib.VideoError as e:
      error = e
  seconds = time.perf_counter() - start
  summary = {"input": path, "csv": csv_path, "frames": frames, "faces": found,
             "seconds": seconds}
  if not is_image and frames and not args.no_plot:
    summary["plot"] = os.path.join(out_dir, f"{name}.png")
    plot(summary["plot"], np.asarray(times), np.stack(probs), model,
         f"{os.path.basename(path)}: AU probabilities ({found} of {frames} frames with a face)")
  if error is not None:
    raise video_lib.VideoError(f"{error} (the {frames} rows before it are in {csv_path})")
  return summary


def main(argv=None) -> int:
  xla_cpu.configure()  # before JAX starts its backend: this process's XLA:CPU flags
  parser = argparse.ArgumentParser(prog="clp-detect", description=__doc__,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument("inputs", nargs="+", help="videos, images, or folders of them")
  parser.add_argument("--model", required=True, help="a model directory clp-eval saved "
                      "(--config.save_heads=True: <eval workdir>/models/<name>)")
  parser.add_argument("--out", required=True, help="where the CSVs and plots go")
  parser.add_argument("--batch_size", type=int, default=32)
  parser.add_argument("--detect_every", type=int, default=5,
                      help="run the face detector on one frame in this many (track in between)")
  parser.add_argument("--no_plot", action="store_true")
  parser.add_argument("--quiet", action="store_true", help="no progress bars")
  args = parser.parse_args(argv)
  try:
    model = au_model.load(args.model)
  except (FileNotFoundError, ValueError) as e:
    print(f"clp-detect: error: {e}", file=sys.stderr)
    return 2
  from clp_jax.data.faces import detect  # pylint: disable=g-import-not-at-top
  try:
    detector = detect.Detector()
  except ImportError as e:
    print(f"clp-detect: error: {e}", file=sys.stderr)
    return 2
  files, errors = expand_inputs(args.inputs)
  os.makedirs(args.out, exist_ok=True)
  used = set()
  for path in files:
    name = output_name(path, used)
    try:
      s = process(model, detector, path, args.out, name, args)
    except (video_lib.VideoError, ValueError, OSError) as e:
      errors.append(str(e))
      print(f"clp-detect: error: {e}", file=sys.stderr)
      continue
    rate = s["frames"] / s["seconds"] if s["seconds"] else float("nan")
    print(f"{path}: {s['frames']} frames, a face in {s['faces']} "
          f"({100 * s['faces'] / max(s['frames'], 1):.1f}%), {rate:.1f} frames/s -> {s['csv']}"
          + (f", {s['plot']}" if "plot" in s else ""))
  if errors:
    print(f"clp-detect: {len(errors)} input(s) failed:\n  " + "\n  ".join(errors),
          file=sys.stderr)
    return 1
  return 0


if __name__ == "__main__":
  sys.exit(main())
