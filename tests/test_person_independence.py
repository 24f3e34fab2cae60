"""Person-independence measures against independent computations (least squares, scikit-learn)."""

import numpy as np
import pytest
from sklearn.metrics import f1_score
from sklearn.neighbors import NearestNeighbors

from clp_jax.eval import person_independence as pi


def _data(seed, n=300, subjects=6, dim=5):
  rng = np.random.default_rng(seed)
  subj = rng.integers(0, subjects, n)
  feats = rng.normal(size=(n, dim)) + rng.normal(size=(subjects, dim))[subj] * rng.uniform(0, 2)
  return feats, subj


@pytest.mark.parametrize("seed", range(3))
def test_subject_share_is_r2_of_subject_one_hot_regression(seed):
  feats, subj = _data(seed)
  x = (feats - feats.mean(0)) / feats.std(0)
  one_hot = (subj[:, None] == np.unique(subj)[None]).astype(float)
  coef, *_ = np.linalg.lstsq(one_hot, x, rcond=None)
  explained = np.sum((one_hot @ coef) ** 2)  # x is centred, one_hot spans the constant
  assert pi.subject_share(feats, subj) == pytest.approx(explained / np.sum(x ** 2), rel=1e-9)


def test_subject_share_extremes():
  subj = np.repeat(np.arange(4), 50)
  rng = np.random.default_rng(0)
  assert pi.subject_share(rng.normal(size=(4, 3))[subj], subj) == pytest.approx(1.0)
  # Features unrelated to the subject: between-subject share ~ (S - 1) / (N - 1).
  assert pi.subject_share(rng.normal(size=(200, 64)), subj) < 3 * 3 / 199


@pytest.mark.parametrize("seed", range(3))
def test_neighbours_match_scikit_learn_excluding_own_subject(seed):
  feats, subj = _data(seed)
  queries = np.arange(0, 300, 7)
  got = pi.cross_subject_neighbours(feats, subj, queries, block=16)
  x = (feats - feats.mean(0)) / feats.std(0)
  for q, g in zip(queries, got):
    others = np.flatnonzero(subj != subj[q])
    nn = NearestNeighbors(n_neighbors=1, metric="cosine").fit(x[others])
    want = others[nn.kneighbors(x[q:q + 1], return_distance=False)[0, 0]]
    assert subj[g] != subj[q]
    assert g == want


def test_retrieval_f1_matches_scikit_learn_and_beats_chance_on_label_features():
  rng = np.random.default_rng(1)
  n, subjects = 400, 8
  subj = rng.integers(0, subjects, n)
  labels = (rng.random((n, 4)) < 0.3).astype(np.int8)
  feats = labels + 0.05 * rng.normal(size=labels.shape)  # features that are the AUs themselves
  queries = np.arange(n)
  got = pi.cross_subject_retrieval(feats, subj, labels, queries)
  nn = pi.cross_subject_neighbours(feats, subj, queries)
  want = [f1_score(labels[:, a], labels[nn, a]) for a in range(4)]
  np.testing.assert_allclose(got["f1"], want)
  chance = pi.cross_subject_retrieval(feats, subj, labels, queries, random_neighbour=True)
  assert got["mean_f1"] > 0.9 > 0.5 > chance["mean_f1"]
  assert all(subj[i] != subj[j] for i, j in zip(
      queries, pi.cross_subject_neighbours(feats, subj, queries, random_neighbour=True)))
