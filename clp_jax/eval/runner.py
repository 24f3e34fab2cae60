"""The evaluation protocol end to end: exported encoders and baselines -> folds -> report.

  report = runner.run(config, encoder_dirs, names, workdir)   # what clp-eval runs

config: an eval config (configs/eval/*.py), checked by `clp_jax.eval.config.validate` first.
"""

import os
import time

from absl import logging
import jax
import numpy as np
import tqdm

from clp_jax.data import augment
from clp_jax.data import sources
from clp_jax.detect import au_model
from clp_jax.eval import baselines as baselines_lib
from clp_jax.eval import config as config_lib
from clp_jax.eval import evaluate
from clp_jax.eval import person_independence
from clp_jax.eval import predictions as predictions_lib
from clp_jax.eval import report as report_lib
from clp_jax.eval import supervised
from clp_jax.export import encoder as export
from clp_jax.models import clp as clp_model
from clp_jax.models import initialise


def _check_architecture(infos):
  archs = {(i["architecture"], i["input_size"], evaluate.input_norm(i)) for i in infos}
  if len(archs) > 1:
    raise ValueError(f"Encoders of different architectures, input sizes or input normalisations "
                     f"{sorted(archs)}: the baselines need one; evaluate them in separate runs")


def _seen_unseen(result, info, data):
  """Adds seen/unseen F1: folds whose test part the encoder was pretrained on, or not."""
  split = info.get("config", {}).get("data", {}).get("split", "")
  seen_parts = {int(p.strip()[4:]) for p in split.split("+") if p.strip().startswith("part")}
  seen = [f["mean_f1"] for f in result["folds"] if f["fold"] in seen_parts]
  unseen = [f["mean_f1"] for f in result["folds"] if f["fold"] not in seen_parts]
  if seen and unseen:
    result["seen_mean_f1"], result["unseen_mean_f1"] = float(np.mean(seen)), float(np.mean(unseen))
    result["pretrained_on_parts"] = sorted(seen_parts)


def random_encoder(depth: int, size: int, au_dim: int, hidden: int, seed: int) -> dict:
  """The random_init baseline: the same architecture untrained, as export.load returns encoders:
  {"params", "batch_stats"} of the ResNet and "au_head". The head is random too, not zero: an
  untrained nonlinear head alone lifts a linear probe, so `au_code` runs must compare against it.
  """
  def init(key):
    head = initialise.init_variables(clp_model.MLP((hidden, au_dim)), jax.random.fold_in(key, 1),
                                     jax.numpy.zeros((1, export.resnet.FEATURE_DIM[depth])))
    return {**initialise.init_variables(export.resnet.ResNet(depth), key,
                                        jax.numpy.zeros((1, size, size, 3))),
            "au_head": head["params"]}
  return jax.jit(init)(jax.random.key(seed))


def _end_to_end(data, *, depth, size, train_cfg, seed, input_norm, encoder=None,
                early_stopping=False) -> tuple:
  """3-fold results of training (from scratch, or fine-tuning encoder) end to end on each fold:
  (the result of report.json, out-of-fold logits [N, A]).

  early_stopping and train_cfg.val_fraction > 0 (the supervised baseline): early stopping on an inner subject-exclusive split of each fold's
  training frames (that share of its subjects, `evaluate.inner_split`): the network is trained
  on the rest, its mean F1 on them measured every train_cfg.eval_every steps, and the best
  network of at most train_cfg.steps predicts the test part. Each fold's entry records its
  validation curve and the step chosen.
  """
  folds = []
  out_of_fold = np.full(data.labels.shape, np.nan, np.float32)
  val_fraction = train_cfg.val_fraction if early_stopping else 0.0
  for k, train, test in evaluate.folds(data):
    fit = train.copy()
    early = {}
    if val_fraction > 0:
      val = np.zeros_like(train)
      val[train] = evaluate.inner_split(data.subjects[train], val_fraction, seed + k)
      fit = train & ~val
      early = dict(val_images=data.images[val], val_labels=data.labels[val],
                   eval_every=train_cfg.eval_every, patience=train_cfg.patience)
    history = {}
    logits = supervised.train_and_logits(
        data.images[fit], data.labels[fit], data.images[test], depth=depth, image_size=size,
        steps=train_cfg.steps, batch_size=train_cfg.batch_size, lr=train_cfg.lr, seed=seed,
        encoder=encoder, encoder_lr_scale=1.0 if encoder is None else train_cfg.encoder_lr_scale,
        input_norm=input_norm, history=history,
        augment_cfg=augment.AugmentConfig.from_config(train_cfg.augment), **early)
    out_of_fold[test] = logits
    entry = evaluate.fold_result(k, test, logits, data)
    entry["steps_run"] = int(history.get("steps_run", train_cfg.steps))
    if early:
      entry.update(best_step=int(history["best_step"]),
                   val_subjects=[str(s) for s in sorted(set(data.subjects[val]))],
                   val_f1=[[int(st), float(f)] for st, f in history["val_f1"]])
      logging.info("fold %d: best inner-validation F1 %.3f at step %d of %d run", k,
                   max(f for _, f in history["val_f1"]), history["best_step"],
                   history["steps_run"])
    folds.append(entry)
  return evaluate.summarise(folds, data.aus), out_of_fold


