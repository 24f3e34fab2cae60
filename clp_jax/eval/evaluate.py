"""The AU protocol: subject-exclusive 3-fold cross-validation, one binary task per AU.

Fold k tests on part k and trains on the two other parts. Protocol `linear`: frozen encoder,
a logistic layer per AU on standardised features, class-balanced, L2-regularised with the strength
chosen inside the training parts (leave one part out), trained with optax's L-BFGS; F1 of the
positive class at probability 0.5 per AU, the mean over AUs, averaged over folds. Unknown labels
are masked in training and in scoring.
"""

import dataclasses
import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax

from clp_jax.data import augment
from clp_jax.data import pipeline
from clp_jax.eval import metrics
from clp_jax.models import clp as clp_model
from clp_jax.models import resnet


@dataclasses.dataclass(frozen=True)
class LabelledSet:
  """Frames of a labelled corpus: images [N, H, W, 3] uint8, labels [N, A] int8, subjects [N],
  parts [N] (1..3), aus (FACS numbers of the label columns); where the corpus gives them, each
  frame's video [N] str and frame_index [N] int (its place in the video)."""
  images: np.ndarray
  labels: np.ndarray
  subjects: np.ndarray
  parts: np.ndarray
  aus: tuple
  videos: np.ndarray = None
  frame_index: np.ndarray = None

  def select_aus(self, aus) -> "LabelledSet":
    missing = [a for a in aus if a not in self.aus]
    if missing:
      raise ValueError(f"The corpus has no labels for AU{', AU'.join(map(str, missing))}; "
                       f"it has AUs {list(self.aus)}")
    cols = [self.aus.index(a) for a in aus]
    return dataclasses.replace(self, labels=self.labels[:, cols], aus=tuple(aus))


def load_labelled(source, aus, num_threads: int = 2) -> LabelledSet:
  """Every frame of a labelled TFDS source, decoded by the grain frames pipeline."""
  batches = list(pipeline.frames_dataset(source, batch_size=256, num_threads=num_threads))
  cat = lambda k: np.concatenate([b[k] for b in batches])
  return LabelledSet(images=cat("image"), labels=cat("au_occurrence"), subjects=cat("subject_id"),
                     parts=cat("part"), aus=tuple(aus), videos=cat("video_id"),
                     frame_index=cat("frame_index"))


def folds(data: LabelledSet) -> list:
  """[(k, train_mask, test_mask)] for k = 1..3; checks the split is subject-exclusive."""
  out = []
  for k in (1, 2, 3):
    test = data.parts == k
    train = ~test
    if not test.any() or not train.any():
      raise ValueError(f"Fold {k} is empty: no frames of part {k} (or of the other parts); "
                       f"parts present: {sorted(set(data.parts.tolist()))}")
    shared = set(data.subjects[train]) & set(data.subjects[test])
    if shared:
      raise ValueError(f"Subjects {sorted(shared)} are in both the train and test parts of fold {k}")
    out.append((k, train, test))
  return out


def inner_split(subjects: np.ndarray, fraction: float, seed: int) -> np.ndarray:
  """A subject-exclusive validation split inside training frames, for early stopping: a seeded
  `fraction` of the subjects (at least one, never all). subjects: [N]. Returns [N] bool, True
  for the validation frames."""
  names = np.array(sorted(set(subjects.tolist())))
  if len(names) < 2:
    raise ValueError(f"An inner validation split needs >= 2 training subjects, got {names.tolist()}")
  if not 0 < fraction < 1:
    raise ValueError(f"The inner validation fraction must be in (0, 1), got {fraction}")
  n = min(len(names) - 1, max(1, int(round(fraction * len(names)))))
  chosen = np.random.default_rng(np.random.SeedSequence([seed, 7])).permutation(names)[:n]
  return np.isin(subjects, chosen)


def input_norm(info: dict) -> str:
  """The input normalisation an exported encoder expects (encoder.json; older exports: ImageNet's)."""
  # Exports written before model.input_norm existed normalised with ImageNet statistics.
  return info.get("normalization", {}).get("kind", "imagenet")


def eval_frames(images: jax.Array, size: int, norm: str = "imagenet") -> jax.Array:
  """Images [N, H, W, 3] uint8 -> the encoder's input [N, size, size, 3]: no augmentation,
  resized and normalised (`clp_model.normalize`'s kind `norm`) as in pretraining."""
  views = jnp.broadcast_to(jnp.asarray(augment.identity_view(images.shape[1], images.shape[2])),
                           images.shape[:1] + (augment.VIEW_DIM,))
  return clp_model.normalize(augment.device_views(images, views, size), norm)


@functools.partial(jax.jit, static_argnames=("depth", "size", "kind", "norm"))
def _features(variables, images, *, depth, size, kind, norm):
  x = eval_frames(images, size, norm)
  feats = resnet.ResNet(depth).apply({"params": variables["params"],
                                      "batch_stats": variables["batch_stats"]}, x, train=False)
  if kind == "au_code":
    feats = clp_model.MLP((variables["au_head"]["dense0"]["kernel"].shape[1],
                           variables["au_head"]["dense1"]["kernel"].shape[1])).apply(
                               {"params": variables["au_head"]}, feats)
  return feats


