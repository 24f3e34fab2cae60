"""AU detection metrics: per-AU F1 of the positive class, with unknown labels masked.

Labels are int arrays with 1 = present, 0 = absent, and anything else (BP4D's 9, clp_jax's -1)
= unknown: masked, never counted as absent.
"""

import numpy as np


def confusion(pred: np.ndarray, label: np.ndarray) -> dict:
  """pred [N, A] bool/0-1, label [N, A] int -> {'tp', 'fp', 'fn', 'known'}: each [A] int."""
  pred = np.asarray(pred).astype(bool)
  label = np.asarray(label)
  known = (label == 0) | (label == 1)
  pos = label == 1
  return {"tp": np.sum(pred & pos & known, 0), "fp": np.sum(pred & ~pos & known, 0),
          "fn": np.sum(~pred & pos & known, 0), "known": np.sum(known, 0)}


def f1_scores(pred: np.ndarray, label: np.ndarray) -> dict:
  """Per-AU precision, recall and F1 as [A] float arrays in [0, 1].

  An AU with no positive label and no positive prediction has F1 = 0 by the usual convention
  (scikit-learn's zero_division=0); with no known label at all it is NaN, so it is never
  averaged in silently.
  """
  c = confusion(pred, label)
  tp, fp, fn = (c[k].astype(np.float64) for k in ("tp", "fp", "fn"))
  with np.errstate(invalid="ignore", divide="ignore"):
    precision = np.where(tp + fp > 0, tp / (tp + fp), 0.0)
    recall = np.where(tp + fn > 0, tp / (tp + fn), 0.0)
    f1 = np.where(2 * tp + fp + fn > 0, 2 * tp / (2 * tp + fp + fn), 0.0)
  f1 = np.where(c["known"] > 0, f1, np.nan)
  return {"precision": precision, "recall": recall, "f1": f1}
