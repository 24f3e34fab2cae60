"""The train state and what a pretraining config builds: the CLP model and its optimiser."""

from typing import Any

import flax
import jax
import jax.numpy as jnp
import optax

from clp_jax.models import clp as clp_model
from clp_jax.models import initialise
from clp_jax.pretrain import losses


@flax.struct.dataclass
class TrainState:
  step: jax.Array
  params: Any
  batch_stats: Any
  opt_state: Any
  ema_params: Any  # momentum encoder (MoCo); None when off
  queue: Any       # [Q, proj_dim] keys of past batches; None when off


def make_model(config) -> clp_model.CLPModel:
  m = config.model
  return clp_model.CLPModel(depth=m.depth, au_dim=m.au_dim, person_dim=m.person_dim,
                            proj_dim=m.proj_dim, hidden=m.hidden, decoder_size=m.decoder_size,
                            person_encoder=m.person_encoder,
                            dtype=jnp.dtype(m.dtype))


def make_optimizer(config) -> optax.GradientTransformation:
  o = config.optimizer
  schedule = optax.warmup_cosine_decay_schedule(0.0, o.lr, o.warmup_steps,
                                                max(config.num_steps, o.warmup_steps + 1))
  if o.name == "sgd":
    opt = optax.chain(optax.add_decayed_weights(o.weight_decay),
                      optax.sgd(schedule, momentum=o.momentum, nesterov=True))
  elif o.name == "adamw":
    opt = optax.adamw(schedule, weight_decay=o.weight_decay)
  else:
    raise ValueError(f"config.optimizer.name must be 'sgd' or 'adamw', got {o.name!r}")
  return optax.chain(optax.clip_by_global_norm(o.grad_clip), opt)


def create_state(rng: jax.Array, *, model, tx, config) -> TrainState:
  x = jnp.zeros((1, config.image_size, config.image_size, 3), jnp.float32)
  variables = initialise.init_variables(model, rng, x, method=model.init_all)
  params = variables["params"]
  queue = None
  if config.loss.moco > 0:
    queue = losses.l2_normalize(jax.random.normal(jax.random.fold_in(rng, 1),
                                                  (config.loss.queue_size, config.model.proj_dim)))
  return TrainState(step=jnp.zeros((), jnp.int32), params=params,
                    batch_stats=variables["batch_stats"], opt_state=tx.init(params),
                    ema_params=params if config.loss.moco > 0 else None, queue=queue)