def batched_apply(fn, images: np.ndarray, batch_size: int) -> np.ndarray:
  """fn over images [N, ...] in batches of batch_size; the last batch is zero-padded so that
  fn compiles once. Returns fn's outputs concatenated, [N, ...]."""
  out = []
  for i in range(0, len(images), batch_size):
    chunk = images[i:i + batch_size]
    pad = batch_size - len(chunk)
    if pad:
      chunk = np.concatenate([chunk, np.zeros((pad,) + chunk.shape[1:], chunk.dtype)])
    out.append(np.asarray(fn(jnp.asarray(chunk)))[:batch_size - pad])
  return np.concatenate(out)


def extract_features(variables, info, images, batch_size=128, kind="backbone") -> np.ndarray:
  """Frozen features of images [N, H, W, 3] uint8 -> [N, F] float32."""
  if kind not in ("backbone", "au_code"):
    raise ValueError(f"features must be 'backbone' or 'au_code', got {kind!r}")
  fn = functools.partial(_features, variables, depth=info["depth"], size=info["input_size"], kind=kind,
                         norm=input_norm(info))
  return batched_apply(fn, images, batch_size)


def _balanced_weight(y, known):
  """Per-entry weights of class-balanced BCE (sklearn's class_weight='balanced'): y, known [N, A]."""
  n_pos = jnp.sum(known * y, 0)
  n_neg = jnp.sum(known * (1 - y), 0)
  n = n_pos + n_neg
  return known * jnp.where(y > 0, n / jnp.maximum(2 * n_pos, 1), n / jnp.maximum(2 * n_neg, 1))


def _probe_inputs(train_x, train_y):
  """Standardised train features [N, F], positives and known masks [N, A] (labels other than 0/1
  are unknown), and the same standardisation for other features."""
  mean, std = train_x.mean(0), train_x.std(0) + 1e-6
  standardise = lambda x: (x - mean) / std
  known = jnp.asarray((train_y == 0) | (train_y == 1), jnp.float32)
  return jnp.asarray(standardise(train_x)), jnp.asarray(train_y == 1, jnp.float32), known, standardise


@functools.partial(jax.jit, static_argnames=("steps",))
def _fit_l2_logistic(x, y, known, l2, *, steps):
  """Class-balanced L2-regularised logistic regressions, one per label column, for each strength in
  l2 [G]: minimises mean weighted BCE + l2/2 ||W||^2 (the intercept is not penalised) with L-BFGS.
  Column j is sklearn's LogisticRegression(C=1 / (l2 * N_j), class_weight='balanced') on its
  N_j known frames.
  x [N, F], y and known [N, A] -> W [G, F, A], b [G, A]."""
  weight = _balanced_weight(y, known)

  def fit(strength):
    def loss(p):
      bce = optax.sigmoid_binary_cross_entropy(x @ p["w"] + p["b"], y)
      # Each column's own mean over its known frames, so every AU's objective is sklearn's.
      return (jnp.sum(jnp.sum(weight * bce, 0) / jnp.maximum(jnp.sum(known, 0), 1))
              + 0.5 * strength * jnp.sum(p["w"] ** 2))

    tx = optax.lbfgs()
    value_and_grad = optax.value_and_grad_from_state(loss)

    def body(_, carry):
      p, s = carry
      value, grad = value_and_grad(p, state=s)
      u, s = tx.update(grad, s, p, value=value, grad=grad, value_fn=loss)
      return optax.apply_updates(p, u), s

    p = {"w": jnp.zeros((x.shape[1], y.shape[1])), "b": jnp.zeros((y.shape[1],))}
    return jax.lax.fori_loop(0, steps, body, (p, tx.init(p)))[0]

  p = jax.vmap(fit)(l2)
  return p["w"], p["b"]


def l2_probe_logits(train_x, train_y, test_x, l2_grid, steps=100) -> np.ndarray:
  """One L2-regularised probe per strength in l2_grid [G], fitted on (train_x [N, F] standardised
  with its own statistics, train_y [N, A] int with unknowns); test_x's logits: [G, M, A]."""
  z, y, known, standardise = _probe_inputs(train_x, train_y)
  w, b = _fit_l2_logistic(z, y, known, jnp.asarray(l2_grid, jnp.float32), steps=steps)
  return np.einsum("mf,gfa->gma", standardise(test_x), np.asarray(w)) + np.asarray(b)[:, None]


def l2_probe(train_x, train_y, test_x, l2_grid, steps=100) -> np.ndarray:
  """`l2_probe_logits`'s decisions: [G, M, A] bool, present where the probability > 0.5."""
  return l2_probe_logits(train_x, train_y, test_x, l2_grid, steps) > 0.0


