"""CLP pretraining: one readable loop, in banner-commented stages (big_vision style).

mesh -> input -> model/optimizer -> sharded state -> step -> restore -> held-out losses -> loop
(log, held-out losses, checkpoint, NaN guard, preemption).
"""

import json
import os
import resource
import signal

from absl import logging
import jax
import tqdm

from clp_jax import multihost
from clp_jax import run_log
from clp_jax import sharding
from clp_jax.data import pipeline
from clp_jax.data import sources
from clp_jax.pretrain import checkpoint
from clp_jax.pretrain import config as config_lib
from clp_jax.pretrain import state as state_lib
from clp_jax.pretrain import step as step_lib
from clp_jax.pretrain import validation


class NonFiniteLossError(FloatingPointError):
  """The loss or a gradient became NaN/Inf; the run stopped without saving the bad state."""


def train(config, workdir: str) -> state_lib.TrainState:
  """Pretrains per config, checkpointing into workdir; resumes from workdir's latest checkpoint."""
  # ----------------------------------------------------------------------------------- mesh
  config_lib.validate(config)  # every setting checked before a corpus is opened or a step compiled
  multihost.initialize(config)
  mesh = sharding.make_mesh(config.num_devices)
  n_dev = mesh.devices.size
  if config.global_batch_size % n_dev:
    raise ValueError(f"config.global_batch_size={config.global_batch_size} clips does not split "
                     f"over {n_dev} devices")
  is_main = jax.process_index() == 0
  os.makedirs(workdir, exist_ok=True)

  # ---------------------------------------------------------------------------------- input
  source, info = sources.open_source(config.data.name, config.data.config, config.data.split,
                                     config.data.data_dir)
  # Every process must run the same settings on the same records (data_dir may differ: each
  # host can hold its copy elsewhere; the corpus is compared by name, version and size).
  settings = json.loads(config.to_json())
  settings["data"].pop("data_dir", None)
  multihost.check_agreement({
      "config": settings, "corpus": {"name": config.data.name, "config": config.data.config,
                                     "split": config.data.split, "version": str(info.version),
                                     "clips": len(source)}})
  data = pipeline.pretrain_dataset_from_config(source, config, seed=config.seed)
  data_iter = iter(data)

  # ------------------------------------------- model, optimizer, sharded state and step
  clp = step_lib.sharded_step(config, mesh)
  rng = jax.random.key(config.seed)

  # ------------------------------------------------------------------------------ restore
  mngr = checkpoint.manager(workdir, config.keep_checkpoints)
  latest = mngr.latest_step()
  if latest is None:
    state = clp.init(rng)
    logging.info("Starting from scratch in %s", workdir)
  else:
    state, meta = checkpoint.restore(mngr, latest, clp.abstract_state, clp.state_sharding,
                                     data_iter)
    logging.info("Resumed from step %d (written on %s devices, %s processes) on %d devices, "
                 "%d processes", latest, meta.get("num_devices"), meta.get("num_processes", 1),
                 n_dev, jax.process_count())
  step = int(jax.device_get(state.step))
  meta = {"config": json.loads(config.to_json()), "num_devices": n_dev,
          "num_processes": jax.process_count(),
          "corpus": f"{config.data.name}/{config.data.config}",
          "aus": list(info.metadata.get("aus", []))}  # none for unlabelled video

  # --------------------------------------------------------------------- held-out losses
  validator = None
  if 0 < config.validation.every <= config.num_steps:
    validator = validation.Validator(config, mesh, clp)

  # ---------------------------------------------------------------------------- the loop
  # SIGTERM (preemption, scancel, a pod's eviction): save and stop. With several processes JAX's
  # preemption service catches it (a Python handler here would replace its own) and names the
  # step at which all of them stop.
  sigterm = []
  previous = None
  if jax.process_count() == 1:
    previous = signal.signal(signal.SIGTERM, lambda *_: sigterm.append(True))
  log = run_log.RunLog(workdir) if is_main else None
  bar = tqdm.tqdm(total=config.num_steps, initial=step, desc="pretrain", disable=not is_main,
                  dynamic_ncols=True)
  history, validation_history = [], []
  # The host never waits for a step it has just dispatched: step k's finite flag is read after
  # step k + 1 is dispatched (or at once where step k is logged or saved: a bad step is never
  # saved), and the next batch goes to the device while the current step runs. The batch is
  # fetched after the checkpoint decision, so a saved iterator state points at the next step's.
  unchecked = None
  batch = sharding.global_batch(next(data_iter), mesh) if step < config.num_steps else None
  try:
    while step < config.num_steps:
      state, metrics = clp.step(state, batch)
      step += 1
      bar.update(1)
      if unchecked:
        _check_finite(*unchecked, mngr=mngr, workdir=workdir)
      unchecked = (step, metrics)
      log_now = step % config.log_every == 0 or step == config.num_steps
      validate_now = validator is not None and step % config.validation.every == 0
      preempted = multihost.should_stop(step, bool(sigterm))
      save = step % config.checkpoint_every == 0 or step == config.num_steps or preempted
      if log_now or validate_now or save:  # these read the state: make sure it is finite first
        _check_finite(*unchecked, mngr=mngr, workdir=workdir)
        unchecked = None
      if log_now:
        scalars = {k: float(v) for k, v in jax.device_get(metrics).items()}
        history.append((step, scalars))
        bar.set_postfix(loss=f"{scalars['loss']:.4f}")
        if log:
          log.scalars(step, {**{f"train/{k}": v for k, v in scalars.items()},
                             "train/steps_per_sec": bar.format_dict["rate"] or 0.0})
      if validate_now:
        held_out = validator(state)
        validation_history.append((step, held_out))
        if log:
          log.scalars(step, held_out)
      if save:
        checkpoint.save(mngr, step, state, data_iter, dict(meta, step=step), force=bool(preempted))
      if preempted:
        logging.warning("SIGTERM: saved step %d, exiting", step)
        break
      if step < config.num_steps:
        batch = sharding.global_batch(next(data_iter), mesh)
    if unchecked:
      _check_finite(*unchecked, mngr=mngr, workdir=workdir)
  finally:
    mngr.wait_until_finished()
    mngr.close()
    bar.close()
    if log:
      log.close()
    if previous is not None:
      signal.signal(signal.SIGTERM, previous)
  if is_main and history:
    first, last = history[0][1]["loss"], history[-1][1]["loss"]
    peak_gib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    print(f"pretrain: {step} steps, loss {first:.4f} (step {history[0][0]}) -> {last:.4f} "
          f"(step {history[-1][0]}); peak host memory {peak_gib:.2f} GiB; "
          f"checkpoints in {os.path.join(workdir, 'checkpoints')}")
  if is_main and validation_history:
    for at, v in validation_history:
      print(f"pretrain: step {at}: loss on fixed clips, seen subjects {v['seen/loss']:.4f}, "
            f"held-out subjects ({config.validation.split}) {v['heldout/loss']:.4f}")
  return state


def _check_finite(step: int, metrics: dict, *, mngr, workdir: str) -> None:
  """Raises NonFiniteLossError if step's loss or gradient was NaN/Inf (reads the flag: a sync)."""
  if bool(metrics["finite"]):
    return
  mngr.wait_until_finished()
  last = mngr.latest_step()
  raise NonFiniteLossError(
      f"Non-finite loss or gradient at step {step} (loss={float(metrics['loss'])}, "
      f"grad_norm={float(metrics['grad_norm'])}). The run stopped; the last good checkpoint "
      f"is step {last} in {os.path.join(workdir, 'checkpoints')}. Lower "
      f"config.optimizer.lr or check the input.")


def loss_history(workdir: str, tag: str = "train/loss") -> list:
  """(step, value) pairs of a logged scalar (`run_log.history`), for tests and reports."""
  return run_log.history(workdir, tag)