def _write_predictions(result, data, logits, workdir):
  """The encoder's per-frame predictions file; its path (relative to workdir) goes in result."""
  rel = os.path.join("predictions", predictions_lib.file_name(result["encoder"]))
  predictions_lib.write(os.path.join(workdir, rel), data, logits)
  result["predictions"] = rel


def _save_model(name, export_dir, feats, data, probe, config, info, summary, workdir) -> str:
  """Fits the AU heads on every labelled frame and writes workdir/models/<name> (`au_model`)."""
  heads = evaluate.fit_heads(feats, data, probe)
  directory = os.path.join(workdir, "models", os.path.splitext(predictions_lib.file_name(name))[0])
  au_model.save(directory, export_dir, heads, aus=data.aus, features=config.features,
                crop_size=int(info.metadata.get("image_size", data.images.shape[1])),
                corpus=f"{config.data.name}/{config.data.config}",
                cv_f1={"mean": summary["mean_f1"], **summary["per_au_f1"]})
  logging.info("Saved the AU model of %s (heads on all %d frames, L2 %g) to %s", name,
               len(data.labels), heads["l2"], directory)
  return directory


def _display_names(encoders, names, baselines) -> list:
  """The report's row names: --name, else the encoder directory's name; then the baselines'.
  They must differ, also as file names (each names a predictions file)."""
  if len(names) not in (0, len(encoders)):
    raise ValueError(f"{len(names)} --name flags for {len(encoders)} --encoder flags")
  out = [n or os.path.basename(os.path.normpath(d))
         for d, n in zip(encoders, names or [None] * len(encoders))]
  unknown = sorted(set(baselines) - set(config_lib.BASELINES))
  if unknown:
    raise ValueError(f"config.baselines has {unknown}; the baselines are {list(config_lib.BASELINES)}")
  out += [b for b in config_lib.BASELINES if b in baselines]
  files = [predictions_lib.file_name(n) for n in out]
  if len(set(files)) < len(files):
    raise ValueError(f"Encoder names {out} repeat (as file names {files}): each row of the "
                     f"report and each predictions file needs its own; give distinct --name flags")
  return out


