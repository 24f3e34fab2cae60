"""What changes inside a video does an encoder's representation follow? AUs, or pose and gaze?

  python research/temporal_factors.py --exports runs/seeds200/export \\
      --groups "CLP 200=clp,clp_seed1" --groups "without CIR 200=no_cir,no_cir_seed1"

A temporal contrastive loss learns whatever tells a clip's frames apart. In the synthetic corpus
that is the AUs, but also head pose, framing (position and size in the image), gaze and lighting,
which all drift inside a video. The corpus is generated from a seed, so every labelled frame's
nuisances are known exactly (`video.video_timelines`, regenerated here without rendering,
and checked against the stored AU intensities). For every encoder (and an untrained one), on all
labelled frames, with the backbone's pooled features:

  1. features and factors are centred per video: what is left is the *within-video* change, the
     signal the temporal losses see;
  2. a ridge regression from features to each factor group is fitted on two subject parts and
     scored (R^2) on the third, its strength chosen by leave-one-part-out inside the two; R^2 is
     averaged over the group's factors and the 3 folds.

Higher R^2: the factor's within-video change is linearly readable from the features. An encoder
whose pretraining followed pose rather than AUs shows it here as pose R^2 rising more than AU R^2.
"""

import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import run_groups  # pylint: disable=g-import-not-at-top  (beside this script)
from clp_jax.data import sources  # pylint: disable=g-import-not-at-top
from clp_jax.eval import evaluate  # pylint: disable=g-import-not-at-top
from clp_jax.eval import runner  # pylint: disable=g-import-not-at-top
from clp_jax.export import encoder as export  # pylint: disable=g-import-not-at-top
from data_builders.synthetic_au import synthetic_au_dataset_builder as sau  # pylint: disable=g-import-not-at-top
from data_builders.synthetic_au import video as video_lib  # pylint: disable=g-import-not-at-top

ALPHAS = (1e-4, 1e-3, 1e-2, 1e-1, 1.0, 10.0)  # times N: 1 weighs like the data itself


def video_factors(seed: int, subject_id: int, video_index: int, num_frames: int) -> dict:
  """A video's per-frame factors, regenerated exactly as `video.generate_video` draws them:
  {group: [T, k] float32}."""
  _, au, n, _ = video_lib.video_timelines(seed, subject_id, video_index, num_frames)
  return {
      "AU intensity": au,
      "head pose": np.stack([n.yaw, n.pitch, n.roll], 1),
      "framing": np.concatenate([n.shift, n.scale[:, None]], 1),
      "gaze": n.gaze,
      "lighting": np.stack([np.cos(n.light_angle) * n.light_strength,
                            np.sin(n.light_angle) * n.light_strength, n.brightness], 1),
  }


def labelled_factors(source, cfg: sau.SyntheticAuConfig) -> tuple:
  """Factors of every record of a labelled source, in source order: ({group: [N, k]},
  video [N] int, part [N] int). Checks the regenerated AU intensities against the stored ones."""
  cache, rows, videos, parts = {}, [], [], []
  for i in range(len(source)):
    r = source[i]
    vid = r["video_id"].decode() if isinstance(r["video_id"], bytes) else str(r["video_id"])
    if vid not in cache:
      subject, video = int(vid[1:4]), int(vid[6:8])
      cache[vid] = (len(cache), video_factors(cfg.seed, subject, video, cfg.frames_per_video))
    key, factors = cache[vid]
    t = int(r["frame_index"])
    if not np.allclose(factors["AU intensity"][t], r["au_intensity"], atol=1e-5):
      raise ValueError(f"Record {i} ({vid} frame {t}): regenerated AU intensities differ from the "
                       f"stored ones; is the corpus built with config {cfg.name!r} (seed {cfg.seed})?")
    rows.append({g: f[t] for g, f in factors.items()})
    videos.append(key)
    parts.append(int(r["part"]))
  stacked = {g: np.stack([row[g] for row in rows]).astype(np.float64) for g in rows[0]}
  return stacked, np.array(videos), np.array(parts)


def centre_per_video(x: np.ndarray, videos: np.ndarray) -> np.ndarray:
  """x [N, k] minus its video's mean row."""
  sums = np.zeros((videos.max() + 1, x.shape[1]))
  np.add.at(sums, videos, x)
  counts = np.bincount(videos, minlength=len(sums))[:, None]
  return x - (sums / counts)[videos]


