"""Each loss against a plain NumPy loop, and on 8 devices against 1."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from clp_jax import sharding
from clp_jax.pretrain import losses


def _codes(rng, b=3, k=5, d=6):
  z = rng.normal(size=(b, k, d))
  z /= np.linalg.norm(z, axis=-1, keepdims=True)
  t = np.cumsum(rng.integers(1, 3, size=(b, k)), axis=1) + rng.integers(0, 50, size=(b, 1))
  return z.astype(np.float32), t.astype(np.int32)


def ref_margin(z, t, pos_window, margin, max_margin):
  total, count = 0.0, 0
  b, k, _ = z.shape
  for c in range(b):
    for i in range(k):
      for j in range(k):
        gij = abs(t[c, i] - t[c, j])
        if not 0 < gij <= pos_window:
          continue
        for l in range(k):
          gil = abs(t[c, i] - t[c, l])
          if gil <= gij:
            continue
          dij = np.sum((z[c, i] - z[c, j]) ** 2)
          dil = np.sum((z[c, i] - z[c, l]) ** 2)
          m = min(max_margin, margin * (gil - gij) / pos_window)
          total += max(0.0, dij - dil + m)
          count += 1
  return total / max(count, 1)


def ref_infonce(z, t, temperature, pos_window, cross_clip):
  """Per anchor: positives are its clip's frames within pos_window, candidates every other frame
  of its clip (and, cross_clip, every frame of the other clips)."""
  b, k, _ = z.shape
  losses_ = []
  for c in range(b):
    for i in range(k):
      pos, cand = [], []
      for c2 in range(b):
        same = c2 == c
        if not same and not cross_clip:
          continue
        for j in range(k):
          if same and j == i:
            continue
          s = np.exp(z[c, i] @ z[c2, j] / temperature)
          cand.append(s)
          if same and abs(t[c, i] - t[c2, j]) <= pos_window:
            pos.append(s)
      if pos:
        losses_.append(-np.log(sum(pos) / sum(cand)))
  return np.mean(losses_)


@pytest.mark.parametrize("seed", [0, 1])
def test_temporal_margin_loss_matches_numpy(seed):
  z, t = _codes(np.random.default_rng(seed))
  got = losses.temporal_margin_loss(jnp.asarray(z), jnp.asarray(t), pos_window=2, margin=0.2,
                                    max_margin=0.5)
  np.testing.assert_allclose(float(got), ref_margin(z, t, 2, 0.2, 0.5), rtol=1e-5)


@pytest.mark.parametrize("cross_clip", [False, True])
def test_clip_infonce_matches_numpy(cross_clip):
  z, t = _codes(np.random.default_rng(2))
  got = losses.clip_infonce(jnp.asarray(z), jnp.asarray(t), temperature=0.2, pos_window=2,
                            cross_clip=cross_clip)
  np.testing.assert_allclose(float(got), ref_infonce(z, t, 0.2, 2, cross_clip), rtol=1e-5)


def test_queue_infonce_matches_numpy():
  rng = np.random.default_rng(3)
  q, key, queue = (losses.l2_normalize(jnp.asarray(rng.normal(size=s), jnp.float32))
                   for s in ((4, 5), (4, 5), (7, 5)))
  q, key, queue = np.asarray(q), np.asarray(key), np.asarray(queue)
  ref = np.mean([-np.log(np.exp(q[i] @ key[i] / 0.1) /
                         (np.exp(q[i] @ key[i] / 0.1) + np.exp(queue @ q[i] / 0.1).sum()))
                 for i in range(4)])
  got = losses.queue_infonce(jnp.asarray(q), jnp.asarray(key), jnp.asarray(queue), temperature=0.1)
  np.testing.assert_allclose(float(got), ref, rtol=1e-5)


def test_code_consistency_stops_gradient_at_the_target():
  rng = np.random.default_rng(4)
  a, b = (jnp.asarray(rng.normal(size=(3, 4)), jnp.float32) for _ in range(2))
  w = jnp.array([1.0, 0.0, 1.0])
  ga, gb = jax.grad(losses.code_consistency_loss, argnums=(0, 1))(a, b, w)
  assert float(jnp.abs(gb).max()) == 0.0 and float(jnp.abs(ga).max()) > 0
  an, bn = np.asarray(losses.l2_normalize(a)), np.asarray(losses.l2_normalize(b))
  ref = (np.sum((an[0] - bn[0]) ** 2) + np.sum((an[2] - bn[2]) ** 2)) / 2
  np.testing.assert_allclose(float(losses.code_consistency_loss(a, b, w)), ref, rtol=1e-5)


def test_cir_infonce_matches_numpy_and_stops_gradient_at_the_target():
  rng = np.random.default_rng(6)
  code, target = (rng.normal(size=(5, 4)).astype(np.float32) for _ in range(2))
  w = np.array([1.0, 0.0, 1.0, 1.0, 0.0], np.float32)
  q = code / np.linalg.norm(code, axis=1, keepdims=True)
  k = target / np.linalg.norm(target, axis=1, keepdims=True)
  per_row = [np.log(np.exp(k @ q[i] / 0.2).sum()) - q[i] @ k[i] / 0.2 for i in range(5)]
  ref = np.sum(w * per_row) / w.sum()
  got = losses.cir_infonce(jnp.asarray(code), jnp.asarray(target), jnp.asarray(w), temperature=0.2)
  np.testing.assert_allclose(float(got), ref, rtol=1e-5)
  gc, gt = jax.grad(functools.partial(losses.cir_infonce, temperature=0.2), argnums=(0, 1))(
      jnp.asarray(code), jnp.asarray(target), jnp.asarray(w))
  assert float(jnp.abs(gt).max()) == 0.0
  # Rows with weight 0 get no gradient; the others do.
  assert float(jnp.abs(gc[1]).max()) == 0.0 and float(jnp.abs(gc[0]).max()) > 0


def test_losses_on_eight_devices_equal_one_device():
  assert jax.device_count() == 8
  z, t = _codes(np.random.default_rng(5), b=8, k=4, d=8)
  mesh = sharding.make_mesh()
  g = sharding.global_batch({"z": z, "t": t}, mesh)
  zs, ts = g["z"], g["t"]
  assert len(zs.sharding.device_set) == 8

  def all_losses(z, t):
    return (losses.temporal_margin_loss(z, t, pos_window=2, margin=0.1, max_margin=0.4),
            losses.clip_infonce(z, t, temperature=0.1, pos_window=2, cross_clip=True),
            losses.clip_infonce(z, t, temperature=0.1, pos_window=2, cross_clip=False))

  one = jax.devices()[0]
  sharded = jax.jit(all_losses)(zs, ts)
  single = jax.jit(all_losses)(*(jax.device_put(a, one) for a in (z, t)))
  for a, b in zip(sharded, single):
    np.testing.assert_allclose(float(a), float(b), rtol=1e-5)