def run(config, encoders, names, workdir) -> dict:
  config_lib.validate(config)
  names = _display_names(encoders, names, config.baselines)
  write_predictions = config.predictions
  loaded = [export.load(d) for d in encoders]
  infos = [i for _, i in loaded]
  if not loaded and not {"random_init", "supervised"} & set(config.baselines):
    # the trivial baselines alone are no evaluation of a network
    raise ValueError("Nothing to evaluate: give --encoder, or 'random_init' or 'supervised' in "
                     f"config.baselines (it has {list(config.baselines)})")
  _check_architecture(infos)
  depth = infos[0]["depth"] if infos else config.depth
  size = infos[0]["input_size"] if infos else config.image_size
  # The baselines are the same network as the encoders, input normalisation included.
  norm = evaluate.input_norm(infos[0]) if infos else config.input_norm

  source, info = sources.open_source(config.data.name, config.data.config, config.data.split,
                                     config.data.data_dir)
  aus = list(config.aus) if config.aus else list(info.metadata["aus"])
  data = evaluate.load_labelled(source, info.metadata["aus"]).select_aus(aus)
  logging.info("%d frames, %d subjects, AUs %s", len(data.labels), len(set(data.subjects)), aus)
  evaluate.folds(data)  # fail early on a bad split

  probe = dict(config.probe)
  results = []
  # names holds the encoders' names, then the baselines'
  candidates = [(n, v, i) for (v, i), n in zip(loaded, names[:len(loaded)])]
  export_dirs = dict(zip(names, encoders))
  save_heads = config.save_heads
  if "random_init" in config.baselines:
    au_dim, hidden = (infos[0]["au_code_dim"], infos[0]["au_head_hidden"]) if infos else (128, 512)
    v = random_encoder(depth, size, au_dim, hidden, config.seed)
    candidates.append(("random_init", v, {"depth": depth, "input_size": size,
                                          "normalization": export.normalization(norm)}))
  for name, variables, inf in tqdm.tqdm(candidates, desc=f"encoders ({config.protocol})"):
    start = time.perf_counter()
    if config.protocol == "linear":
      feats = evaluate.extract_features(variables, inf, data.images, config.batch_size,
                                        config.features)
      summary, logits = evaluate.cross_validate(feats, data, probe)
      result = {"encoder": name, **summary,
                "person_independence": person_independence.summary(feats, data.subjects,
                                                                   data.labels)}
      if save_heads and name in export_dirs:
        result["model"] = _save_model(name, export_dirs[name], feats, data, probe, config,
                                      info, summary, workdir)
    else:
      summary, logits = _end_to_end(data, depth=depth, size=size, train_cfg=config.finetune,
                                    seed=config.seed, encoder=variables, input_norm=norm)
      result = {"encoder": name, **summary}
    if "config" in inf:
      result["source_step"] = inf.get("source_step")
      _seen_unseen(result, inf, data)
    if write_predictions:
      _write_predictions(result, data, logits, workdir)
    result["seconds"] = time.perf_counter() - start
    results.append(result)
  for kind in baselines_lib.TRIVIAL:
    if kind in config.baselines:
      summary, logits = baselines_lib.trivial_logits(kind, data)
      result = {"encoder": kind, **summary}
      if write_predictions:
        _write_predictions(result, data, logits, workdir)
      results.append(result)
  if "supervised" in config.baselines:
    logging.info("Supervised baseline: at most %d steps per fold", config.supervised.steps)
    start = time.perf_counter()
    summary, logits = _end_to_end(data, depth=depth, size=size, train_cfg=config.supervised,
                                  seed=config.seed, input_norm=norm, early_stopping=True)
    result = {"encoder": "supervised", **summary}
    if write_predictions:
      _write_predictions(result, data, logits, workdir)
    result["seconds"] = time.perf_counter() - start
    results.append(result)
  report = {"corpus": f"{config.data.name}/{config.data.config}", "protocol": config.protocol,
            "input_norm": norm,
            "aus": [f"AU{a}" for a in aus], "results": results,
            "num_frames": int(len(data.labels)),
            "supervised": config.supervised.to_dict(),
            "scale": baselines_lib.scale(results)}
  if config.protocol == "linear":
    report.update(features=config.features, probe=probe)
  else:
    report["finetune"] = config.finetune.to_dict()
  text = report_lib.write(report, workdir)
  print(text)
  print(f"clp-eval: wrote report.json, report.md and f1_per_au.png"
        + (", and per-frame predictions/*.csv" if write_predictions else "") + f" to {workdir}")
  for r in results:
    if "model" in r:
      print(f"clp-eval: saved {r['encoder']} as an AU detector in {r['model']} "
            f"(clp-detect VIDEO --model {r['model']} --out DIR)")
  return report
