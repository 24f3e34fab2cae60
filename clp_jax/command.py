"""What every clp_jax command does around its work: this project's XLA:CPU flags before JAX
starts its backend, absl's flag parsing (`--helpfull` lists every flag), and the errors a user can
act on (a missing file, a bad setting) printed as one line `clp-x: error: ...` with exit code 2
instead of a traceback."""

import sys

from absl import app

from clp_jax import xla_cpu

USER_ERRORS = (FileNotFoundError, ValueError)


def run(name: str, work, errors: tuple = ()) -> None:
  """Runs `work(argv) -> exit code (None = 0)` as the command `name`; never returns.

  errors: exception types besides USER_ERRORS that mean bad input, not a bug.
  """
  xla_cpu.configure()

  def main(argv):
    try:
      return work(argv)
    except USER_ERRORS + tuple(errors) as e:
      print(f"{name}: error: {e}", file=sys.stderr)
      return 2

  app.run(main)
