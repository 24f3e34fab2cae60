"""Evaluation reports: report.json (the contract later tools read), report.md, f1_per_au.png."""

import json
import os

import numpy as np


def markdown(report: dict) -> str:
  aus = report["aus"]
  lines = [f"# AU detection: {report['corpus']}, protocol `{report['protocol']}`", "",
           "3-fold subject-exclusive cross-validation; F1 of the positive class at probability 0.5,"
           " mean over AUs, averaged over folds.", "",
           "| encoder | mean F1 | " + " | ".join(aus) + " |",
           "|---|---|" + "---|" * len(aus)]
  for r in report["results"]:
    lines.append(f"| {r['encoder']} | **{r['mean_f1']:.3f}** | "
                 + " | ".join(f"{r['per_au_f1'][a]:.3f}" for a in aus) + " |")
  lines += _supervised_lines(report)
  lines += _scale_lines(report.get("scale"))
  if any("seen_mean_f1" in r for r in report["results"]):
    lines += ["", "Subjects seen in pretraining vs unseen (test folds by whether their part was in "
              "the encoder's pretraining split):", "",
              "| encoder | seen F1 | unseen F1 | drop |", "|---|---|---|---|"]
    for r in report["results"]:
      if "seen_mean_f1" in r:
        lines.append(f"| {r['encoder']} | {r['seen_mean_f1']:.3f} | {r['unseen_mean_f1']:.3f} | "
                     f"{r['seen_mean_f1'] - r['unseen_mean_f1']:+.3f} |")
  pi = [r for r in report["results"] if "person_independence" in r]
  if pi:
    chance = pi[0]["person_independence"]["cross_subject_nn_chance_f1"]
    lines += ["", "Person independence of the probed features (`clp_jax.eval.person_independence`): "
              "share of their variance between subject means (lower: less identity), and the "
              "mean AU F1 of each frame's nearest neighbour among other subjects' frames "
              f"(higher: same AUs across people are close; a random neighbour gives {chance:.3f}):",
              "", "| encoder | subject share | cross-subject NN F1 |", "|---|---|---|"]
    for r in pi:
      p = r["person_independence"]
      lines.append(f"| {r['encoder']} | {p['subject_share']:.3f} | {p['cross_subject_nn_f1']:.3f} |")
  lines += ["", "| encoder | " + " | ".join(f"fold {f['fold']}" for f in report["results"][0]["folds"])
            + " |", "|---|" + "---|" * len(report["results"][0]["folds"])]
  for r in report["results"]:
    # A linear probe's fold also gives the L2 strength chosen inside its training parts.
    lines.append(f"| {r['encoder']} | " + " | ".join(
        f"{f['mean_f1']:.3f}" + (f" (L2 {f['l2']:g})" if "l2" in f else "") for f in r["folds"])
        + " |")
  files = [(r["encoder"], r["predictions"]) for r in report["results"] if "predictions" in r]
  if files:
    lines += ["", "Per-frame out-of-fold predictions (probability, decision and label per AU; "
              "`clp_jax.eval.predictions`): " + ", ".join(f"{n}: `{f}`" for n, f in files) + "."]
  timed = [(r["encoder"], r["seconds"]) for r in report["results"] if "seconds" in r]
  if timed:
    lines += ["", "Wall time on this machine (features and probe, or training): "
              + ", ".join(f"{n} {s:.0f} s" for n, s in timed) + "."]
  return "\n".join(lines) + "\n"


def _supervised_lines(report) -> list:
  """How long the supervised baseline trained per fold, and whether it stopped improving."""
  sup = next((r for r in report["results"] if r["encoder"] == "supervised"), None)
  if sup is None or "best_step" not in sup["folds"][0]:
    return []
  cap = report.get("supervised", {}).get("steps")
  ran = [f["steps_run"] for f in sup["folds"]]
  best = [f["best_step"] for f in sup["folds"]]
  # A fold converged when its patience ran out before the cap (steps_run < cap); one that ran to
  # the cap may still have been improving, and its best step says how late it last did.
  converged = all(r < cap for r in ran) if cap else None
  verdict = ("it stopped improving on its inner validation subjects in every fold" if converged
             else "**at least one fold ran to the cap before its patience ran out: not shown to "
                  "have converged**, so the gaps below may be measured against a weaker bound")
  return ["", f"Supervised baseline: steps run per fold {' / '.join(map(str, ran))} (cap {cap}), "
              f"best on the inner validation subjects at {' / '.join(map(str, best))}; {verdict}."]


def _scale_lines(scale) -> list:
  """What the baselines say about the scale (`clp_jax.eval.baselines.scale`), as markdown lines."""
  if not scale:
    return []
  if scale.get("resolvable") is None:
    return ["", f"Scale: not judged ({scale['reason']})."]
  head = "resolves encoders" if scale["resolvable"] else "**cannot resolve encoders**"
  lines = ["", f"Scale: this protocol {head}: {scale['reason']}."]
  if scale["encoders"]:
    lines += ["", "| encoder | vs all_present | fold SD | above all_present by > "
              f"{scale['resolve_sds']:g} fold SDs | gap closed (random_init -> supervised) |",
              "|---|---|---|---|---|"]
    for name, e in scale["encoders"].items():
      gap = "-" if e["gap_closed"] is None else f"{100 * e['gap_closed']:.0f}%"
      if name == "random_init":
        gap = "(the reference)"
      elif e["gap_closed"] is None and not scale["resolvable"]:
        gap = "not resolvable"
      lines.append(f"| {name} | {e['vs_all_present']:+.3f} | {e['fold_sd']:.3f} | "
                   f"{'yes' if e['above_all_present'] else 'no'} | {gap} |")
  return lines


def plot(report: dict, path: str) -> None:
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
  aus, results = report["aus"], report["results"]
  x = np.arange(len(aus))
  width = 0.8 / len(results)
  fig, ax = plt.subplots(figsize=(max(6, 0.6 * len(aus) * max(1, len(results) / 2)), 3.5))
  for i, r in enumerate(results):
    ax.bar(x + i * width - 0.4 + width / 2, [r["per_au_f1"][a] for a in aus], width,
           label=f"{r['encoder']} ({r['mean_f1']:.3f})")
  ax.set_xticks(x, aus)
  ax.set_ylabel("F1")
  ax.set_ylim(0, 1)
  ax.set_title(f"{report['corpus']}: per-AU F1, {report['protocol']} protocol")
  ax.legend(fontsize=8)
  fig.tight_layout()
  fig.savefig(path, dpi=120)
  plt.close(fig)


def write(report: dict, workdir: str) -> str:
  os.makedirs(workdir, exist_ok=True)
  with open(os.path.join(workdir, "report.json"), "w") as f:
    json.dump(report, f, indent=2)
  text = markdown(report)
  with open(os.path.join(workdir, "report.md"), "w") as f:
    f.write(text)
  plot(report, os.path.join(workdir, "f1_per_au.png"))
  return text
