"""Shared fixtures. Eight CPU devices are forced before JAX starts, so sharding is tested for real."""

import os

os.environ.setdefault("XLA_FLAGS", "--xla_force_host_platform_device_count=8")
os.environ.setdefault("CLP_BUILD_WORKERS", "2")
from clp_jax import xla_cpu  # pylint: disable=g-import-not-at-top,wrong-import-position

xla_cpu.configure()  # the CLIs' XLA:CPU flags, for the in-process runs too
# Most of this suite's time is XLA:CPU compiling train steps, and many tests compile the same
# program (a 2-step tiny run; one CLI run started three times). JAX's persistent compilation
# cache, shared by the xdist workers and the CLI subprocesses (they inherit the variable), compiles
# each once: three of the train tests took 953 s without it and 464 s with it (2-core CPU,
# 2026-11-29). Its keys hold the program, the flags and the jax version, so a stale entry is
# never reused; the folder is the checkout's own (git-ignored), never a shared /tmp one, since
# JAX trusts what it finds there.
os.environ.setdefault("JAX_COMPILATION_CACHE_DIR",
                      os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                   ".jax_test_cache"))


import pytest  # pylint: disable=g-import-not-at-top

from data_builders.synthetic_au import synthetic_au_dataset_builder as sau  # pylint: disable=g-import-not-at-top


TINY = sau.TINY


def tiny_config(kind: str) -> str:
  """The registered tiny config's name: 6 subjects (2 per part), 2 videos of 24 frames."""
  return f"tiny_{kind}"


@pytest.fixture(scope="session")
def tiny_data_dir(tmp_path_factory) -> str:
  """A data_dir holding the tiny synthetic_au corpus, both configs, built once per session."""
  data_dir = str(tmp_path_factory.mktemp("tfds"))
  for kind in ("pretrain", "labelled"):
    sau.SyntheticAu(config=tiny_config(kind), data_dir=data_dir,
                    file_format="array_record").download_and_prepare()
  return data_dir