def _ridge_predictions(xtr, ytr, xte, alphas):
  """Closed-form ridge (inputs already centred) for every strength at once, through one SVD of
  xtr: [len(alphas), N_te, k]. The penalty is alpha * N_tr * |w|^2 (alpha 1 weighs like the data)."""
  u, s, vt = np.linalg.svd(xtr, full_matrices=False)
  uty, xv = u.T @ ytr, xte @ vt.T
  return np.stack([xv @ ((s / (s ** 2 + a * len(xtr)))[:, None] * uty) for a in alphas])


def _r2(y, pred):
  """R^2 per column: [N, k], [..., N, k] -> [..., k]."""
  return 1 - ((y - pred) ** 2).sum(-2) / ((y - y.mean(0)) ** 2).sum(0)


def held_out_r2(x: np.ndarray, y: np.ndarray, parts: np.ndarray) -> np.ndarray:
  """Held-out R^2 of a ridge x -> y per column of y, averaged over the subject-exclusive folds
  (one per part). Each column's strength is chosen by leave-one-part-out inside the fold's
  training parts. x [N, F], y [N, k] -> [k]."""
  scores = []
  for k in sorted(set(parts.tolist())):
    train, test = parts != k, parts == k
    inner = np.mean([_r2(y[train & (parts == p)],
                         _ridge_predictions(x[train & (parts != p)], y[train & (parts != p)],
                                            x[train & (parts == p)], ALPHAS))
                     for p in sorted(set(parts[train].tolist()))], axis=0)  # [alphas, k]
    best = inner.argmax(0)
    pred = _ridge_predictions(x[train], y[train], x[test], ALPHAS)  # [alphas, N_te, k]
    scores.append(_r2(y[test], pred[best, :, np.arange(y.shape[1])].T))
  return np.mean(scores, axis=0)


def factor_r2(features: np.ndarray, factors: dict, videos: np.ndarray, parts: np.ndarray) -> dict:
  """{group: held-out within-video R^2} for features [N, F] (standardised, then centred)."""
  x = (features - features.mean(0)) / (features.std(0) + 1e-6)
  x = centre_per_video(x, videos)
  # One regression over every factor's columns: the SVDs of x are shared, and each column's
  # strength is chosen on its own, so the figures equal one regression per group.
  names = list(factors)
  r2 = held_out_r2(x, centre_per_video(np.concatenate([factors[g] for g in names], 1), videos), parts)
  ends = np.cumsum([factors[g].shape[1] for g in names])
  return {g: float(col.mean()) for g, col in zip(names, np.split(r2, ends[:-1]))}


def main():
  p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
  p.add_argument("--exports", required=True, help="folder of exported encoders")
  p.add_argument("--groups", action="append", required=True, type=run_groups.parse,
                 help="name=run,run,...")
  p.add_argument("--data_dir", default="data")
  p.add_argument("--random_seeds", default="0", help="init seeds of the untrained encoder")
  p.add_argument("--corpus_config", default="labelled", help="the synthetic_au labelled config")
  args = p.parse_args()
  groups = dict(args.groups)
  source, info = sources.open_source("synthetic_au", args.corpus_config, "part1+part2+part3",
                                     args.data_dir)
  cfg = next(c for c in sau.SyntheticAu.BUILDER_CONFIGS if c.name == args.corpus_config)
  factors, videos, parts = labelled_factors(source, cfg)
  data = evaluate.load_labelled(source, info.metadata["aus"])
  rows = {}
  inf = None
  for name, runs in groups.items():
    for run in runs:
      variables, inf = export.load(os.path.join(args.exports, run))
      feats = evaluate.extract_features(variables, inf, data.images, 128, "backbone")
      rows.setdefault(name, []).append(factor_r2(feats, factors, videos, parts))
  for seed in [int(s) for s in args.random_seeds.split(",")]:
    rand = runner.random_encoder(inf["depth"], inf["input_size"], inf["au_code_dim"],
                                   inf["au_head_hidden"], seed)
    feats = evaluate.extract_features(rand, inf, data.images, 128, "backbone")
    rows.setdefault("untrained", []).append(factor_r2(feats, factors, videos, parts))
  names = list(factors)
  print(f"\nWithin-video R^2 of each factor group from the backbone's pooled features "
        f"(synthetic_au {args.corpus_config}, {len(videos)} frames, {videos.max() + 1} videos; ridge, "
        f"3 subject-exclusive folds; mean +- SD over runs)\n")
  print("| encoder | runs | " + " | ".join(names) + " |")
  print("|---|---|" + "---|" * len(names))
  for name, vals in rows.items():
    cells = []
    for g in names:
      v = np.array([r[g] for r in vals])
      cells.append(f"{v.mean():.3f}" + (f" +- {v.std(ddof=1):.3f}" if len(v) > 1 else ""))
    print(f"| {name} | {len(vals)} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
  main()
