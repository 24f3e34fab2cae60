"""Orbax checkpoints of a pretraining run: train state, encoder alone, data iterator, metadata.

    workdir/checkpoints/<step>/state    the whole TrainState (resume)
                              /encoder  {'params', 'batch_stats'} of the encoder only (export)
                              /data     JSON: the grain iterator state (resume exactly)
                              /meta     JSON: step, config, device and process counts

Saves are asynchronous; Orbax writes each step into a temporary folder and renames it when
complete, so a run killed mid-save leaves the previous checkpoint as the latest. Restores go
into abstract arrays with explicit shardings (never the sharding stored in the checkpoint), so a
checkpoint written on 8 devices restores on 1 and vice versa.

Multi-process runs: every process calls save and restore with the same step (Orbax writes the
sharded arrays collectively, JSON items from process 0, into a workdir all processes share). The
iterator state is one JSON for all processes: the input order depends on the global batch only
(`clp_jax.data.pipeline`), so every process holds the same state, and a checkpoint written by n
processes resumes on m.
"""

import json
import os

from etils import epath

import jax
import orbax.checkpoint as ocp

ITEMS = ("state", "encoder", "data", "meta")

# Parameters are replicated; replica-parallel writes would slice every array per device (one
# tiny compile per shape and device at the first save) to split a few MB of writes.
ocp.type_handlers.register_type_handler(
    jax.Array, ocp.type_handlers.ArrayHandler(use_replica_parallel=False), override=True)


def manager(workdir: str, keep: int) -> ocp.CheckpointManager:
  options = ocp.CheckpointManagerOptions(max_to_keep=keep, enable_async_checkpointing=True,
                                         create=True)
  return ocp.CheckpointManager(os.path.abspath(os.path.join(workdir, "checkpoints")),
                               options=options, item_names=ITEMS)


def encoder_variables(state) -> dict:
  """The encoder's own variables, in the layout `ResNet.apply` and `interop` take."""
  return {"params": state.params["encoder"], "batch_stats": state.batch_stats["encoder"]}


def save(mngr: ocp.CheckpointManager, step: int, state, data_iter, meta: dict,
         force: bool = False) -> bool:
  return mngr.save(step, args=ocp.args.Composite(
      state=ocp.args.StandardSave(state),
      encoder=ocp.args.StandardSave(encoder_variables(state)),
      data=ocp.args.JsonSave(data_iter.get_state()),
      meta=ocp.args.JsonSave(meta)), force=force)


def _abstract(tree, shardings):
  return jax.tree.map(lambda x, s: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=s), tree, shardings)


def _legacy_data_state(mngr: ocp.CheckpointManager, step: int):
  """The iterator state of a checkpoint written before the JSON item (grain's per-process files,
  one process): its {"next_index": k} means the same batch in today's pipeline."""
  path = epath.Path(mngr.directory) / str(step) / "data" / "process_0-of-1.json"
  return json.loads(path.read_text()) if path.exists() else None


def restore(mngr: ocp.CheckpointManager, step: int, abstract_state, state_shardings, data_iter):
  """Restores the state (placed with state_shardings) and data_iter in place (None: the state
  alone, e.g. to score a checkpoint); returns (state, meta)."""
  items = dict(state=ocp.args.StandardRestore(_abstract(abstract_state, state_shardings)),
               meta=ocp.args.JsonRestore())
  legacy = _legacy_data_state(mngr, step) if data_iter is not None else None
  if data_iter is not None and legacy is None:
    items["data"] = ocp.args.JsonRestore()
  out = mngr.restore(step, args=ocp.args.Composite(**items))
  if data_iter is not None:
    data_iter.set_state(legacy if legacy is not None else out["data"])
  return out["state"], out["meta"]
