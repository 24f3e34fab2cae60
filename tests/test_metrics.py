"""F1/precision/recall against scikit-learn, with unknown labels masked."""

import numpy as np
import pytest
from sklearn.metrics import f1_score, precision_score, recall_score

from clp_jax.eval import metrics


@pytest.mark.parametrize("seed", range(3))
def test_matches_scikit_learn_on_known_labels(seed):
  rng = np.random.default_rng(seed)
  label = (rng.random((200, 6)) < rng.uniform(0.05, 0.5, 6)).astype(np.int8)
  label[rng.random((200, 6)) < 0.1] = 9  # BP4D's unknown
  pred = rng.random((200, 6)) < 0.3
  got = metrics.f1_scores(pred, label)
  for a in range(6):
    known = label[:, a] != 9
    y, p = label[known, a], pred[known, a]
    assert got["f1"][a] == pytest.approx(f1_score(y, p, zero_division=0))
    assert got["precision"][a] == pytest.approx(precision_score(y, p, zero_division=0))
    assert got["recall"][a] == pytest.approx(recall_score(y, p, zero_division=0))


def test_unknown_is_never_counted_as_absent():
  label = np.array([[1], [9], [9], [0]])
  pred = np.array([[1], [1], [1], [0]])
  assert metrics.f1_scores(pred, label)["f1"][0] == 1.0  # as if the 9s were not there
  assert np.isnan(metrics.f1_scores(pred, np.full((4, 1), -1))["f1"][0])
