"""benchmarks/collapse.py: the chance value of within-clip InfoNCE, and reading TensorBoard logs."""

import pathlib
import sys

import jax.numpy as jnp
import numpy as np
import pytest
import tensorboardX

from clp_jax import losses

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "benchmarks"))
import collapse  # pylint: disable=g-import-not-at-top,wrong-import-position


@pytest.mark.parametrize("length,stride,window", [(8, 2, 2.0), (8, 1, 2.0), (5, 3, 6.0)])
def test_chance_is_the_loss_of_a_collapsed_code(length, stride, window):
  t = jnp.asarray(np.arange(length)[None] * stride + 7)
  z = losses.l2_normalize(jnp.ones((1, length, 4)))  # every frame the same code
  want = float(losses.clip_infonce(z, t, temperature=0.1, pos_window=window, cross_clip=False))
  assert collapse.chance_infonce(length, stride, window) == pytest.approx(want, rel=1e-5)


def test_reads_scalars_back_and_finds_the_steps_at_chance(tmp_path):
  writer = tensorboardX.SummaryWriter(str(tmp_path))
  curve = [1.2, 1.42, 1.43, 1.43, 1.1, 0.9]  # collapses at steps 10-30, then learns
  for i, v in enumerate(curve):
    writer.add_scalar("train/infonce", v, 10 * i)
  writer.close()
  got = collapse.read_scalars(str(tmp_path))["train/infonce"]
  assert [s for s, _ in got] == [0, 10, 20, 30, 40, 50]
  np.testing.assert_allclose([v for _, v in got], curve, rtol=1e-6)
  s = collapse.summarise(got, 1.426, 0.03, 200)
  assert s["first"] == pytest.approx(1.2) and s["steps_at_chance"] == 30
  assert s["last"] == pytest.approx(np.mean(curve[-3:]), rel=1e-6) and not s["ends_at_chance"]
