"""Initialising a Flax module's variables: the one place that chooses the random bits."""

import jax


def init_variables(module, rng, *args, **kwargs) -> dict:
  """`module.init(rng, *args, **kwargs)` drawn with threefry's classic (non-partitionable) bits.

  Call it inside a jitted function. Why: jax 0.10 draws with the partitionable threefry by
  default, whose per-parameter code XLA:CPU compiles slowly: the CLP model's jitted init took
  10-17 s to compile against 5-7 s with the classic bits (32 px tiny model, 2-core CPU,
  2026-11-29), paid by every pretraining, every supervised baseline and every random_init
  baseline. The partitionable bits only matter where the initial parameters are *sharded*
  (each device drawing its own slice); this project's state is replicated, so nothing else
  changes. The values differ from the partitionable draw, seed for seed, and are as deterministic.
  """
  with jax.threefry_partitionable(False):
    return module.init(rng, *args, **kwargs)
