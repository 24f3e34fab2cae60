"""The CLP train step: one pure function, jitted with shardings for a mesh (`sharded_step`).

    state + global batch --objective.loss_fn--> loss, terms --grad--> optax update
      (skipped, and flagged, when the loss or a gradient is not finite) --> new state, metrics
"""

import dataclasses
import functools
from typing import Any, Callable

import jax
import jax.numpy as jnp
import optax

from clp_jax import sharding
from clp_jax.pretrain import config as config_lib
from clp_jax.pretrain import objective
from clp_jax.pretrain import state as state_lib


def train_step(state: state_lib.TrainState, batch, *, model, tx, config):
  """One optimisation step on a global batch. Returns (new state, metrics).

  A non-finite loss or gradient leaves the state unchanged and sets metrics['finite'] = 0,
  for the host loop to stop on.
  """
  grad_fn = jax.value_and_grad(functools.partial(objective.loss_fn, model=model, config=config),
                               has_aux=True)
  (loss, (metrics, batch_stats, keys)), grads = grad_fn(state.params, state, batch)
  grad_norm = optax.global_norm(grads)
  finite = jnp.isfinite(loss) & jnp.isfinite(grad_norm)
  updates, opt_state = tx.update(grads, state.opt_state, state.params)
  params = optax.apply_updates(state.params, updates)
  ema, queue = state.ema_params, state.queue
  if ema is not None:
    m = config.loss.moco_momentum
    ema = jax.tree.map(lambda e, p: m * e + (1 - m) * p, ema, params)
    queue = jnp.concatenate([keys, queue], axis=0)[:queue.shape[0]]
  new = state_lib.TrainState(step=state.step + 1, params=params, batch_stats=batch_stats,
                             opt_state=opt_state, ema_params=ema, queue=queue)
  # Keep the old state where the step was not finite, so the last good state survives.
  new = jax.tree.map(lambda n, o: jnp.where(finite, n, o), new, state)
  metrics = dict(metrics, grad_norm=grad_norm, finite=finite.astype(jnp.float32))
  return new, metrics


def eval_step(state: state_lib.TrainState, batch, *, model, config) -> dict:
  """The loss and its terms on a batch, batch norm in inference mode; nothing is updated."""
  _, (metrics, _, _) = objective.loss_fn(state.params, state, batch, model=model, config=config,
                                         train=False)
  return metrics


@dataclasses.dataclass(frozen=True)
class ShardedStep:
  """Everything a loop (or a benchmark) needs to run CLP on a mesh.

  init(rng) makes the state already replicated over the mesh; step(state, batch) is jitted with
  the state replicated, the batch split over `data`, and the state donated. step_fn is the plain
  function behind step, for lowering elsewhere (FLOP counts). evaluate(state, batch) gives the
  loss terms of `eval_step` (held-out losses), the state untouched.
  """
  model: Any
  tx: Any
  abstract_state: state_lib.TrainState
  state_sharding: Any
  init: Callable
  step: Callable
  step_fn: Callable
  evaluate: Callable


def sharded_step(config, mesh) -> ShardedStep:
  config_lib.validate(config)
  model, tx = state_lib.make_model(config), state_lib.make_optimizer(config)
  init = functools.partial(state_lib.create_state, model=model, tx=tx, config=config)
  abstract = jax.eval_shape(init, jax.random.key(0))
  state_sharding = jax.tree.map(lambda _: sharding.replicated(mesh), abstract)
  step_fn = functools.partial(train_step, model=model, tx=tx, config=config)
  step = jax.jit(step_fn, in_shardings=(state_sharding, sharding.batch_sharding(mesh)),
                 out_shardings=(state_sharding, None), donate_argnums=0)
  evaluate = jax.jit(functools.partial(eval_step, model=model, config=config),
                     in_shardings=(state_sharding, sharding.batch_sharding(mesh)))
  return ShardedStep(model, tx, abstract, state_sharding,
                     jax.jit(init, out_shardings=state_sharding), step, step_fn, evaluate)
