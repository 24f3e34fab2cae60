"""XLA:CPU settings for this project's CPU runs, applied by the command-line tools when they start
(and by the tests' conftest and the step benchmarks); importing `clp_jax` does not apply them.

XLA reads `XLA_FLAGS` when its backend starts (the first computation), so `configure()` must run
before that; a library user who wants the same speed calls `clp_jax.xla_cpu.configure()` first. Flags named here only
affect the CPU backend; a flag the user already put in `XLA_FLAGS` is left as they set it.

Why: jax 0.10's XLA:CPU sends convolutions through YNNPACK fusions by default. On this
project's 2-core CPU the CLP train step ran 14-18% faster with those fusions off (Eigen's
convolutions instead): 1.21 -> 1.04 s at 4 clips x 8 frames x 112 px, 1.35 -> 1.09 s at the
default 8 x 8 x 80 px (`benchmarks/train_step.py`, alternating runs).
"""

import os

FLAGS = ("--xla_cpu_experimental_ynn_fusion_type=",)  # empty list: no YNNPACK fusions


def configure(environ=os.environ) -> str:
  """Appends FLAGS to environ['XLA_FLAGS'] unless already named there; returns the new value."""
  current = environ.get("XLA_FLAGS", "")
  added = [f for f in FLAGS if f.split("=")[0] not in current]
  environ["XLA_FLAGS"] = " ".join([current] + added).strip()
  return environ["XLA_FLAGS"]
