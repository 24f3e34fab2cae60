"""What every clp_jax command does around its work: this project's XLA:CPU flags before JAX
starts its backend, absl's flag parsing (`--helpfull` lists every flag), and the errors a user can
act on (a missing file, a bad setting) printed as one line `clp-x: error: ...` with exit code 2
instead of a traceback."""

import sys

from absl import app
from absl import flags

from clp_jax import xla_cpu

USER_ERRORS = (FileNotFoundError, ValueError)


def run(name: str, work, errors: tuple = ()) -> None:
  """Runs `work(argv) -> exit code (None = 0)` as the command `name`; never returns.

  errors: exception types besides USER_ERRORS that mean bad input, not a bug.
  """
  xla_cpu.configure()
  # --helpshort lists the flags of the script that was run (sys.argv[0]); a console script
  # (.venv/bin/clp-eval) is not the module that defines them, so name them for it.
  module = sys.modules[work.__module__]
  for flag in flags.FLAGS.get_key_flags_for_module(module):
    flags.FLAGS.register_key_flag_for_module(sys.argv[0], flag)
  main_module = sys.modules["__main__"]
  if not main_module.__doc__:  # the usage absl prints: the command's docstring
    main_module.__doc__ = module.__doc__

  def main(argv):
    try:
      return work(argv)
    except USER_ERRORS + tuple(errors) as e:
      print(f"{name}: error: {e}", file=sys.stderr)
      return 2

  app.run(main)
