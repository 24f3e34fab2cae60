"""The train state and the CLP train step: one pure function, jitted with shardings in train.py.

    clip [B, K, H, W, 3] uint8 + view [B, K, 8] --device_views--> frames [B*K, S, S, 3]
      --encoder--> AU code, person code, projection
      --> temporal margin loss + InfoNCE (inside clips; other clips optional)
        + MoCo queue loss (optional) + CIR: decode(AU_A, person_B) -> encode -> AU_A again
      --> optax update (skipped, and flagged, when the loss or a gradient is not finite)
"""

import dataclasses
import functools
from typing import Any, Callable

import flax
import jax
import jax.numpy as jnp
import optax

from clp_jax import losses
from clp_jax import sharding
from clp_jax.data import augment
from clp_jax.models import clp as clp_model
from clp_jax.models import initialise


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


def _frames(batch, image_size, input_norm):
  """The batch's augmented frames: [B*K, S, S, 3] normalised, and [B, K, S, S, 3] in [0, 255]."""
  views = augment.device_views(batch["clip"], batch["view"], image_size)
  b, k = views.shape[:2]
  return clp_model.normalize(views, input_norm).reshape((b * k,) + views.shape[2:]), views


def loss_fn(params, state: TrainState, batch, *, model, config, train: bool = True):
  """Total loss and (metrics, new batch_stats, moco keys).

  train=False: batch norm uses its running statistics and leaves them as they are (held-out
  losses, `eval_step`).
  """
  cl = config.loss
  input_norm = config.model.input_norm
  x, views = _frames(batch, config.image_size, input_norm)
  b, k = views.shape[:2]

  def run(v, bs, inp, person=True):
    if not train:
      return (model.apply({"params": v, "batch_stats": bs}, inp, train=False, person=person),
              {"batch_stats": bs})
    return model.apply({"params": v, "batch_stats": bs}, inp, train=True, person=person,
                       mutable=["batch_stats"])

  # A person CNN of its own runs on the CIR frames only (below): on all frames 3/4 of its work
  # would be thrown away.
  out, upd = run(params, state.batch_stats, x, person=False)
  batch_stats = upd["batch_stats"]
  au = losses.l2_normalize(out["au"]).reshape(b, k, -1)
  proj = losses.l2_normalize(out["proj"]).reshape(b, k, -1)
  t = batch["frame_index"]
  metrics = {}
  total = 0.0
  if cl.temporal_margin > 0:
    metrics["temporal_margin"] = losses.temporal_margin_loss(
        au, t, pos_window=cl.pos_window, margin=cl.margin, max_margin=cl.max_margin)
    total += cl.temporal_margin * metrics["temporal_margin"]
  if cl.infonce > 0:
    metrics["infonce"] = losses.clip_infonce(
        proj, t, temperature=cl.temperature, pos_window=cl.pos_window,
        cross_clip=cl.cross_clip_negatives)
    total += cl.infonce * metrics["infonce"]
  keys = None
  if cl.moco > 0:
    # The momentum encoder sees each frame's next neighbour in its clip: the positive key.
    key_out, _ = run(state.ema_params, state.batch_stats, x)
    keys = jax.lax.stop_gradient(losses.l2_normalize(key_out["proj"]).reshape(b, k, -1))
    q = proj[:, :-1].reshape(b * (k - 1), -1)
    metrics["moco"] = losses.queue_infonce(q, keys[:, 1:].reshape(b * (k - 1), -1), state.queue,
                                           temperature=cl.temperature)
    total += cl.moco * metrics["moco"]
    keys = keys[:, 0]
  if cl.cir > 0 or cl.recon > 0:
    # CIR on a few frames per clip: clip b's AU code with clip b+1's person code.
    sel = jnp.linspace(0, k - 1, cl.cir_frames).astype(jnp.int32)
    au_a = out["au"].reshape(b, k, -1)[:, sel].reshape(b * cl.cir_frames, -1)
    if "person" in out:
      person = out["person"].reshape(b, k, -1)[:, sel]
    else:
      x_sel = x.reshape((b, k) + x.shape[1:])[:, sel].reshape((b * cl.cir_frames,) + x.shape[1:])
      person = model.apply({"params": params}, x_sel,
                           method=model.person_code).reshape(b, cl.cir_frames, -1)
    person_a = person.reshape(b * cl.cir_frames, -1)
    person_b = jnp.roll(person, 1, axis=0).reshape(b * cl.cir_frames, -1)
    other = (batch["subject_id"] != jnp.roll(batch["subject_id"], 1)).astype(jnp.float32)
    other = jnp.repeat(other, cl.cir_frames)
    ds = config.model.decoder_size
    target = jax.image.resize(views[:, sel].reshape((b * cl.cir_frames,) + views.shape[2:]) / 255.0,
                              (b * cl.cir_frames, ds, ds, 3), "linear")
    # recon_au_grad=False: plain reconstruction trains the decoder and the person code only, so
    # rebuilding a person's appearance never asks the AU code to carry it.
    au_recon = au_a if cl.recon_au_grad else jax.lax.stop_gradient(au_a)
    recon = model.apply({"params": params}, au_recon, person_a, method=model.decode)
    metrics["recon"] = losses.reconstruction_loss(recon, target)
    total += cl.recon * metrics["recon"]
    if cl.cir > 0:
      # cir_decoder_grad=False: the decoder learns from plain reconstruction only, so CIR cannot
      # teach it a private channel for the AU code that only this encoder reads back; the encoder
      # must then find A's AU code in a face rebuilt with B's person code by a plain decoder.
      dec_params = params
      if not cl.cir_decoder_grad:
        dec_params = dict(params, decoder=jax.lax.stop_gradient(params["decoder"]))
      cross = model.apply({"params": dec_params}, au_a, person_b, method=model.decode)
      s = config.image_size
      cross = clp_model.normalize(
          jax.image.resize(cross, (cross.shape[0], s, s, 3), "linear") * 255.0, input_norm)
      # The decoded faces are normalised with their own batch statistics, but they must not move
      # the running statistics: those normalise real faces at export, and blurry 32 px decodes
      # would otherwise pull them halfway towards their own (one update of each kind per step).
      cross_out, _ = run(params, batch_stats, cross)
      cir_loss = cl.cir_loss
      if cir_loss == "infonce":
        metrics["cir_au"] = losses.cir_infonce(cross_out["au"], au_a, other,
                                               temperature=cl.cir_temperature)
      elif cir_loss == "mse":
        metrics["cir_au"] = losses.code_consistency_loss(cross_out["au"], au_a, other)
      else:
        raise ValueError(f"config.loss.cir_loss must be 'mse' or 'infonce', got {cir_loss!r}")
      metrics["cir_person"] = losses.code_consistency_loss(cross_out["person"], person_b, other)
      total += cl.cir * (metrics["cir_au"] + cl.cir_person_weight * metrics["cir_person"])
  metrics["loss"] = total
  return total, (metrics, batch_stats, keys)


