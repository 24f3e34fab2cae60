"""CLP's switches, one pretraining each, judged by the AU protocol: prints the ablation table.

  python research/ablation.py --workdir runs/ablation --steps 200              # demo budget, CPU
  python research/ablation.py --workdir runs/ablation_long --steps 2000 --parallel 10  # an accelerator

Every variant is a config, `configs/ablations.py:<variant>` (`configs/default.py` with a few
settings changed; that file gives each one's command), pretrained by `clp-pretrain` in its own process (up to --parallel at once: on one GPU the small steps of
several runs overlap), exported with `clp-export`, and all are evaluated together by `clp-eval`'s
`run` (3-fold subject-exclusive linear probe; all_present, prevalence, random_init and supervised
baselines). A run past
--budget_s gets SIGTERM, which saves a checkpoint and exits, and the table says at which step it
stopped; rerunning the same command resumes every unfinished run.

With --seeds 0,1,2 every variant is pretrained once per seed (runs `<variant>_seed<N>`; seed 0 keeps
the plain name) and the table gives the mean and standard deviation over seeds, each seed's F1,
and how many seeds beat `clp` of the same seed: at the demo budget one seed's F1 moves by ~0.01,
as much as most differences between variants.

Columns: mean F1 over the 14 AUs; `gap` = (F1 - random_init) / (supervised - random_init), the share
of the gap to the supervised upper bound closed, given only where the report's scale resolves
encoders (`clp_jax.eval.baselines.scale`: supervised above all_present by > 3 fold SDs); seen - unseen F1 (the drop CIR should shrink);
the first and last logged loss. The over-seeds table adds the probed features' person
independence (`clp_jax.eval.person_independence`: subject share of variance, cross-subject
nearest-neighbour AU F1), averaged over seeds.
"""

import argparse
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
sys.path.insert(0, ROOT)

from clp_jax import config_files  # pylint: disable=g-import-not-at-top,wrong-import-position

ABLATIONS = os.path.join(ROOT, "configs", "ablations.py")
# name -> (what it tests, {setting: value}): the variants are configs, not this script's
VARIANTS = config_files.module(ABLATIONS).VARIANTS


def run_name(variant: str, seed: int) -> str:
  return variant if seed == 0 else f"{variant}_seed{seed}"


def _split(run: str) -> tuple:
  """run name -> (variant, seed)."""
  variant, _, seed = run.partition("_seed")
  return variant, int(seed or 0)


def _pretrain_cmd(run, args):
  variant, seed = _split(run)
  cmd = [sys.executable, "-m", "clp_jax.pretrain.cli", f"--config={ABLATIONS}:{variant}",
         "--workdir", os.path.join(args.workdir, run),
         f"--config.num_steps={args.steps}", f"--config.data.data_dir={args.data_dir}",
         f"--config.data.num_threads={args.num_threads}", f"--config.seed={seed}",
         f"--config.checkpoint_every={max(50, args.steps // 4)}",
         # the newest checkpoint resumes a run and is what clp-export reads; older ones only fill
         # the disk (~170 MB each: a sweep of 16 runs kept 8 GB)
         f"--config.keep_checkpoints={args.keep_checkpoints}"]
  return cmd


def _add_pretrain_seconds(workdir, name, seconds) -> float:
  """Adds this invocation's seconds to the run's total in workdir/pretrain_s.json; returns it.

  A rerun of the command resumes unfinished runs and reopens finished ones for a few seconds, so
  the table's time is the sum over invocations, not the last one's.
  """
  path = os.path.join(workdir, "pretrain_s.json")
  totals = {}
  if os.path.exists(path):
    with open(path) as f:
      totals = json.load(f)
  totals[name] = totals.get(name, 0.0) + seconds
  with open(path + ".tmp", "w") as f:
    json.dump(totals, f, indent=1)
  os.replace(path + ".tmp", path)
  return totals[name]


def pretrain_all(names, args):
  """Runs the pretrainings, --parallel at a time; SIGTERM at --budget_s. Returns {name: seconds}."""
  pending, running, took = list(names), {}, {}
  start = time.time()
  env = dict(os.environ, XLA_PYTHON_CLIENT_PREALLOCATE="false", PYTHONUNBUFFERED="1")
  env["PYTHONPATH"] = ROOT + os.pathsep + env.get("PYTHONPATH", "")
  os.makedirs(args.workdir, exist_ok=True)
  while pending or running:
    while pending and len(running) < args.parallel:
      name = pending.pop(0)
      log = open(os.path.join(args.workdir, f"{name}.log"), "a")
      running[name] = (subprocess.Popen(_pretrain_cmd(name, args), stdout=log, stderr=log, env=env),
                       time.time(), log)
    for name, (proc, t0, log) in list(running.items()):
      if args.budget_s and time.time() - start > args.budget_s and proc.poll() is None:
        proc.send_signal(signal.SIGTERM)  # saves a checkpoint and exits
        proc.wait()
      if proc.poll() is not None:
        log.close()
        took[name] = _add_pretrain_seconds(args.workdir, name, time.time() - t0)
        if proc.returncode:
          print(f"ablation: {name} failed (exit {proc.returncode}); see "
                f"{os.path.join(args.workdir, name + '.log')}", file=sys.stderr)
        del running[name]
    time.sleep(1.0)
  return took


