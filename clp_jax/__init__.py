"""clp_jax: contrastive learning of person-independent facial AU representations, in JAX."""

from clp_jax import xla_cpu as _xla_cpu

_xla_cpu.configure()

__version__ = "0.1.0"
