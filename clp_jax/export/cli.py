"""clp-export: the encoder alone, out of a pretraining workdir, for evaluation and for PyTorch.

  clp-export --workdir runs/default --out exports/default [--step N]

What it writes: `clp_jax.export.encoder`.
"""


from absl import app
from absl import flags

from clp_jax import command
from clp_jax.export import encoder

_WORKDIR = flags.DEFINE_string("workdir", None, "A pretraining workdir (clp-pretrain --workdir).")
_OUT = flags.DEFINE_string("out", None, "Where the export goes.")
_STEP = flags.DEFINE_integer("step", None, "The checkpoint to export (default: the latest).")
flags.mark_flags_as_required(["workdir", "out"])


def _main(argv) -> int:
  if len(argv) > 1:
    raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
  info = encoder.export(_WORKDIR.value, _OUT.value, _STEP.value)
  print(f"Exported {info['architecture']} (step {info['source_step']}, input "
        f"{info['input_size']} px, AU code {info['au_code_dim']}-d) to {_OUT.value}")


def main():
  command.run("clp-export", _main)


if __name__ == "__main__":
  main()
