"""One check of a pretraining config before anything runs: `validate(config)`.

Every setting the code reads is named here with what it must be, so the code reads `config.x`
directly: no `.get(key, default)` whose default could disagree with `configs/default.py`. A config
file written for an older clp_jax (a setting missing) or a typo in a value gets one error listing
every problem by its dotted name, before the corpus is opened or anything is compiled.
"""

from clp_jax import config_schema
from clp_jax.models import clp as clp_model
from clp_jax.models import resnet


WEIGHT = config_schema.number(0)
COUNT = config_schema.number(1, integer=True)

# dotted name -> check (returns None when the value is fine, else what it must be)
SCHEMA = {
    "seed": config_schema.number(0, integer=True),
    "image_size": config_schema.number(16, integer=True),
    "global_batch_size": config_schema.number(2, integer=True),  # CIR pairs each clip with the next one
    "num_steps": COUNT,
    "log_every": COUNT,
    "checkpoint_every": COUNT,
    "keep_checkpoints": COUNT,
    "num_devices": config_schema.optional_count,
    "distributed": config_schema.flag,
    "data.name": config_schema.text,
    "data.config": config_schema.text,
    "data.data_dir": config_schema.text,
    "data.split": config_schema.text,
    "data.shared_view": config_schema.flag,
    "data.num_threads": COUNT,
    "data.augment.crop_scale": config_schema.pair,
    "data.augment.crop_ratio": config_schema.pair,
    "data.augment.flip": config_schema.flag,
    "data.augment.brightness": WEIGHT,
    "data.augment.contrast": WEIGHT,
    "data.augment.saturation": WEIGHT,
    "validation.split": config_schema.text,
    "validation.every": config_schema.number(0, integer=True),
    "validation.batches": COUNT,
    "model.depth": config_schema.one_of(*sorted(resnet.STAGES)),
    "model.au_dim": COUNT,
    "model.person_dim": COUNT,
    "model.proj_dim": COUNT,
    "model.hidden": COUNT,
    "model.decoder_size": config_schema.number(8, integer=True),
    "model.person_encoder": config_schema.one_of(*clp_model.PERSON_ENCODERS),
    "model.dtype": config_schema.one_of("float32", "bfloat16", "float16"),
    "model.input_norm": config_schema.one_of(*clp_model.INPUT_NORMS),
    "loss.pos_window": config_schema.number(0, low_open=True),
    "loss.temporal_margin": WEIGHT,
    "loss.margin": WEIGHT,
    "loss.max_margin": WEIGHT,
    "loss.infonce": WEIGHT,
    "loss.cross_clip_negatives": config_schema.flag,
    "loss.temperature": config_schema.number(0, low_open=True),
    "loss.moco": WEIGHT,
    "loss.moco_momentum": config_schema.number(0, 1),
    "loss.queue_size": COUNT,
    "loss.cir": WEIGHT,
    "loss.cir_person_weight": WEIGHT,
    "loss.cir_loss": config_schema.one_of("mse", "infonce"),
    "loss.cir_temperature": config_schema.number(0, low_open=True),
    "loss.recon": WEIGHT,
    "loss.recon_au_grad": config_schema.flag,
    "loss.cir_frames": COUNT,
    "loss.cir_decoder_grad": config_schema.flag,
    "optimizer.name": config_schema.one_of("sgd", "adamw"),
    "optimizer.lr": config_schema.number(0, low_open=True),
    "optimizer.momentum": config_schema.number(0, 1),
    "optimizer.weight_decay": WEIGHT,
    "optimizer.warmup_steps": config_schema.number(0, integer=True),
    "optimizer.grad_clip": config_schema.number(0, low_open=True),
}

def problems(config) -> list:
  """Every setting that is missing or wrong, as 'config.<name> ...' sentences."""
  found = config_schema.problems(config, SCHEMA)
  if not found and config.loss.max_margin < config.loss.margin:
    found.append(f"config.loss.max_margin ({config.loss.max_margin}) must be >= config.loss.margin "
                 f"({config.loss.margin})")
  return found


def validate(config) -> None:
  """Raises ValueError listing every missing or wrong setting of a pretraining config."""
  config_schema.check(problems(config), "pretraining config")
