"""The XLA:CPU flags clp_jax sets on import: added once, never over a user's own setting, in force."""

import jax
import jax.numpy as jnp

from clp_jax import xla_cpu


def test_flags_are_appended_to_what_the_user_set():
  env = {"XLA_FLAGS": "--xla_force_host_platform_device_count=8"}
  value = xla_cpu.configure(env)
  assert value.split() == ["--xla_force_host_platform_device_count=8", *xla_cpu.FLAGS]
  assert xla_cpu.configure(env) == value  # idempotent


def test_a_users_own_value_of_the_flag_wins():
  env = {"XLA_FLAGS": "--xla_cpu_experimental_ynn_fusion_type=dot"}
  assert xla_cpu.configure(env) == "--xla_cpu_experimental_ynn_fusion_type=dot"
  assert xla_cpu.configure({}) == " ".join(xla_cpu.FLAGS)


def test_convolutions_compile_without_ynnpack_fusions():
  # Test modules import clp_jax when collected, before any computation starts the backend.
  x, w = jnp.ones((2, 8, 8, 4)), jnp.ones((3, 3, 4, 4))
  conv = jax.jit(lambda x, w: jax.lax.conv_general_dilated(
      x, w, (1, 1), "SAME", dimension_numbers=("NHWC", "HWIO", "NHWC")))
  hlo = conv.lower(x, w).compile().as_text()
  assert "convolution" in hlo and "ynn_fusion" not in hlo
