"""Does pretraining fit its own videos? The CLP losses of every checkpoint, seen vs held-out subjects.

  python benchmarks/heldout_loss.py --runs runs/stab2k/clp_stabilised,runs/stab2k_s1/clp_stabilised_seed1

For each pretraining run (a clp-pretrain workdir) and each checkpoint it keeps, the loss terms of
`clp_jax.validation` on fixed batches of its pretraining split ('seen') and of the held-out split
('heldout', subjects it never trained on), batch norm in inference mode, the same batches for every
checkpoint of a run. Prints one table row per checkpoint; --json writes them all.

The same numbers are logged during pretraining when config.validation.every > 0 (seen/*, heldout/*
in TensorBoard); this script scores runs made before that, or at other steps.
"""

import argparse
import json
import os
import sys

import orbax.checkpoint as ocp

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from clp_jax import checkpoint  # pylint: disable=g-import-not-at-top
from clp_jax import config_files  # pylint: disable=g-import-not-at-top
from clp_jax import sharding  # pylint: disable=g-import-not-at-top
from clp_jax import step as step_lib  # pylint: disable=g-import-not-at-top
from clp_jax import validation  # pylint: disable=g-import-not-at-top

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
TERMS = ("loss", "temporal_margin", "infonce", "recon", "cir_au")


def run_config(workdir: str, data_dir: str, split: str, batches: int, stabilise=None,
               corpus_config=None):
  """The run's own config (from its checkpoints' metadata), pointed at data_dir, with the
  held-out split of config.validation (added for runs made before it existed); stabilise and
  corpus_config, where given, replace data.stabilise and data.config (scoring a run on clips
  prepared otherwise than it trained on)."""
  mngr = checkpoint.manager(workdir, keep=1000)
  steps = sorted(mngr.all_steps())
  if not steps:
    raise FileNotFoundError(f"No checkpoint in {os.path.join(workdir, 'checkpoints')}")
  meta = mngr.restore(steps[-1], args=ocp.args.Composite(meta=ocp.args.JsonRestore()))["meta"]
  # Keys added to the default config since the run keep their defaults.
  config = config_files.load(os.path.join(ROOT, "configs", "default.py"))
  config.update(meta["config"])  # merges nested dicts, lists back to tuples
  config.data.data_dir = data_dir
  config.validation.split = split or config.validation.split
  config.validation.batches = batches
  if stabilise is not None:
    config.data.stabilise = stabilise
  if corpus_config is not None:
    config.data.config = corpus_config
  return config, mngr, steps


def score_run(workdir: str, data_dir: str, split: str = "", batches: int = 4, stabilise=None,
              corpus_config=None, last: bool = False) -> list:
  """[{"run", "step", "seen/<term>", "heldout/<term>", ...}] for every checkpoint of workdir
  (last: the latest only)."""
  config, mngr, steps = run_config(workdir, data_dir, split, batches, stabilise, corpus_config)
  steps = steps[-1:] if last else steps
  mesh = sharding.make_mesh(None)
  clp = step_lib.sharded_step(config, mesh)
  validator = validation.Validator(config, mesh, clp)
  rows = []
  for step in steps:
    state, _ = checkpoint.restore(mngr, step, clp.abstract_state, clp.state_sharding, None)
    rows.append(dict(run=os.path.basename(os.path.normpath(workdir)), step=step, **validator(state)))
  mngr.close()
  return rows


def table(rows: list) -> str:
  terms = [t for t in TERMS if f"seen/{t}" in rows[0]]
  head = ["run", "step"] + [f"{t} seen / held-out" for t in terms] + ["held-out - seen (loss)"]
  lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
  for r in rows:
    cells = [r["run"], str(r["step"])]
    cells += [f"{r[f'seen/{t}']:.3f} / {r[f'heldout/{t}']:.3f}" for t in terms]
    cells.append(f"{r['heldout/loss'] - r['seen/loss']:+.3f}")
    lines.append("| " + " | ".join(cells) + " |")
  return "\n".join(lines)


def main(argv=None):
  p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  p.add_argument("--runs", required=True, help="comma-separated clp-pretrain workdirs")
  p.add_argument("--data_dir", default="data")
  p.add_argument("--split", default="", help="held-out split (default: config.validation.split)")
  p.add_argument("--batches", type=int, default=4, help="fixed batches per split")
  p.add_argument("--json", default="", help="also write the rows here")
  p.add_argument("--stabilise", default=None,
                 help="score on clips stabilised this way instead of each run's own "
                      "data.stabilise ('none': the clips as stored)")
  p.add_argument("--corpus_config", default=None,
                 help="score on this synthetic_au config instead of each run's data.config "
                      "(e.g. pretrain_still_head: the same videos without the head's drift)")
  p.add_argument("--last", action="store_true", help="the latest checkpoint of each run only")
  args = p.parse_args(argv)
  stabilise = "" if args.stabilise == "none" else args.stabilise
  rows = []
  for run in args.runs.split(","):
    rows += score_run(run.strip(), args.data_dir, args.split, args.batches, stabilise,
                      args.corpus_config, args.last)
  print(table(rows))
  if args.json:
    with open(args.json, "w") as f:
      json.dump(rows, f, indent=2)
  return rows


if __name__ == "__main__":
  main()
