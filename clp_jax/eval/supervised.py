"""End-to-end AU training of a ResNet + one logistic layer per AU: the supervised upper bound
(from scratch) and the `finetune` protocol (from a given encoder's weights).

Class-balanced binary cross-entropy (unknown labels masked), random views as in pretraining,
AdamW with warmup and cosine decay. Predictions on the test fold come from the trained head.
"""

import functools

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
import tqdm

from clp_jax.data import augment
from clp_jax.eval import evaluate
from clp_jax.eval import metrics
from clp_jax.models import clp as clp_model
from clp_jax.models import initialise
from clp_jax.models import resnet


class Classifier(nn.Module):
  depth: int
  num_aus: int

  @nn.compact
  def __call__(self, x, train: bool = False):
    return nn.Dense(self.num_aus)(resnet.ResNet(self.depth, name="encoder")(x, train=train))


def _with_encoder(variables, encoder):
  """variables with the ResNet's params and statistics replaced by encoder's (same structure)."""
  for col in ("params", "batch_stats"):
    want = jax.tree.map(lambda x: (x.shape, x.dtype), variables[col]["encoder"])
    got = jax.tree.map(lambda x: (tuple(x.shape), jnp.dtype(x.dtype)), encoder[col])
    if jax.tree.structure(want) != jax.tree.structure(got) or want != got:
      raise ValueError(f"The encoder's {col} do not fit this ResNet: the exported encoder is of "
                       f"another architecture than the one being fine-tuned")
  return {"params": {**variables["params"], "encoder": encoder["params"]},
          "batch_stats": {**variables["batch_stats"], "encoder": encoder["batch_stats"]}}


def train_and_predict(train_images, train_labels, test_images, **kw) -> np.ndarray:
  """`train_and_logits`'s decisions: [M, A] bool, present where the probability > 0.5."""
  return train_and_logits(train_images, train_labels, test_images, **kw) > 0


def train_and_logits(train_images, train_labels, test_images, *, depth, image_size, steps,
                     batch_size, lr, seed=0, encoder=None, encoder_lr_scale=1.0,
                     input_norm="imagenet", val_images=None, val_labels=None, eval_every=0,
                     patience=0, history=None, augment_cfg=None) -> np.ndarray:
  """Trains on (images [N, H, W, 3] uint8, labels [N, A] int with unknowns), gives the test
  images' logits [M, A] float32.

  encoder: None trains from scratch; else variables {"params", "batch_stats"} of a ResNet of this
  depth (an exported encoder) that the whole network starts from (fine-tuning); the AU head
  always starts fresh. encoder_lr_scale: the ResNet's learning rate as a fraction of lr (the
  head's), so a pretrained encoder can move slower than its fresh head. input_norm: the kind of
  `clp_model.normalize` (an encoder's own, from its encoder.json). val_images / val_labels,
  eval_every, patience: early stopping (`train`); history: a dict that `train` fills;
  augment_cfg: the training views' `augment.AugmentConfig` (None: its defaults).
  """
  _, variables = train(train_images, train_labels, depth=depth, image_size=image_size,
                       steps=steps, batch_size=batch_size, lr=lr, seed=seed, encoder=encoder,
                       encoder_lr_scale=encoder_lr_scale, input_norm=input_norm,
                       val_images=val_images, val_labels=val_labels, eval_every=eval_every,
                       patience=patience, history=history, augment_cfg=augment_cfg)
  return logits(variables, test_images, depth=depth, image_size=image_size,
                num_aus=train_labels.shape[1], input_norm=input_norm, batch_size=batch_size)


def logits(variables, images, *, depth, image_size, num_aus, input_norm, batch_size) -> np.ndarray:
  """A trained Classifier's logits on images [M, H, W, 3] uint8: [M, A] float32."""
  predict = _predict_fn(depth, num_aus, image_size, input_norm)
  return evaluate.batched_apply(functools.partial(predict, variables), images, batch_size)


@functools.lru_cache(maxsize=4)
def _init_fn(depth, num_aus, image_size):
  """The jitted init rng -> Classifier variables, one per architecture. Run eagerly, XLA:CPU
  compiles every operation on its own (the CLP model's init: 44 s eagerly, 17 s jitted)."""
  model = Classifier(depth, num_aus)
  x = jnp.zeros((1, image_size, image_size, 3))
  return jax.jit(lambda rng: initialise.init_variables(model, rng, x))


@functools.lru_cache(maxsize=4)
def _predict_fn(depth, num_aus, image_size, input_norm):
  """The jitted prediction (variables, images [B, H, W, 3] uint8) -> logits [B, A], one per
  architecture and input: every fold and encoder of an evaluation reuses its compilation."""
  model = Classifier(depth, num_aus)

  @jax.jit
  def predict(variables, images):
    x = evaluate.eval_frames(images, image_size, input_norm)
    return model.apply(variables, x, train=False)
  return predict