def train_step(state: TrainState, batch, *, model, tx, config):
  """One optimisation step on a global batch. Returns (new state, metrics).

  A non-finite loss or gradient leaves the state unchanged and sets metrics['finite'] = 0,
  for the host loop to stop on.
  """
  grad_fn = jax.value_and_grad(functools.partial(loss_fn, model=model, config=config), has_aux=True)
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
  new = TrainState(step=state.step + 1, params=params, batch_stats=batch_stats, opt_state=opt_state,
                   ema_params=ema, queue=queue)
  # Keep the old state where the step was not finite, so the last good state survives.
  new = jax.tree.map(lambda n, o: jnp.where(finite, n, o), new, state)
  metrics = dict(metrics, grad_norm=grad_norm, finite=finite.astype(jnp.float32))
  return new, metrics


def eval_step(state: TrainState, batch, *, model, config) -> dict:
  """The loss and its terms on a batch, batch norm in inference mode; nothing is updated."""
  _, (metrics, _, _) = loss_fn(state.params, state, batch, model=model, config=config, train=False)
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
  abstract_state: TrainState
  state_sharding: Any
  init: Callable
  step: Callable
  step_fn: Callable
  evaluate: Callable


def sharded_step(config, mesh) -> ShardedStep:
  model, tx = make_model(config), make_optimizer(config)
  init = functools.partial(create_state, model=model, tx=tx, config=config)
  abstract = jax.eval_shape(init, jax.random.key(0))
  state_sharding = jax.tree.map(lambda _: sharding.replicated(mesh), abstract)
  step_fn = functools.partial(train_step, model=model, tx=tx, config=config)
  step = jax.jit(step_fn, in_shardings=(state_sharding, sharding.batch_sharding(mesh)),
                 out_shardings=(state_sharding, None), donate_argnums=0)
  evaluate = jax.jit(functools.partial(eval_step, model=model, config=config),
                     in_shardings=(state_sharding, sharding.batch_sharding(mesh)))
  return ShardedStep(model, tx, abstract, state_sharding,
                     jax.jit(init, out_shardings=state_sharding), step, step_fn, evaluate)
