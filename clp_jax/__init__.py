"""clp_jax: contrastive learning of person-independent facial AU representations, in JAX.

Importing it changes nothing in the process (no environment variables, no JAX backend): the
command-line tools apply this project's XLA:CPU flags (`clp_jax.xla_cpu`) when they start.
"""

__version__ = "0.1.0"
