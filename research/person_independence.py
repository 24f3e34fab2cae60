"""Does CIR make the AU code person-independent? Measures it directly on exported encoders.

  python research/person_independence.py --exports runs/seeds200/export \\
      --groups clp=clp,clp_seed1,clp_seed2 --groups no_cir=no_cir,no_cir_seed1,no_cir_seed2

For every exported encoder (and the untrained `random_init`), on all labelled frames of the
synthetic corpus, with the backbone's pooled features and with the AU code:
- `subject share`: share of the (standardised) features' variance between subject means
  (lower: less of the representation is who the person is);
- `x-subject NN F1`: each frame's nearest neighbour among *other subjects'* frames, and the mean
  per-AU F1 of the neighbours' AU labels against the query's (higher: faces of different people
  with the same AUs are close); chance is a random other-subject neighbour.
The same two figures are in every linear-probe report of `clp-eval` (`person_independence`).
Groups (name=run,run,...) are averaged: mean +- SD over their runs.
"""

import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import run_groups  # pylint: disable=g-import-not-at-top  (beside this script)
from clp_jax.data import sources  # pylint: disable=g-import-not-at-top
from clp_jax.eval import evaluate  # pylint: disable=g-import-not-at-top
from clp_jax.eval import person_independence  # pylint: disable=g-import-not-at-top
from clp_jax.eval import runner  # pylint: disable=g-import-not-at-top
from clp_jax.export import encoder as export  # pylint: disable=g-import-not-at-top


def measure(variables, info, data, kind) -> tuple:
  feats = evaluate.extract_features(variables, info, data.images, 128, kind)
  s = person_independence.summary(feats, data.subjects, data.labels)
  return s["subject_share"], s["cross_subject_nn_f1"], s["cross_subject_nn_chance_f1"]


def main():
  p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
  p.add_argument("--exports", required=True, help="folder of exported encoders (runs are paths "
                 "relative to it)")
  p.add_argument("--groups", action="append", required=True, type=run_groups.parse,
                 help="name=run,run,...")
  p.add_argument("--data_dir", default="data")
  args = p.parse_args()
  groups = dict(args.groups)
  source, info = sources.open_source("synthetic_au", "labelled", "part1+part2+part3", args.data_dir)
  data = evaluate.load_labelled(source, info.metadata["aus"])
  rows = {}
  for name, runs in groups.items():
    for run in runs:
      variables, inf = export.load(os.path.join(args.exports, run))
      for kind in ("backbone", "au_code"):
        rows.setdefault((name, kind), []).append(measure(variables, inf, data, kind))
  # The untrained baseline takes the architecture of the encoders given (as clp-eval's does).
  rand = runner.random_encoder(inf["depth"], inf["input_size"], inf["au_code_dim"],
                                 inf["au_head_hidden"], 0)
  for kind in ("backbone", "au_code"):
    rows[("random_init", kind)] = [measure(rand, inf, data, kind)]
  print(f"\nPerson independence on synthetic_au ({len(data.labels)} frames, "
        f"{len(set(data.subjects.tolist()))} subjects, every frame a query); chance x-subject "
        f"NN F1 {rows[('random_init', 'backbone')][0][2]:.3f}\n")
  print("| encoder | runs | features | subject share | x-subject NN F1 | per run (share / NN F1) |")
  print("|---|---|---|---|---|---|")
  for (name, kind), vals in rows.items():
    v = np.array(vals)
    sd = lambda c: f" +- {v[:, c].std(ddof=1):.3f}" if len(v) > 1 else ""
    per = " ".join(f"{a:.3f}/{b:.3f}" for a, b, _ in v)
    print(f"| {name} | {len(v)} | {kind} | {v[:, 0].mean():.3f}{sd(0)} | {v[:, 1].mean():.3f}{sd(1)} "
          f"| {per} |")


if __name__ == "__main__":
  main()
