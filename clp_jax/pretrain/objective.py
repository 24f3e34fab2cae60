"""The CLP objective: a batch of clips through the model into the loss terms, weighted.

    clip [B, K, H, W, 3] uint8 + view [B, K, 8] --device_views--> frames [B*K, S, S, 3]
      --encoder--> AU code [B*K, A], projection [B*K, P] (person code on the CIR frames only)
      --> temporal margin loss + InfoNCE inside clips (other clips' frames optional)  `clip_terms`
        + MoCo queue loss                                                           `moco_term`
        + reconstruction and CIR: decode(AU_A, person_B) -> encode -> AU_A again    `cir_terms`

Each term is a function of the encoder's outputs; `loss_fn` composes them with the weights in
`config.loss` (a weight of 0 leaves its term out of the graph).
"""

import jax
import jax.numpy as jnp

from clp_jax.data import augment
from clp_jax.models import clp as clp_model
from clp_jax.pretrain import losses


def frames(batch, image_size, input_norm):
  """The batch's augmented frames: [B*K, S, S, 3] normalised, and [B, K, S, S, 3] in [0, 255]."""
  views = augment.device_views(batch["clip"], batch["view"], image_size)
  b, k = views.shape[:2]
  return clp_model.normalize(views, input_norm).reshape((b * k,) + views.shape[2:]), views


def _runner(model, train: bool):
  """apply(variables, batch_stats, x, person) -> (outputs, {'batch_stats': ...}).

  train=True: batch norm on the batch's statistics, running statistics updated (returned);
  train=False: running statistics used and returned unchanged.
  """
  def run(params, batch_stats, x, person=True):
    variables = {"params": params, "batch_stats": batch_stats}
    if not train:
      return model.apply(variables, x, train=False, person=person), {"batch_stats": batch_stats}
    return model.apply(variables, x, train=True, person=person, mutable=["batch_stats"])
  return run


def clip_terms(au, proj, frame_index, cl) -> dict:
  """Temporal terms inside clips. au, proj: [B, K, D] unit vectors; frame_index [B, K]."""
  terms = {}
  if cl.temporal_margin > 0:
    terms["temporal_margin"] = losses.temporal_margin_loss(
        au, frame_index, pos_window=cl.pos_window, margin=cl.margin, max_margin=cl.max_margin)
  if cl.infonce > 0:
    terms["infonce"] = losses.clip_infonce(
        proj, frame_index, temperature=cl.temperature, pos_window=cl.pos_window,
        cross_clip=cl.cross_clip_negatives)
  return terms


def moco_term(run, state, x, proj, cl):
  """MoCo: each frame's query against its next neighbour's momentum key and the queue.

  proj [B, K, P] unit vectors. Returns (loss, keys [B, P] of each clip's first frame, which
  enter the queue).
  """
  b, k = proj.shape[:2]
  key_out, _ = run(state.ema_params, state.batch_stats, x)
  keys = jax.lax.stop_gradient(losses.l2_normalize(key_out["proj"]).reshape(b, k, -1))
  q = proj[:, :-1].reshape(b * (k - 1), -1)
  loss = losses.queue_infonce(q, keys[:, 1:].reshape(b * (k - 1), -1), state.queue,
                              temperature=cl.temperature)
  return loss, keys[:, 0]