def select_l2(x, y, groups, l2_grid, steps=100) -> tuple:
  """The probe's L2 strength by leave-one-group-out inside the training data only: for each group
  (a part, i.e. a set of subjects) fit on the others and score the held-out one. x [N, F], y [N, A],
  groups [N]. Returns (chosen strength, mean-over-AUs F1 [G] averaged over the held-out groups).
  Ties go to the stronger regularisation."""
  names = sorted(set(groups.tolist()))
  if len(names) < 2:
    raise ValueError(f"Choosing the probe's L2 needs >= 2 subject groups in the training folds, "
                     f"got {names}")
  scores = np.zeros(len(l2_grid))
  for g in names:
    held = groups == g
    pred = l2_probe(x[~held], y[~held], x[held], l2_grid, steps)
    scores += [np.nanmean(metrics.f1_scores(p, y[held])["f1"]) for p in pred]
  scores /= len(names)
  best = max(range(len(l2_grid)), key=lambda i: (scores[i], l2_grid[i]))
  return float(l2_grid[best]), scores


def fold_result(k: int, test: np.ndarray, logits: np.ndarray, data: LabelledSet) -> dict:
  """Fold k's entry of report.json from its test frames' logits [M, A] (test: [N] bool mask):
  F1 of the positive class at probability 0.5 per AU and their mean."""
  f1 = metrics.f1_scores(logits > 0.0, data.labels[test])["f1"]  # sigmoid(logit) > 0.5
  if np.isnan(f1).any():
    bad = [f"AU{a}" for a, v in zip(data.aus, f1) if np.isnan(v)]
    raise ValueError(f"Fold {k} has no known labels for {bad}: its F1 would be undefined")
  return {"fold": k, "test_subjects": [str(s) for s in sorted(set(data.subjects[test]))],
          "mean_f1": float(np.mean(f1)),
          "per_au_f1": {f"AU{a}": float(v) for a, v in zip(data.aus, f1)}}


def summarise(results: list, aus) -> dict:
  """report.json's result for one encoder from its folds' entries: means over the folds."""
  per_au = {f"AU{a}": float(np.mean([r["per_au_f1"][f"AU{a}"] for r in results])) for a in aus}
  return {"mean_f1": float(np.mean([r["mean_f1"] for r in results])), "per_au_f1": per_au,
          "folds": results}


def cross_validate(features: np.ndarray, data: LabelledSet, probe: dict) -> tuple:
  """3-fold subject-exclusive linear-probe results for one encoder's features [N, F].

  Per fold, the L2 strength in probe['l2_grid'] is chosen by leave-one-part-out on that fold's
  training parts (the test part is never seen), then the probe is fitted on both with
  probe['lbfgs_steps'] L-BFGS steps.
  Returns (the result of report.json, out-of-fold logits [N, A]: each frame's from the fold that
  tests it).
  """
  if probe.get("kind", "l2_cv") != "l2_cv":
    raise ValueError(f"config.probe.kind must be 'l2_cv' (the fixed AdamW probe was removed in "
                     f"2.0.0, docs/experiments.md), got {probe.get('kind')!r}")
  results = []
  out_of_fold = np.full(data.labels.shape, np.nan, np.float32)
  grid = tuple(probe["l2_grid"])
  for k, train, test in folds(data):
    l2, scores = select_l2(features[train], data.labels[train], data.parts[train], grid,
                           probe["lbfgs_steps"])
    logits = l2_probe_logits(features[train], data.labels[train], features[test], (l2,),
                             probe["lbfgs_steps"])[0]
    out_of_fold[test] = logits
    results.append({**fold_result(k, test, logits, data), "l2": l2,
                    "inner_f1": {f"{g:g}": float(v) for g, v in zip(grid, scores)}})
  return summarise(results, data.aus), out_of_fold


def fit_heads(features: np.ndarray, data: LabelledSet, probe: dict) -> dict:
  """The linear AU heads a detector keeps: one probe fitted on every labelled frame (all three
  parts), its L2 strength chosen by leave-one-part-out over them, as `cross_validate` does inside
  a fold. The standardisation is folded into the weights so that the heads read raw features:
  logits [N, A] = features [N, F] @ kernel [F, A] + bias [A].
  Returns {'kernel', 'bias', 'l2'}."""
  grid = tuple(probe["l2_grid"])
  l2, _ = select_l2(features, data.labels, data.parts, grid, probe["lbfgs_steps"])
  z, y, known, _ = _probe_inputs(features, data.labels)
  w, b = _fit_l2_logistic(z, y, known, jnp.asarray([l2], jnp.float32), steps=probe["lbfgs_steps"])
  w, b = np.asarray(w[0], np.float64), np.asarray(b[0], np.float64)
  mean = features.mean(0).astype(np.float64)
  std = features.std(0).astype(np.float64) + 1e-6
  kernel = w / std[:, None]
  return {"kernel": kernel.astype(np.float32), "bias": (b - (mean / std) @ w).astype(np.float32),
          "l2": l2}
