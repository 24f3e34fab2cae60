"""clp_jax: contrastive learning of person-independent facial AU representations, in JAX."""

__version__ = "0.1.0"