def main():
  p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
  p.add_argument("--workdir", required=True)
  p.add_argument("--data_dir", default="data")
  p.add_argument("--steps", type=int, default=200)
  p.add_argument("--variants", default=",".join(VARIANTS), help="comma-separated names of VARIANTS")
  p.add_argument("--seeds", default="0", help="comma-separated config seeds; each variant runs once per seed")
  p.add_argument("--parallel", type=int, default=1, help="pretrainings at once")
  p.add_argument("--num_threads", type=int, default=2, help="input threads per pretraining")
  p.add_argument("--keep_checkpoints", type=int, default=1, help="checkpoints kept per run")
  p.add_argument("--budget_s", type=float, default=0, help="SIGTERM pretrainings after this (0: none)")
  p.add_argument("--eval_arg", default="", help="argument of configs/eval/synthetic_au.py")
  p.add_argument("--features", default="backbone", choices=["backbone", "au_code"],
                 help="au_code: the AU head's output, against an untrained ResNet + AU head; "
                      "supervised comes from ablation_backbone.json in --workdir, if there")
  p.add_argument("--baselines", default="random_init,all_present,prevalence,supervised",
                 help="baselines of the report (supervised is the costly one)")
  p.add_argument("--baselines_from", default="",
                 help="a clp-eval report.json of the same corpus and protocol whose baseline rows "
                      "stand in for those not in --baselines (e.g. a converged supervised "
                      "baseline, 80 min on the 2-core CPU, computed once for every sweep)")
  p.add_argument("--skip_pretrain", action="store_true", help="evaluate the runs as they are")
  args = p.parse_args()
  variants = args.variants.split(",")
  unknown = [n for n in variants if n not in VARIANTS]
  if unknown:
    p.error(f"unknown variants {unknown}; known: {list(VARIANTS)}")
  try:
    seeds = [int(x) for x in args.seeds.split(",")]
  except ValueError:
    p.error(f"--seeds must be comma-separated integers, got {args.seeds!r}")
  # Seed-major order: an interrupted sweep has every variant at the first seeds.
  names = [run_name(v, seed) for seed in seeds for v in variants]

  if args.skip_pretrain:
    path = os.path.join(args.workdir, "pretrain_s.json")
    took = {}
    if os.path.exists(path):
      with open(path) as f:
        took = json.load(f)
  else:
    took = pretrain_all(names, args)
  import jax  # pylint: disable=g-import-not-at-top  (after the children: they own the accelerator)
  # pylint: disable=g-import-not-at-top
  from clp_jax.eval import baselines
  from clp_jax.eval import runner
  from clp_jax.export import encoder as export
  from clp_jax.pretrain import train
  # pylint: enable=g-import-not-at-top
  exported, infos = [], {}
  for name in names:
    try:
      infos[name] = export.export(os.path.join(args.workdir, name),
                                  os.path.join(args.workdir, "export", name))
      exported.append(name)
    except FileNotFoundError as e:
      print(f"ablation: {name} has no checkpoint: {e}", file=sys.stderr)
  config = config_files.load(os.path.join(ROOT, "configs", "eval", "synthetic_au.py"), args.eval_arg)
  config.data.data_dir = args.data_dir
  config.features = args.features
  suffix = args.features
  # With au_code features, supervised (which has no AU code) is read from the backbone run.
  config.baselines = tuple(b for b in args.baselines.split(",")
                           if b and not (args.features == "au_code" and b == "supervised"))
  reference = os.path.join(args.workdir, "ablation_backbone.json")
  t0 = time.time()
  report = runner.run(config, [os.path.join(args.workdir, "export", n) for n in exported],
                        exported, os.path.join(args.workdir, "eval_" + suffix))
  eval_s = time.time() - t0
  by_name = {r["encoder"]: r for r in report["results"]}
  if args.baselines_from:
    borrowed = borrow_baselines(report, args.baselines_from)
    by_name.update({r["encoder"]: r for r in borrowed})
    report["results"] += borrowed
    report["scale"] = baselines.scale(report["results"])
  if args.features == "au_code" and os.path.exists(reference):
    with open(reference) as f:
      ref = json.load(f)
    by_name.update({r["encoder"]: r for r in ref["report"]["results"]
                    if r["encoder"] == "supervised"})
    took = took or ref.get("pretrain_s", {})
  base = by_name.get("random_init", {}).get("mean_f1", float("nan"))
  top = by_name.get("supervised", {}).get("mean_f1", float("nan"))

  trivial = by_name.get("all_present", {}).get("mean_f1", float("nan"))
  scale = report["scale"]
  lines = [f"Ablation on synthetic_au ({args.steps} steps of configs/default.py, {jax.devices()[0].device_kind}"
           f", features `{args.features}`; all_present {trivial:.3f}, random_init {base:.3f}, "
           f"supervised {top:.3f}; {scale.get('reason', '')}):", "",
           "| variant | what it tests | steps | loss first -> last | held-out loss (seen) | mean F1 | "
           "gap closed | seen - unseen | pretrain s (all invocations) |",
           "|---|---|---|---|---|---|---|---|---|"]
  if not scale.get("resolvable"):
    top = float("nan")  # the scale cannot resolve encoders: no "gap closed"
  for name in exported:
    r = by_name[name]
    hist = train.loss_history(os.path.join(args.workdir, name))
    loss = f"{hist[0][1]:.2f} -> {hist[-1][1]:.2f}" if hist else "-"
    # config.validation's losses at their last evaluation, where the run logged them
    held_out = train.loss_history(os.path.join(args.workdir, name), "heldout/loss")
    seen = train.loss_history(os.path.join(args.workdir, name), "seen/loss")
    held_out = f"{held_out[-1][1]:.2f} ({seen[-1][1]:.2f})" if held_out and seen else "-"
    gap = (r["mean_f1"] - base) / (top - base) if top != base else float("nan")
    drop = r.get("seen_mean_f1", float("nan")) - r.get("unseen_mean_f1", float("nan"))
    lines.append(f"| {name} | {VARIANTS[_split(name)[0]][0]} | {infos[name]['source_step']} | {loss} | "
                 f"{held_out} | {r['mean_f1']:.3f} | {gap:+.0%} | {drop:+.3f} | {took.get(name, 0):.0f} |")
  if len(seeds) > 1:
    lines += _seed_table(variants, seeds, by_name, base, top)
  lines += ["", f"Evaluation took {eval_s:.0f} s."]
  text = "\n".join(lines) + "\n"
  print(text)
  with open(os.path.join(args.workdir, f"ablation_{suffix}.md"), "w") as f:
    f.write(text)
  with open(os.path.join(args.workdir, f"ablation_{suffix}.json"), "w") as f:
    json.dump({"steps": args.steps, "pretrain_s": took, "eval_s": eval_s, "report": report}, f, indent=1)


