"""Per-frame AU detection of inputs into CSVs and plots: what clp-detect runs.

  code = runner.run(["clip.mp4", "photos/"], "runs/eval/models/clp", "runs/detect")

CSV columns and the choice of face: `clp_jax.detect.cli`'s docstring (and the README).
"""

import csv
import dataclasses
import os
import sys
import time

import numpy as np
import tqdm

from clp_jax.data import video as video_lib
from clp_jax.detect import au_model
from clp_jax.detect import detection


@dataclasses.dataclass(frozen=True)
class Options:
  batch_size: int = 32    # aligned faces per jitted call
  detect_every: int = 5   # run the face detector on one frame in this many (track in between)
  plot: bool = True       # a video's AU probabilities over time, as <name>.png
  progress: bool = True   # a progress bar per video


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


def process(model, detector, path: str, out_dir: str, name: str, options: Options) -> dict:
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
      rows = tqdm.tqdm(detection.video_rows(model, path, detector, batch_size=options.batch_size,
                                            detect_every=options.detect_every),
                       total=total, desc=os.path.basename(path), unit=" frames",
                       disable=not options.progress, leave=False)
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
  if not is_image and frames and options.plot:
    summary["plot"] = os.path.join(out_dir, f"{name}.png")
    plot(summary["plot"], np.asarray(times), np.stack(probs), model,
         f"{os.path.basename(path)}: AU probabilities ({found} of {frames} frames with a face)")
  if error is not None:
    raise video_lib.VideoError(f"{error} (the {frames} rows before it are in {csv_path})")
  return summary


def run(inputs, model_dir: str, out_dir: str, options: Options = Options()) -> int:
  """Detects AUs in every input; returns the exit code: 0, 1 when an input failed (the others
  are still processed), 2 when the model or the face detector cannot be loaded."""
  try:
    model = au_model.load(model_dir)
  except (FileNotFoundError, ValueError) as e:
    print(f"clp-detect: error: {e}", file=sys.stderr)
    return 2
  from clp_jax.data.faces import detect  # pylint: disable=g-import-not-at-top
  try:
    detector = detect.Detector()
  except ImportError as e:
    print(f"clp-detect: error: {e}", file=sys.stderr)
    return 2
  files, errors = expand_inputs(inputs)
  os.makedirs(out_dir, exist_ok=True)
  used = set()
  for path in files:
    name = output_name(path, used)
    try:
      s = process(model, detector, path, out_dir, name, options)
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