def cir_terms(run, params, batch_stats, model, out, x, views, subject_id, config) -> dict:
  """Reconstruction and cross-identity reconstruction on cl.cir_frames frames a clip.

  Clip b's AU code is decoded with clip b+1's person code; the encoder must read clip b's AU code
  back from that face, and clip b+1's person code (counted where the two clips are of different
  subjects). out: the encoder's outputs on x [B*K, S, S, 3]; views [B, K, S, S, 3] in [0, 255].
  """
  cl = config.loss
  b, k = views.shape[:2]
  n = cl.cir_frames
  sel = jnp.linspace(0, k - 1, n).astype(jnp.int32)
  au_a = out["au"].reshape(b, k, -1)[:, sel].reshape(b * n, -1)
  if "person" in out:
    person = out["person"].reshape(b, k, -1)[:, sel]
  else:
    # A person CNN of its own runs on the CIR frames only: on all frames 3/4 of its work would
    # be thrown away.
    x_sel = x.reshape((b, k) + x.shape[1:])[:, sel].reshape((b * n,) + x.shape[1:])
    person = model.apply({"params": params}, x_sel, method=model.person_code).reshape(b, n, -1)
  person_a = person.reshape(b * n, -1)
  person_b = jnp.roll(person, 1, axis=0).reshape(b * n, -1)
  other = jnp.repeat((subject_id != jnp.roll(subject_id, 1)).astype(jnp.float32), n)
  ds = config.model.decoder_size
  target = jax.image.resize(views[:, sel].reshape((b * n,) + views.shape[2:]) / 255.0,
                            (b * n, ds, ds, 3), "linear")
  # recon_au_grad=False: plain reconstruction trains the decoder and the person code only, so
  # rebuilding a person's appearance never asks the AU code to carry it.
  au_recon = au_a if cl.recon_au_grad else jax.lax.stop_gradient(au_a)
  recon = model.apply({"params": params}, au_recon, person_a, method=model.decode)
  terms = {"recon": losses.reconstruction_loss(recon, target)}
  if cl.cir <= 0:
    return terms
  # cir_decoder_grad=False: the decoder learns from plain reconstruction only, so CIR cannot
  # teach it a private channel for the AU code that only this encoder reads back; the encoder
  # must then find A's AU code in a face rebuilt with B's person code by a plain decoder.
  dec_params = params
  if not cl.cir_decoder_grad:
    dec_params = dict(params, decoder=jax.lax.stop_gradient(params["decoder"]))
  cross = model.apply({"params": dec_params}, au_a, person_b, method=model.decode)
  s = config.image_size
  cross = clp_model.normalize(
      jax.image.resize(cross, (cross.shape[0], s, s, 3), "linear") * 255.0,
      config.model.input_norm)
  # The decoded faces are normalised with their own batch statistics, but they must not move
  # the running statistics: those normalise real faces at export, and blurry 32 px decodes
  # would otherwise pull them halfway towards their own (one update of each kind per step).
  cross_out, _ = run(params, batch_stats, cross)
  if cl.cir_loss == "infonce":
    terms["cir_au"] = losses.cir_infonce(cross_out["au"], au_a, other,
                                         temperature=cl.cir_temperature)
  else:
    terms["cir_au"] = losses.code_consistency_loss(cross_out["au"], au_a, other)
  terms["cir_person"] = losses.code_consistency_loss(cross_out["person"], person_b, other)
  return terms


def loss_fn(params, state, batch, *, model, config, train: bool = True):
  """Total loss and (terms, new batch_stats, MoCo keys [B, P] or None).

  train=False: batch norm uses its running statistics and leaves them as they are (held-out
  losses, `step.eval_step`).
  """
  cl = config.loss
  x, views = frames(batch, config.image_size, config.model.input_norm)
  b, k = views.shape[:2]
  run = _runner(model, train)
  out, upd = run(params, state.batch_stats, x, person=False)
  batch_stats = upd["batch_stats"]
  au = losses.l2_normalize(out["au"]).reshape(b, k, -1)
  proj = losses.l2_normalize(out["proj"]).reshape(b, k, -1)
  metrics = clip_terms(au, proj, batch["frame_index"], cl)
  keys = None
  if cl.moco > 0:
    metrics["moco"], keys = moco_term(run, state, x, proj, cl)
  if cl.cir > 0 or cl.recon > 0:
    metrics.update(cir_terms(run, params, batch_stats, model, out, x, views, batch["subject_id"],
                             config))
  weights = {"temporal_margin": cl.temporal_margin, "infonce": cl.infonce, "moco": cl.moco,
             "recon": cl.recon}
  total = 0.0
  for name, weight in weights.items():  # the order the terms have always been summed in
    if name in metrics:
      total += weight * metrics[name]
  if "cir_au" in metrics:
    total += cl.cir * (metrics["cir_au"] + cl.cir_person_weight * metrics["cir_person"])
  metrics["loss"] = total
  return total, (metrics, batch_stats, keys)
