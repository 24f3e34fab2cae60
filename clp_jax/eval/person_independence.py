"""How person-independent a frozen representation is: what CIR is meant to improve.

Two measures on features [N, F] of labelled frames with their subjects [N] and AU labels [N, A]:

- `subject_share`: the share of the features' variance that lies between subjects (eta squared,
  summed over standardised feature dimensions): trace(S_between) / trace(S_total), in [0, 1].
  An AU representation of a corpus where every subject shows every AU should have little of its
  variance in the subject means; identity, hair, background and resting face put it there.
- `cross_subject_retrieval`: for each query frame, its nearest neighbour (cosine) among frames of
  *other* subjects, and how well that neighbour's AUs match the query's: per-AU F1 of the
  neighbours' labels taken as predictions of the queries' labels, averaged over AUs. This is
  CIR's claim read directly: faces of different people with similar AUs get similar codes.
  Chance level is what a random other-subject neighbour gives (`random_neighbour=True`).

Labels follow `clp_jax.eval.metrics`: 1 present, 0 absent, anything else unknown (masked).
"""

import numpy as np

from clp_jax.eval import metrics


def _standardise(features: np.ndarray) -> np.ndarray:
  x = np.asarray(features, np.float64)
  return (x - x.mean(0)) / (x.std(0) + 1e-8)


def subject_share(features: np.ndarray, subjects: np.ndarray) -> float:
  """Between-subject share of the variance of standardised features [N, F]; subjects [N]."""
  x = _standardise(features)
  total = np.sum(x ** 2)
  between = 0.0
  for s in np.unique(subjects):
    rows = x[subjects == s]
    between += len(rows) * np.sum(rows.mean(0) ** 2)
  return float(between / max(total, 1e-12))


def cross_subject_neighbours(features: np.ndarray, subjects: np.ndarray, queries: np.ndarray,
                             *, random_neighbour: bool = False, seed: int = 0,
                             block: int = 1024) -> np.ndarray:
  """Index [Q] of each query's nearest other-subject frame by cosine similarity.

  features [N, F]; subjects [N]; queries [Q] indices into the N frames. With random_neighbour
  the neighbour is a uniformly drawn frame of another subject instead (the chance level).
  """
  subjects = np.asarray(subjects)
  queries = np.asarray(queries)
  if random_neighbour:
    rng = np.random.default_rng(seed)
    others = {s: np.flatnonzero(subjects != s) for s in np.unique(subjects[queries])}
    return np.array([rng.choice(others[subjects[q]]) for q in queries], np.int64)
  x = _standardise(features)
  x /= np.linalg.norm(x, axis=1, keepdims=True) + 1e-12
  out = np.empty(len(queries), np.int64)
  for start in range(0, len(queries), block):
    q = queries[start:start + block]
    sim = x[q] @ x.T  # [b, N]
    sim[subjects[q][:, None] == subjects[None, :]] = -np.inf
    out[start:start + block] = np.argmax(sim, axis=1)
  return out


def cross_subject_retrieval(features: np.ndarray, subjects: np.ndarray, labels: np.ndarray,
                            queries: np.ndarray, **kwargs) -> dict:
  """Mean over AUs of the F1 of other-subject nearest neighbours' labels vs the queries' labels.

  Returns {'mean_f1': float, 'f1': [A] array}. kwargs go to `cross_subject_neighbours`.
  A neighbour's unknown label counts as absent (a prediction must be 0 or 1); the query's
  unknown labels are masked.
  """
  nn = cross_subject_neighbours(features, subjects, queries, **kwargs)
  pred = np.asarray(labels)[nn] == 1
  f1 = metrics.f1_scores(pred, np.asarray(labels)[queries])["f1"]
  return {"mean_f1": float(np.nanmean(f1)), "f1": f1}


def summary(features: np.ndarray, subjects: np.ndarray, labels: np.ndarray) -> dict:
  """Both measures with every frame as a query: {'subject_share', 'cross_subject_nn_f1',
  'cross_subject_nn_chance_f1'} (the last from random other-subject neighbours, seed 0)."""
  queries = np.arange(len(subjects))
  chance = cross_subject_retrieval(features, subjects, labels, queries, random_neighbour=True)
  return {"subject_share": subject_share(features, subjects),
          "cross_subject_nn_f1": cross_subject_retrieval(features, subjects, labels,
                                                         queries)["mean_f1"],
          "cross_subject_nn_chance_f1": chance["mean_f1"]}
