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

from clp_jax import head_pose
from clp_jax import losses
from clp_jax import sharding
from clp_jax.data import augment
from clp_jax.models import clp as clp_model
from clp_jax.models import initialise
from clp_jax.models import motion as motion_lib


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
                            person_encoder=m.get("person_encoder", "shared"),
                            motion=config.loss.get("motion", 0.0) > 0,
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


def motion_terms(params, model, x, out, b: int, k: int, gap: int, pool: int = 1) -> dict:
  """TCAE's motion loss on CLP's codes (`motion_lib`): each frame t of a clip moved onto frame
  t + gap by the head's field (from pose codes) plus the face's field (from AU codes). The
  'pose_only' warp is a second, gradient-free warp of the same pairs, for reading only (the whole motion
  loss adds 0.5% to the step's FLOPs).

  x: normalised frames [B*K, S, S, 3]; out: the model's outputs on them; pool: the photometric
  error is taken on pool x pool means of the warped and target pixels, where the frames' own
  noise (sensor, JPEG) is averaged down and the motion is not (on the synthetic corpus, with the
  head held still |frame t - frame t+4| is still 3/4 of what it is with the head moving).
  Returns scalars:
  'photo' the mean |warped source - target| (what the loss minimises), 'au_flow' the face's
  field's mean |dy| + |dx| in pixels (charged by loss.motion_sparsity), and, not trained on, 'static'
  (|source - target|, no motion) and 'pose_only' (the head's field alone) to read against 'photo'.
  """
  n, s = b * (k - gap), x.shape[1]
  if not 1 <= gap < k:
    raise ValueError(f"config.loss.motion_gap must be in [1, {k - 1}] for clips of {k} frames, "
                     f"got {gap}")
  if s % pool:
    raise ValueError(f"config.loss.motion_pool={pool} must divide config.image_size={s}")
  frames = x.reshape((b, k) + x.shape[1:])
  src = frames[:, :-gap].reshape((n,) + x.shape[1:])
  tgt = frames[:, gap:].reshape((n,) + x.shape[1:])
  pair = lambda v: (v.reshape(b, k, -1)[:, :-gap].reshape(n, -1),
                    v.reshape(b, k, -1)[:, gap:].reshape(n, -1))
  (au_s, au_t), (feat_s, feat_t) = pair(out["au"]), pair(out["features"])
  pose_grid, au_grid = model.apply({"params": params}, au_s, au_t, feat_s, feat_t,
                                   method=model.motion_fields)
  pose_flow, au_flow = motion_lib.upsample(pose_grid, s), motion_lib.upsample(au_grid, s)
  def error(u, v):
    if pool > 1:
      u, v = motion_lib.block_mean(u, pool), motion_lib.block_mean(v, pool)
    return jnp.mean(jnp.abs(u - v))
  photo = error(motion_lib.warp(src, pose_flow + au_flow), tgt)
  pose_only = error(motion_lib.warp(src, jax.lax.stop_gradient(pose_flow)), tgt)
  # L1 (|dy| + |dx|), as TCAE charges it: a Euclidean length would have no gradient at zero,
  # where the field starts.
  return {"photo": photo, "au_flow": jnp.mean(jnp.sum(jnp.abs(au_flow), axis=-1)),
          "static": error(src, tgt), "pose_only": jax.lax.stop_gradient(pose_only)}


