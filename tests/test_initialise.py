"""Initial weights drawn with threefry's classic bits: same structure and distribution as flax's
own init, deterministic per seed, and the same on a mesh of any size."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from clp_jax import sharding
from clp_jax.models import initialise
from clp_jax.pretrain import step as step_lib
from tests.test_train import tiny_run_config


def test_same_structure_as_flax_init_and_the_initialisers_distribution():
  module = nn.Dense(256)
  x = jnp.zeros((1, 512))
  got = jax.jit(lambda key: initialise.init_variables(module, key, x))(jax.random.key(0))
  want = module.init(jax.random.key(0), x)
  assert jax.tree.structure(got) == jax.tree.structure(want)
  for a, b in zip(jax.tree.leaves(got), jax.tree.leaves(want)):
    assert (a.shape, a.dtype) == (b.shape, b.dtype)
  kernel = np.asarray(got["params"]["kernel"], np.float64)
  # flax's Dense kernel: LeCun normal, a normal truncated at 2 SD rescaled to variance 1 / fan_in
  assert abs(kernel.var() * 512 - 1) < 0.03, kernel.var() * 512
  assert np.abs(kernel).max() <= 2 / np.sqrt(512) / 0.87962566103423978 + 1e-6
  assert not np.allclose(kernel, np.asarray(want["params"]["kernel"]))  # other bits, same law


def test_deterministic_per_seed_and_different_across_seeds():
  module = nn.Dense(8)
  x = jnp.zeros((1, 4))
  init = jax.jit(lambda key: initialise.init_variables(module, key, x))
  a, b, c = init(jax.random.key(3)), init(jax.random.key(3)), init(jax.random.key(4))
  np.testing.assert_array_equal(a["params"]["kernel"], b["params"]["kernel"])
  assert not np.allclose(a["params"]["kernel"], c["params"]["kernel"])


def test_the_train_state_is_the_same_on_eight_devices_and_on_one(tiny_data_dir):
  """The replicated state's initial weights do not depend on the mesh they are drawn on."""
  config = tiny_run_config(tiny_data_dir)
  one = step_lib.sharded_step(config, sharding.make_mesh(1)).init(jax.random.key(0))
  eight = step_lib.sharded_step(config, sharding.make_mesh()).init(jax.random.key(0))
  assert len(jax.devices()) == 8
  jax.tree.map(np.testing.assert_array_equal, jax.device_get(one.params),
               jax.device_get(eight.params))
