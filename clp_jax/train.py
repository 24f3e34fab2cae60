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
import tensorboardX
import tqdm

from clp_jax import checkpoint
from clp_jax import multihost
from clp_jax import sharding
from clp_jax import step as step_lib
from clp_jax import validation
from clp_jax.data import pipeline
from clp_jax.data import sources


class NonFiniteLossError(FloatingPointError):
  """The loss or a gradient became NaN/Inf; the run stopped without saving the bad state."""


def train(config, workdir: str) -> step_lib.TrainState:
  """Pretrains per config, checkpointing into workdir; resumes from workdir's latest checkpoint."""
  # ----------------------------------------------------------------------------------- mesh
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
  if config.get("validation") and 0 < config.validation.every <= config.num_steps:
    validator = validation.Validator(config, mesh, clp)

  # ---------------------------------------------------------------------------- the loop
  # SIGTERM (preemption, scancel, a pod's eviction): save and stop. With several processes JAX's
  # preemption service catches it (a Python handler here would replace its own) and names the
  # step at which all of them stop.
  sigterm = []
  previous = None
  if jax.process_count() == 1:
    previous = signal.signal(signal.SIGTERM, lambda *_: sigterm.append(True))
  writer = tensorboardX.SummaryWriter(os.path.join(workdir, "tb")) if is_main else None
  bar = tqdm.tqdm(total=config.num_steps, initial=step, desc="pretrain", disable=not is_main,
                  dynamic_ncols=True)
  history, validation_history = [], []
  try:
    while step < config.num_steps:
      batch = sharding.global_batch(next(data_iter), mesh)
      state, metrics = clp.step(state, batch)
      if not bool(metrics["finite"]):  # fetched every step: a bad step must never be saved
        mngr.wait_until_finished()
        last = mngr.latest_step()
        raise NonFiniteLossError(
            f"Non-finite loss or gradient at step {step + 1} (loss={float(metrics['loss'])}, "
            f"grad_norm={float(metrics['grad_norm'])}). The run stopped; the last good checkpoint "
            f"is step {last} in {os.path.join(workdir, 'checkpoints')}. Lower "
            f"config.optimizer.lr or check the input.")
      step += 1
      bar.update(1)
      if step % config.log_every == 0 or step == config.num_steps:
        scalars = {k: float(v) for k, v in jax.device_get(metrics).items()}
        history.append((step, scalars))
        bar.set_postfix(loss=f"{scalars['loss']:.4f}")
        if writer:
          for k, v in scalars.items():
            writer.add_scalar(f"train/{k}", v, step)
          writer.add_scalar("train/steps_per_sec", bar.format_dict["rate"] or 0.0, step)
      if validator and step % config.validation.every == 0:
        held_out = validator(state)
        validation_history.append((step, held_out))
        if writer:
          for k, v in held_out.items():
            writer.add_scalar(k, v, step)
      preempted = multihost.should_stop(step, bool(sigterm))
      if step % config.checkpoint_every == 0 or step == config.num_steps or preempted:
        checkpoint.save(mngr, step, state, data_iter, dict(meta, step=step), force=bool(preempted))
      if preempted:
        logging.warning("SIGTERM: saved step %d, exiting", step)
        break
  finally:
    mngr.wait_until_finished()
    mngr.close()
    bar.close()
    if writer:
      writer.close()
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


def loss_history(workdir: str, tag: str = "train/loss") -> list:
  """(step, value) pairs of a scalar from the run's TensorBoard events, for tests and reports."""
  from tensorboardX.proto import event_pb2  # pylint: disable=g-import-not-at-top
  import glob  # pylint: disable=g-import-not-at-top
  import struct  # pylint: disable=g-import-not-at-top
  out = []
  for path in sorted(glob.glob(os.path.join(workdir, "tb", "events.*"))):
    with open(path, "rb") as f:
      data = f.read()
    pos = 0
    while pos + 12 <= len(data):
      (length,) = struct.unpack("<Q", data[pos:pos + 8])
      event = event_pb2.Event.FromString(data[pos + 12:pos + 12 + length])
      pos += 12 + length + 4
      for v in event.summary.value:
        if v.tag == tag:
          out.append((event.step, v.simple_value))
  return sorted(out)
