"""Orbax checkpoints of a pretraining run: train state, encoder alone, data iterator, metadata.

    workdir/checkpoints/<step>/state    the whole TrainState (resume)
                              /encoder  {'params', 'batch_stats'} of the encoder only (export)
                              /data     the grain iterator state (resume exactly)
                              /meta     JSON: step, config, device count

Saves are asynchronous; Orbax writes each step into a temporary folder and renames it when
complete, so a run killed mid-save leaves the previous checkpoint as the latest. Restores go
into abstract arrays with explicit shardings (never the sharding stored in the checkpoint), so a
checkpoint written on 8 devices restores on 1 and vice versa.
"""

import os

import grain
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
      data=grain.checkpoint.CheckpointSave(data_iter),
      meta=ocp.args.JsonSave(meta)), force=force)


def _abstract(tree, shardings):
  return jax.tree.map(lambda x, s: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=s), tree, shardings)


def restore(mngr: ocp.CheckpointManager, step: int, abstract_state, state_shardings, data_iter):
  """Restores the state (placed with state_shardings) and data_iter in place (None: the state
  alone, e.g. to score a checkpoint); returns (state, meta)."""
  items = dict(state=ocp.args.StandardRestore(_abstract(abstract_state, state_shardings)),
               meta=ocp.args.JsonRestore())
  if data_iter is not None:
    items["data"] = grain.checkpoint.CheckpointRestore(data_iter)
  out = mngr.restore(step, args=ocp.args.Composite(**items))
  return out["state"], out["meta"]
