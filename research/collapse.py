"""Does within-clip contrast collapse? Reads pretraining runs' TensorBoard logs and prints a table.

Within-clip InfoNCE has a trivial stationary point: every frame of a clip gets the same code, and
the loss sits at its chance value (each anchor's positives no likelier than the clip's other
frames), with a vanishing gradient. For the default clips (8 frames, 2 apart, positives the
adjacent frames) that is (2 log 7 + 6 log 3.5) / 8 = 1.426. The table gives, per group of runs,
the loss at the first log, how many of the first 200 steps were spent at chance, and the loss at
the end.

  python research/collapse.py --runs runs --groups "CLP=seeds200/clp,seeds200/clp_seed1"
"""

import argparse
import glob
import os
import struct
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import run_groups  # pylint: disable=g-import-not-at-top,wrong-import-position
from tensorboardX.proto import event_pb2  # pylint: disable=g-import-not-at-top,wrong-import-position


def read_scalars(logdir: str) -> dict:
  """Every scalar in a folder of TensorBoard event files: {tag: [(step, value)] sorted by step},
  the last write of a step winning (a resumed run rewrites the steps after its checkpoint)."""
  out = {}
  for path in sorted(glob.glob(os.path.join(logdir, "events.out.tfevents.*")), key=os.path.getmtime):
    with open(path, "rb") as f:
      data = f.read()
    i = 0
    while i + 12 <= len(data):  # TFRecord: u64 length, u32 crc, payload, u32 crc
      (n,) = struct.unpack("<Q", data[i:i + 8])
      event = event_pb2.Event()
      event.ParseFromString(data[i + 12:i + 12 + n])
      i += 12 + n + 4
      for v in event.summary.value:
        out.setdefault(v.tag, {})[event.step] = v.simple_value
  return {tag: sorted(steps.items()) for tag, steps in out.items()}


def chance_infonce(clip_length: int, clip_stride: int, pos_window: float) -> float:
  """Within-clip InfoNCE of a collapsed code: mean over anchors of log(#others / #positives)."""
  t = np.arange(clip_length) * clip_stride
  gap = np.abs(t[:, None] - t[None, :])
  positives = ((gap > 0) & (gap <= pos_window)).sum(1)
  has = positives > 0
  return float(np.mean(np.log((clip_length - 1) / positives[has])))


def summarise(curve: list, chance: float, tol: float, horizon: int) -> dict:
  """curve [(step, loss)] -> first loss, steps logged at chance (within tol) up to horizon, last."""
  steps = np.array([s for s, _ in curve])
  loss = np.array([v for _, v in curve])
  early = steps <= horizon
  spacing = np.median(np.diff(steps)) if len(steps) > 1 else 1
  at_chance = np.abs(loss - chance) <= tol
  return {"first": float(loss[0]),
          "steps_at_chance": float(at_chance[early].sum() * spacing),
          "last": float(np.mean(loss[-3:])),
          "ends_at_chance": bool(np.all(at_chance[-3:]))}


def main():
  p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
  p.add_argument("--runs", required=True, help="folder holding the run folders")
  p.add_argument("--groups", action="append", required=True, type=run_groups.parse,
                 help="name=run,run,... (repeatable), run folders relative to --runs")
  p.add_argument("--clip_length", type=int, default=8)
  p.add_argument("--clip_stride", type=int, default=2)
  p.add_argument("--pos_window", type=float, default=2.0)
  p.add_argument("--tol", type=float, default=0.03, help="how close to chance counts as at chance")
  p.add_argument("--horizon", type=int, default=200, help="count steps at chance up to this step")
  args = p.parse_args()
  chance = chance_infonce(args.clip_length, args.clip_stride, args.pos_window)
  print(f"\nWithin-clip InfoNCE against its chance value {chance:.3f} (collapsed code); "
        f"'at chance' = within {args.tol}; mean over runs\n")
  print(f"| group | runs | first log | steps at chance (of first {args.horizon}) | last 3 logs | "
        f"runs ending at chance |")
  print("|---|---|---|---|---|---|")
  for name, runs in args.groups:
    rows = []
    for run in runs:
      scalars = read_scalars(os.path.join(args.runs, run, "tb"))
      if "train/infonce" not in scalars:
        raise ValueError(f"{args.runs}/{run}/tb has no train/infonce scalars (a run with "
                         f"loss.infonce > 0 writes them)")
      rows.append(summarise(scalars["train/infonce"], chance, args.tol, args.horizon))
    mean = lambda k: np.mean([r[k] for r in rows])
    print(f"| {name} | {len(rows)} | {mean('first'):.2f} | {mean('steps_at_chance'):.0f} | "
          f"{mean('last'):.2f} | {sum(r['ends_at_chance'] for r in rows)} |")


if __name__ == "__main__":
  main()