def train(train_images, train_labels, *, depth, image_size, steps, batch_size, lr, seed=0,
          encoder=None, encoder_lr_scale=1.0, input_norm="imagenet", val_images=None,
          val_labels=None, eval_every=0, patience=0, history=None, augment_cfg=None) -> tuple:
  """The training of `train_and_logits`: returns (Classifier, its trained variables).

  steps: the most steps (the learning-rate schedule's length). With val_images [V, H, W, 3] and
  val_labels [V, A] (frames of subjects kept out of the training frames) and eval_every > 0:
  every eval_every steps the mean F1 on them (probability 0.5) is measured, the best variables
  are kept and returned, and training stops after `patience` measurements without a better one
  (0: runs all steps). history, if a dict, receives "val_f1" [(step, F1), ...], "best_step" and
  "steps_run". augment_cfg: the training views' `augment.AugmentConfig` (None: its defaults).
  """
  if encoder_lr_scale < 0:
    raise ValueError(f"encoder_lr_scale must be >= 0, got {encoder_lr_scale}")
  early = val_images is not None and eval_every > 0
  model = Classifier(depth, train_labels.shape[1])
  rng = np.random.default_rng(seed)
  known = ((train_labels == 0) | (train_labels == 1)).astype(np.float32)
  y = (train_labels == 1).astype(np.float32)
  n_pos, n_neg = (known * y).sum(0), (known * (1 - y)).sum(0)
  w_pos = jnp.asarray((n_pos + n_neg) / np.maximum(2 * n_pos, 1))
  w_neg = jnp.asarray((n_pos + n_neg) / np.maximum(2 * n_neg, 1))
  variables = _init_fn(depth, train_labels.shape[1], image_size)(jax.random.key(seed))
  if encoder is not None:
    variables = _with_encoder(variables, encoder)
  tx, step = _train_step(depth, train_labels.shape[1], image_size, steps, lr, encoder_lr_scale,
                         input_norm)
  opt_state = tx.init(variables["params"])
  h, w = train_images.shape[1:3]
  params, batch_stats = variables["params"], variables["batch_stats"]
  cfg = augment_cfg or augment.AugmentConfig()
  curve, best, best_step, since_best, done = [], -1.0, 0, 0, 0
  best_vars = {"params": params, "batch_stats": batch_stats}
  # Epochs of shuffled frames, not draws with replacement: every frame is seen once per epoch.
  order = np.empty((0,), np.int64)
  bar = tqdm.tqdm(total=steps, desc="supervised steps", leave=False, disable=steps < 50)
  for done in range(1, steps + 1):
    bar.update()
    while len(order) < batch_size:  # a training set smaller than a batch repeats in it
      order = np.concatenate([order, rng.permutation(len(train_images))])
    idx, order = np.sort(order[:batch_size]), order[batch_size:]
    views = augment.draw_views(batch_size, h, w, cfg, rng)
    params, batch_stats, opt_state, _ = step(params, batch_stats, opt_state, train_images[idx],
                                             views, y[idx], known[idx], w_pos, w_neg)
    if early and (done % eval_every == 0 or done == steps):
      current = {"params": params, "batch_stats": batch_stats}
      pred = logits(current, val_images, depth=depth, image_size=image_size,
                    num_aus=train_labels.shape[1], input_norm=input_norm, batch_size=128) > 0
      f1 = float(np.nanmean(metrics.f1_scores(pred, val_labels)["f1"]))
      curve.append((done, f1))
      if f1 > best:
        best, best_step, best_vars, since_best = f1, done, current, 0
      else:
        since_best += 1
      bar.set_postfix(val_f1=f"{f1:.3f}", best=f"{best:.3f}@{best_step}")
      if patience and since_best >= patience:
        break
  bar.close()
  if not early:
    best_vars, best_step = {"params": params, "batch_stats": batch_stats}, done
  if isinstance(history, dict):
    history.update(val_f1=curve, best_step=best_step, steps_run=done)
  return model, best_vars


@functools.lru_cache(maxsize=4)
def _train_step(depth, num_aus, image_size, steps, lr, encoder_lr_scale, input_norm):
  """(optimizer, jitted step) for these settings. The class weights are arguments, not
  constants, so that every fold and every encoder of an evaluation (which differ only in them
  and in the weights) reuses one compilation: XLA:CPU takes tens of seconds per ResNet step.

  step(params, batch_stats, opt_state, images [B, H, W, 3] uint8, views [B, VIEW_DIM],
  labels [B, A], mask [B, A], w_pos [A], w_neg [A]) -> (params, batch_stats, opt_state, loss).
  """
  model = Classifier(depth, num_aus)
  tx = optax.adamw(optax.warmup_cosine_decay_schedule(0.0, lr, max(1, steps // 10), max(2, steps)),
                   1e-4)
  # AdamW's step (weight decay included) is proportional to its lr, so scaling the encoder's
  # updates is the same as giving the encoder lr * encoder_lr_scale.
  tx = optax.chain(tx, optax.masked(optax.scale(encoder_lr_scale),
                                    {"encoder": True, "Dense_0": False}))

  @jax.jit
  def step(params, batch_stats, opt_state, images, views, labels, mask, w_pos, w_neg):
    def loss_fn(p):
      x = clp_model.normalize(augment.device_views(images, views, image_size), input_norm)
      logits, upd = model.apply({"params": p, "batch_stats": batch_stats}, x, train=True,
                                mutable=["batch_stats"])
      weight = mask * jnp.where(labels > 0, w_pos, w_neg)
      loss = jnp.sum(weight * optax.sigmoid_binary_cross_entropy(logits, labels))
      return loss / jnp.maximum(jnp.sum(mask), 1), upd["batch_stats"]
    (loss, bs), g = jax.value_and_grad(loss_fn, has_aux=True)(params)
    u, opt_state = tx.update(g, opt_state, params)
    return optax.apply_updates(params, u), bs, opt_state, loss

  return tx, step
