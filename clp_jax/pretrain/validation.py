"""Held-out pretraining losses: the CLP loss terms on fixed clips of subjects never trained on.

The AU probe needs labels and minutes an encoder; these need neither. The same number of fixed
batches is scored from the pretraining split ('seen') and from a split of other subjects
('heldout'), both with batch norm in inference mode, so the two read on one scale: a seen loss
that keeps falling while the held-out one stalls or rises says the encoder is fitting the
pretraining videos themselves, not what faces do (2,000 steps of the default make 17 passes over
its split).

    validator = Validator(config, mesh, sharded_step)   # draws the batches once
    validator(state) -> {"seen/loss": .., "heldout/loss": .., "heldout/infonce": .., ...}
"""

import jax

from clp_jax import sharding
from clp_jax.data import pipeline
from clp_jax.data import sources

# The fixed batches' order and crops differ from the training stream's (whose seed is config.seed).
SEED_OFFSET = 10_007


def split_names(split: str) -> set:
  """'part1+part2' -> {'part1', 'part2'}; slices ('train[:90%]') keep their base name."""
  return {s.strip().split("[")[0] for s in split.split("+") if s.strip()}


def fixed_batches(config, split: str, num_batches: int) -> list:
  """num_batches host batches of split's clips, drawn once with a fixed seed.

  The clips go through config.data's transforms (crop, flip: the losses are defined on the views
  the encoder trains on). Each batch is a dict as `pipeline.pretrain_dataset` yields: "clip" [B_local, K, H, W, 3] uint8, "view"
  [B_local, K, VIEW_DIM], "frame_index" [B_local, K], "subject_id" [B_local], ...
  """
  if num_batches < 1:
    raise ValueError(f"config.validation.batches must be >= 1, got {num_batches}")
  source, _ = sources.open_source(config.data.name, config.data.config, split,
                                  config.data.data_dir)
  try:
    data = pipeline.pretrain_dataset_from_config(
        source, config, seed=config.seed + SEED_OFFSET)
  except ValueError as e:
    raise ValueError(f"Split {split!r} of {config.data.name}/{config.data.config} cannot give "
                     f"batches of {config.global_batch_size} clips for the held-out losses "
                     f"(config.validation): {e}") from e
  it = iter(data)
  return [next(it) for _ in range(num_batches)]


def mean_metrics(clp, state, batches: list, mesh) -> dict:
  """The mean over batches of each loss term of `step.eval_step` (floats)."""
  totals = {}
  for batch in batches:
    metrics = jax.device_get(clp.evaluate(state, sharding.global_batch(batch, mesh)))
    for k, v in metrics.items():
      totals[k] = totals.get(k, 0.0) + float(v)
  return {k: v / len(batches) for k, v in totals.items()}


class Validator:
  """The seen and held-out fixed batches of a pretraining config, scored on demand."""

  def __init__(self, config, mesh, clp):
    v = config.validation
    overlap = split_names(v.split) & split_names(config.data.split)
    if overlap:
      raise ValueError(f"config.validation.split={v.split!r} shares {sorted(overlap)} with the "
                       f"pretraining split config.data.split={config.data.split!r}: the held-out "
                       f"losses need subjects the encoder never trains on. Set "
                       f"config.validation.split to other subjects' split, or "
                       f"config.validation.every=0 to turn them off")
    self.mesh, self.clp = mesh, clp
    self.batches = {"seen": fixed_batches(config, config.data.split, v.batches),
                    "heldout": fixed_batches(config, v.split, v.batches)}

  def __call__(self, state) -> dict:
    out = {}
    for name, batches in self.batches.items():
      for k, v in mean_metrics(self.clp, state, batches, self.mesh).items():
        out[f"{name}/{k}"] = v
    return out