def loss_fn(params, state: TrainState, batch, *, model, config, train: bool = True):
  """Total loss and (metrics, new batch_stats, moco keys).

  train=False: batch norm uses its running statistics and leaves them as they are (held-out
  losses, `eval_step`).
  """
  cl = config.loss
  input_norm = config.model.get("input_norm", "imagenet")
  x, views = _frames(batch, config.image_size, input_norm)
  b, k = views.shape[:2]

  def run(v, bs, inp, person=True):
    if not train:
      return (model.apply({"params": v, "batch_stats": bs}, inp, train=False, person=person),
              {"batch_stats": bs})
    return model.apply({"params": v, "batch_stats": bs}, inp, train=True, person=person,
                       mutable=["batch_stats"])

  # A person CNN of its own runs on the CIR frames only (below), unless every frame's person code
  # is needed (person_clip): on all frames 3/4 of its work would be thrown away.
  out, upd = run(params, state.batch_stats, x, person=cl.get("person_clip", 0.0) > 0)
  batch_stats = upd["batch_stats"]
  au = losses.l2_normalize(out["au"]).reshape(b, k, -1)
  proj = losses.l2_normalize(out["proj"]).reshape(b, k, -1)
  t = batch["frame_index"]
  order = losses.DETREND_ORDERS[cl.get("detrend", "")]
  if order is not None and k < order + 2:
    raise ValueError(f"config.loss.detrend={cl.detrend!r} fits {order + 1} coefficients per clip, "
                     f"which leaves nothing of clips of {k} frames; needs >= {order + 2} frames")
  # The within-clip losses may see the codes' change around each clip's trend in time only; every
  # other use of the codes (CIR, MoCo, the pose share logged below) sees them as they are.
  au_t, proj_t = (au, proj) if order is None else (losses.detrend(au, t, order),
                                                  losses.detrend(proj, t, order))
  metrics = {}
  total = 0.0
  if cl.temporal_margin > 0:
    metrics["temporal_margin"] = losses.temporal_margin_loss(
        au_t, t, pos_window=cl.pos_window, margin=cl.margin, max_margin=cl.max_margin)
    total += cl.temporal_margin * metrics["temporal_margin"]
  if cl.infonce > 0:
    metrics["infonce"] = losses.clip_infonce(
        proj_t, t, temperature=cl.temperature, pos_window=cl.pos_window,
        cross_clip=cl.cross_clip_negatives,
        video=batch["video_key"] if cl.get("video_negatives", False) else None)
    total += cl.infonce * metrics["infonce"]
  pose_weight = cl.get("pose_decorrelation", 0.0)
  if pose_weight > 0 and "landmarks" not in batch:
    raise ValueError("config.loss.pose_decorrelation > 0 needs landmarks in the pretraining "
                     "records (feature 'landmarks', [K, 3, 2]); this corpus has none")
  if "landmarks" in batch:
    # The head's pose in the frames as the encoder sees them (after crop and mirror). The share of
    # the codes' within-clip change it explains is logged whenever the corpus has landmarks, and
    # penalised with pose_decorrelation > 0, so that the temporal losses cannot be met by
    # following the head's drift.
    geometry = head_pose.head_geometry(
        augment.view_points(batch["landmarks"], batch["view"], config.image_size))
    metrics["pose_r2"] = losses.pose_explained_variance(au, geometry)
    metrics["pose_r2_proj"] = losses.pose_explained_variance(proj, geometry)
    if pose_weight > 0:
      total += pose_weight * (metrics["pose_r2"] + metrics["pose_r2_proj"])
  if cl.get("motion", 0.0) > 0:
    terms = motion_terms(params, model, x, out, b, k, cl.motion_gap, cl.get("motion_pool", 1))
    metrics.update({f"motion_{name}": v for name, v in terms.items()})
    total += cl.motion * (terms["photo"] + cl.motion_sparsity * terms["au_flow"])
  if cl.get("person_clip", 0.0) > 0:
    metrics["person_clip"] = losses.clip_consistency_loss(
        losses.l2_normalize(out["person"]).reshape(b, k, -1))
    total += cl.person_clip * metrics["person_clip"]
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
    au_recon = au_a if cl.get("recon_au_grad", True) else jax.lax.stop_gradient(au_a)
    # recon_swap: frame t is rebuilt from its own AU code and the person code of another frame of
    # its clip (same person, other moment), so what frame t does must come through its AU code.
    # Meant to make the person code a person code (without it, its subject share is that of an
    # untrained head); measured, it makes it a *video* code instead (pose offset, lighting and
    # camera are as constant in a clip as the person) and F1 falls: off by default
    # (docs/experiments.md, "Is the person code a person code?"; model.person_encoder="cnn" is
    # the factoring that works).
    person_recon = person_a
    if cl.get("recon_swap", False):
      person_recon = jnp.roll(person, 1, axis=1).reshape(b * cl.cir_frames, -1)
    recon = model.apply({"params": params}, au_recon, person_recon, method=model.decode)
    metrics["recon"] = losses.reconstruction_loss(recon, target)
    total += cl.recon * metrics["recon"]
    if cl.cir > 0:
      # cir_decoder_grad=False: the decoder learns from plain reconstruction only, so CIR cannot
      # teach it a private channel for the AU code that only this encoder reads back; the encoder
      # must then find A's AU code in a face rebuilt with B's person code by a plain decoder.
      dec_params = params
      if not cl.get("cir_decoder_grad", True):
        dec_params = dict(params, decoder=jax.lax.stop_gradient(params["decoder"]))
      cross = model.apply({"params": dec_params}, au_a, person_b, method=model.decode)
      s = config.image_size
      cross = clp_model.normalize(
          jax.image.resize(cross, (cross.shape[0], s, s, 3), "linear") * 255.0, input_norm)
      # The decoded faces are normalised with their own batch statistics, but they must not move
      # the running statistics: those normalise real faces at export, and blurry 32 px decodes
      # would otherwise pull them halfway towards their own (one update of each kind per step).
      cross_out, _ = run(params, batch_stats, cross)
      cir_loss = cl.get("cir_loss", "mse")
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