def borrow_baselines(report: dict, path: str) -> list:
  """The baseline rows of the report at path that `report` lacks, after checking that both
  evaluated the same frames the same way (corpus, protocol, features, AUs, frame count, input
  normalisation)."""
  with open(path) as f:
    other = json.load(f)
  for key in ("corpus", "protocol", "features", "aus", "num_frames", "input_norm"):
    if other.get(key) != report.get(key):
      raise ValueError(f"--baselines_from {path}: its {key} {other.get(key)!r} differs from this "
                       f"evaluation's {report.get(key)!r}; its baselines do not apply")
  have = {r["encoder"] for r in report["results"]}
  names = ("random_init", "all_present", "prevalence", "supervised")
  return [dict(r, borrowed_from=path) for r in other["results"]
          if r["encoder"] in names and r["encoder"] not in have]


def _seed_table(variants, seeds, by_name, base, top) -> list:
  """Mean +- SD over seeds per variant, each seed's F1, and seeds where it beats clp's same seed."""
  f1 = lambda v, s: by_name.get(run_name(v, s), {}).get("mean_f1", float("nan"))

  def person(v, key):
    """Mean over seeds of a person-independence figure of the report, '-' where absent."""
    vals = [by_name[run_name(v, s)]["person_independence"][key] for s in seeds
            if "person_independence" in by_name.get(run_name(v, s), {})]
    return f"{np.mean(vals):.3f}" if vals else "-"

  lines = ["", f"Over seeds {','.join(map(str, seeds))}:", "",
           "| variant | mean F1 +- SD | gap closed (mean) | per seed | seeds above clp | "
           "subject share | cross-subject NN F1 |",
           "|---|---|---|---|---|---|---|"]
  for v in variants:
    vals = np.array([f1(v, s) for s in seeds])
    ok = ~np.isnan(vals)
    mean, sd = vals[ok].mean(), vals[ok].std(ddof=1) if ok.sum() > 1 else float("nan")
    above = sum(f1(v, s) > f1("clp", s) for s in seeds) if v != "clp" else "-"
    gap = (mean - base) / (top - base) if top != base else float("nan")
    lines.append(f"| {v} | {mean:.3f} +- {sd:.3f} | {gap:+.0%} | "
                 f"{' / '.join(f'{x:.3f}' for x in vals)} | {above} | "
                 f"{person(v, 'subject_share')} | {person(v, 'cross_subject_nn_f1')} |")
  return lines


if __name__ == "__main__":
  main()
