"""Trivial AU predictors, and whether a protocol's scale can tell encoders apart at all.

A mean F1 means nothing on its own: with imbalanced AUs, predicting every AU present scores
2p / (1 + p) per AU (p its base rate), which on the synthetic corpus before 2.0.0 beat every
encoder, the supervised one included. Every report therefore holds:

- `all_present`: every AU predicted present in every frame (a constant score of 1).
- `prevalence`: each AU's base rate in the training folds as a constant score (a calibrated
  model that has learnt nothing); at the 0.5 threshold it predicts present only for AUs present
  in more than half of the training frames.

and reads a result as "gap closed" (the share of the untrained -> supervised gap an encoder
covers) only where supervised beats `all_present` by more than RESOLVE_SDS times the fold
spread of supervised; otherwise it says the scale cannot resolve it.
"""

import numpy as np

from clp_jax.eval import evaluate

TRIVIAL = ("all_present", "prevalence")
RESOLVE_SDS = 3.0
_CERTAIN = 20.0  # a logit whose probability is 1 to float32 precision


def trivial_logits(kind: str, data: evaluate.LabelledSet) -> tuple:
  """3-fold results of a trivial predictor: (the result of report.json, out-of-fold logits [N, A]).

  kind: 'all_present' or 'prevalence' (each fold's score is its training parts' base rate of
  each AU over known labels; an AU never present there gets a base rate of 0).
  """
  if kind not in TRIVIAL:
    raise ValueError(f"A trivial baseline is one of {TRIVIAL}, got {kind!r}")
  results = []
  out_of_fold = np.full(data.labels.shape, np.nan, np.float32)
  for k, train, test in evaluate.folds(data):
    if kind == "all_present":
      logits = np.full((int(test.sum()), data.labels.shape[1]), _CERTAIN, np.float32)
    else:
      y = data.labels[train]
      known = (y == 0) | (y == 1)
      rate = np.sum(y == 1, 0) / np.maximum(known.sum(0), 1)
      rate = np.clip(rate, 1e-6, 1 - 1e-6)
      logits = np.broadcast_to(np.log(rate / (1 - rate)).astype(np.float32),
                               (int(test.sum()), data.labels.shape[1])).copy()
    out_of_fold[test] = logits
    results.append(evaluate.fold_result(k, test, logits, data))
  return evaluate.summarise(results, data.aus), out_of_fold


def fold_sd(result: dict) -> float:
  """The SD (ddof=1) of a result's per-fold mean F1s."""
  return float(np.std([f["mean_f1"] for f in result["folds"]], ddof=1))


def scale(results: list, sds: float = RESOLVE_SDS) -> dict:
  """Whether the report's scale resolves encoders, and each one's place on it.

  results: report.json's results (dicts with 'encoder', 'mean_f1', 'folds'). Needs rows named
  'all_present' and 'supervised' to judge; 'random_init' too for the gap closed. Returns
  {"resolvable": bool or None, "reason": str, "supervised_margin": supervised - all_present,
   "supervised_fold_sd", "encoders": {name: {"vs_all_present", "fold_sd", "above_all_present"
   (margin > sds fold SDs of the encoder), "gap_closed" (None where the scale cannot resolve,
   or supervised is not above random_init)}}}.
  """
  by_name = {r["encoder"]: r for r in results}
  out = {"resolvable": None, "resolve_sds": sds, "encoders": {}}
  if "all_present" not in by_name or "supervised" not in by_name:
    out["reason"] = "needs the all_present and supervised baselines in the same report"
    return out
  trivial, sup = by_name["all_present"]["mean_f1"], by_name["supervised"]["mean_f1"]
  margin, sd = sup - trivial, fold_sd(by_name["supervised"])
  out.update(supervised_margin=margin, supervised_fold_sd=sd, resolvable=bool(margin > sds * sd))
  out["reason"] = (f"supervised beats all_present by {margin:+.3f}, "
                   + (f"more than {sds:g} x its fold SD ({sd:.3f})" if out["resolvable"] else
                      f"not more than {sds:g} x its fold SD ({sd:.3f}): the scale cannot resolve "
                      f"encoders"))
  untrained = by_name.get("random_init", {}).get("mean_f1")
  if out["resolvable"] and untrained is not None and sup <= untrained:
    out["reason"] += (f"; but supervised ({sup:.3f}) is not above random_init ({untrained:.3f}): "
                      f"no gap to close (train it longer)")
  for r in results:
    if r["encoder"] in TRIVIAL or r["encoder"] == "supervised":
      continue
    e = {"vs_all_present": r["mean_f1"] - trivial, "fold_sd": fold_sd(r)}
    e["above_all_present"] = bool(e["vs_all_present"] > sds * e["fold_sd"])
    e["gap_closed"] = None
    # The gap is measured only where there is one: supervised above the untrained network.
    if (out["resolvable"] and untrained is not None and sup > untrained
        and r["encoder"] != "random_init"):
      e["gap_closed"] = float((r["mean_f1"] - untrained) / (sup - untrained))
    out["encoders"][r["encoder"]] = e
  return out
