"""One check of an evaluation config before anything runs: `validate(config)`.

Every setting clp-eval reads, named with what it must be (`configs/eval/synthetic_au.py` has them
all), so the evaluation reads `config.x` directly instead of `.get(key, default)` fallbacks.
"""

from clp_jax import config_schema
from clp_jax.eval import baselines
from clp_jax.models import clp as clp_model
from clp_jax.models import resnet

PROTOCOLS = ("linear", "finetune")
# In the report's order: the trivial predictors, the untrained network, the supervised one.
BASELINES = baselines.TRIVIAL + ("random_init", "supervised")

COUNT = config_schema.number(1, integer=True)
POSITIVE = config_schema.number(0, low_open=True)
_AUGMENT = {
    "crop_scale": config_schema.pair, "crop_ratio": config_schema.pair,
    "flip": config_schema.flag, "brightness": config_schema.number(0),
    "contrast": config_schema.number(0), "saturation": config_schema.number(0),
}


def _subset_of(allowed):
  def check(v):
    ok = isinstance(v, (tuple, list)) and all(x in allowed for x in v)
    return None if ok else f"a tuple of some of {list(allowed)}"
  return check


def _aus(v):
  ok = isinstance(v, (tuple, list)) and all(isinstance(x, int) and x > 0 for x in v)
  return None if ok else "a tuple of AU numbers, e.g. (1, 2, 12); () for every AU the corpus labels"


def _grid(v):
  ok = isinstance(v, (tuple, list)) and v and all(isinstance(x, (int, float)) and x > 0 for x in v)
  return None if ok else "a non-empty tuple of positive L2 strengths"


SCHEMA = {
    "seed": config_schema.number(0, integer=True),
    "protocol": config_schema.one_of(*PROTOCOLS),
    "features": config_schema.one_of("backbone", "au_code"),
    "aus": _aus,
    "batch_size": COUNT,
    "depth": config_schema.one_of(*sorted(resnet.STAGES)),
    "image_size": config_schema.number(16, integer=True),
    "input_norm": config_schema.one_of(*clp_model.INPUT_NORMS),
    "baselines": _subset_of(BASELINES),
    "predictions": config_schema.flag,
    "save_heads": config_schema.flag,
    "data.name": config_schema.text,
    "data.config": config_schema.text,
    "data.data_dir": config_schema.text,
    "data.split": config_schema.text,
    "probe.kind": config_schema.one_of("l2_cv"),
    "probe.l2_grid": _grid,
    "probe.lbfgs_steps": COUNT,
    "supervised.steps": COUNT,
    "supervised.batch_size": COUNT,
    "supervised.lr": POSITIVE,
    "supervised.val_fraction": config_schema.number(0, 0.9),
    "supervised.eval_every": config_schema.number(0, integer=True),
    "supervised.patience": config_schema.number(0, integer=True),
    "finetune.steps": COUNT,
    "finetune.batch_size": COUNT,
    "finetune.lr": POSITIVE,
    "finetune.encoder_lr_scale": config_schema.number(0),
}
SCHEMA.update({f"supervised.augment.{k}": v for k, v in _AUGMENT.items()})
SCHEMA.update({f"finetune.augment.{k}": v for k, v in _AUGMENT.items()})


def problems(config) -> list:
  found = config_schema.problems(config, SCHEMA)
  if found:
    return found
  if config.save_heads and config.protocol != "linear":
    found.append("config.save_heads needs config.protocol 'linear' (the heads are the linear "
                 f"probe's), got {config.protocol!r}")
  if config.supervised.val_fraction > 0 and config.supervised.eval_every < 1:
    found.append("config.supervised.eval_every must be >= 1 when config.supervised.val_fraction "
                 f"> 0 (early stopping measures every eval_every steps), got "
                 f"{config.supervised.eval_every}")
  return found


def validate(config) -> None:
  """Raises ValueError listing every missing or wrong setting of an evaluation config."""
  config_schema.check(problems(config), "evaluation config")
