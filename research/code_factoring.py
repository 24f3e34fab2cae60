"""Is the person code a person code? Subject share of the AU code and the person code of
pretraining runs (the whole model, read from the runs' checkpoints, not from exports).

  python research/code_factoring.py --runs runs/seeds200 \\
      --groups clp=clp,clp_seed1,clp_seed2 --groups no_cir=no_cir,no_cir_seed1

CIR decodes (AU code of A, person code of B) and asks the re-encoded face for A's AU code. That
is "A's AUs on B's face" only if the person code carries who B is: its share of variance between
subject means (`clp_jax.eval.person_independence.subject_share`, on all labelled frames of the
synthetic corpus) should be well above the AU code's. The same share between *video* means
(every video is one subject's; its pose offset, lighting and camera are its own) tells a code
that is constant inside a video but not about the person (video share high, subject share low)
from one that is about the person (both high). Groups (name=run,run,...) are averaged.
"""

import argparse
import os
import sys

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import orbax.checkpoint as ocp

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import run_groups  # pylint: disable=g-import-not-at-top  (beside this script)
from clp_jax.data import sources  # pylint: disable=g-import-not-at-top
# pylint: disable=g-import-not-at-top
from clp_jax.eval import evaluate
from clp_jax.eval import person_independence
from clp_jax.export import encoder as export
from clp_jax.pretrain import checkpoint
# pylint: enable=g-import-not-at-top
from clp_jax.pretrain import state as clp_state  # pylint: disable=g-import-not-at-top


def codes(workdir: str, images: np.ndarray) -> tuple:
  """AU codes [N, Da] and person codes [N, Dp] of images [N, H, W, 3] uint8 under the latest
  checkpoint of a pretraining run."""
  mngr = ocp.CheckpointManager(os.path.abspath(os.path.join(workdir, "checkpoints")),
                               item_names=checkpoint.ITEMS)
  step = mngr.latest_step()
  if step is None:
    raise FileNotFoundError(f"No checkpoint in {workdir}/checkpoints")
  cfg = mngr.restore(step, args=ocp.args.Composite(meta=ocp.args.JsonRestore()))["meta"]["config"]
  size, au_dim = cfg["image_size"], cfg["model"]["au_dim"]
  model = clp_state.make_model(ml_collections.ConfigDict(cfg))
  abstract = jax.eval_shape(lambda: model.init(jax.random.key(0), jnp.zeros((1, size, size, 3)),
                                               method=model.init_all))
  variables = {k: export.restore_subtree(mngr, step, (k,), abstract[k])
               for k in ("params", "batch_stats")}

  @jax.jit
  def apply(batch):
    out = model.apply(variables, evaluate.eval_frames(batch, size,
                                                      cfg["model"].get("input_norm", "imagenet")))
    return jnp.concatenate([out["au"], out["person"]], axis=-1)

  both = evaluate.batched_apply(apply, images, 128)
  return both[:, :au_dim], both[:, au_dim:]


def main():
  p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
  p.add_argument("--runs", required=True, help="folder of pretraining runs (runs are relative)")
  p.add_argument("--groups", action="append", required=True, type=run_groups.parse,
                 help="name=run,run,...")
  p.add_argument("--data_dir", default="data")
  args = p.parse_args()
  source, info = sources.open_source("synthetic_au", "labelled", "part1+part2+part3", args.data_dir)
  data = evaluate.load_labelled(source, info.metadata["aus"])
  videos = np.array([source[i]["video_id"] for i in range(len(source))])
  print("| runs | n | subject share, AU code | subject share, person code | video share, AU code "
        "| video share, person code | subject share per run (AU / person) |")
  print("|---|---|---|---|---|---|---|")
  # Reference: the AU labels themselves, as a code. Subjects and videos differ in how often they
  # show each AU, so even a perfect AU code keeps this much of its variance between them.
  labels = np.where(data.labels > 0, 1.0, 0.0)
  print(f"| AU labels (occurrence) | - | {person_independence.subject_share(labels, data.subjects):.3f}"
        f" | - | {person_independence.subject_share(labels, videos):.3f} | - | - |")
  for name, runs in args.groups:
    shares = []
    for run in runs:
      au, person = codes(os.path.join(args.runs, run), data.images)
      shares.append([person_independence.subject_share(code, groups)
                     for groups in (data.subjects, videos) for code in (au, person)])
    s = np.array(shares)
    col = lambda c: f"{s[:, c].mean():.3f}" + (f" +- {s[:, c].std(ddof=1):.3f}" if len(s) > 1 else "")
    print(f"| {name} | {len(s)} | {' | '.join(col(c) for c in range(4))} | "
          f"{' '.join(f'{a:.3f}/{b:.3f}' for a, b in s[:, :2])} |", flush=True)


if __name__ == "__main__":
  main()
