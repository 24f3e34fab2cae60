"""clp-export: the encoder alone, out of a pretraining workdir, for evaluation and for PyTorch.

  clp-export --workdir runs/default --out exports/default [--step N]

What it writes: `clp_jax.export.encoder`.
"""

import argparse
import sys

from clp_jax import xla_cpu
from clp_jax.export import encoder


def main(argv=None) -> int:
  xla_cpu.configure()  # before JAX starts its backend: this process's XLA:CPU flags
  parser = argparse.ArgumentParser(prog="clp-export", description=__doc__,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument("--workdir", required=True)
  parser.add_argument("--out", required=True)
  parser.add_argument("--step", type=int, default=None)
  args = parser.parse_args(argv)
  try:
    info = encoder.export(args.workdir, args.out, args.step)
  except (FileNotFoundError, ValueError) as e:
    print(f"clp-export: error: {e}", file=sys.stderr)
    return 2
  print(f"Exported {info['architecture']} (step {info['source_step']}, input {info['input_size']} px, "
        f"AU code {info['au_code_dim']}-d) to {args.out}")
  return 0


if __name__ == "__main__":
  sys.exit(main())
