"""Several processes, one run: start-up, the check that they agree, and preemption.

JAX's multi-controller runtime runs the same program in every process (one per TPU VM host or GPU
node); each process feeds its own devices and the compiled step's collectives join them.

    multihost.initialize(config)         # jax.distributed.initialize() where config.distributed
    multihost.check_agreement({"config": ..., "corpus": ...})  # or a ValueError naming what differs
    multihost.should_stop(step, sigterm_seen)  # every process stops at the same step
"""

import json
import os

from absl import logging
import jax
from jax.experimental import multihost_utils
import numpy as np


def initialize(config) -> None:
  """Joins the other processes when config.distributed (a no-op otherwise).

  On TPU VMs and under SLURM JAX finds the coordinator and the process layout itself; elsewhere
  JAX_COORDINATOR_ADDRESS (read by JAX) and JAX_NUM_PROCESSES, JAX_PROCESS_ID (read here) give
  them, as launch/local_multiprocess.sh sets them. Processes other than 0 log warnings only.
  """
  if not config.distributed:
    return
  layout = {}
  if "JAX_NUM_PROCESSES" in os.environ or "JAX_PROCESS_ID" in os.environ:
    try:
      layout = dict(num_processes=int(os.environ["JAX_NUM_PROCESSES"]),
                    process_id=int(os.environ["JAX_PROCESS_ID"]))
    except (KeyError, ValueError) as e:
      raise ValueError("JAX_NUM_PROCESSES and JAX_PROCESS_ID must both be set to integers for "
                       f"config.distributed=True outside TPU VMs and SLURM ({e})") from e
  if jax.distributed.is_initialized():
    return
  jax.distributed.initialize(**layout)
  if jax.process_index() != 0:
    logging.set_verbosity(logging.WARNING)


def _flatten(tree, prefix="") -> dict:
  if isinstance(tree, dict):
    out = {}
    for k, v in tree.items():
      out.update(_flatten(v, f"{prefix}{k}."))
    return out
  return {prefix[:-1]: tree}


def differences(mine: dict, reference: dict) -> list:
  """'key: here X, process 0 Y' for every flattened key whose value differs (or is missing)."""
  a, b = _flatten(mine), _flatten(reference)
  missing = object()
  out = []
  for key in sorted(set(a) | set(b)):
    x, y = a.get(key, missing), b.get(key, missing)
    if x != y:
      show = lambda v: "(absent)" if v is missing else repr(v)
      out.append(f"{key}: here {show(x)}, process 0 {show(y)}")
  return out


def check_agreement(description: dict) -> None:
  """Raises in every process unless all processes hold the same description (JSON-serialisable:
  the config, the corpus's name, version and size) as process 0.

  Processes that run different settings would still compile and step together, on silently
  different programs or data; this turns that into an error naming the settings, before the first
  step. The process that differs names them; the others say which processes differ.
  """
  if jax.process_count() == 1:
    return
  mine = json.dumps(description, sort_keys=True, default=str).encode()
  lengths = np.asarray(multihost_utils.process_allgather(np.array([len(mine)], np.int32)))
  buf = np.zeros(int(lengths.max()), np.uint8)
  buf[:len(mine)] = np.frombuffer(mine, np.uint8)
  reference = np.asarray(multihost_utils.broadcast_one_to_all(buf))
  reference = json.loads(bytes(reference[:int(lengths.reshape(-1)[0])]).decode())
  diffs = differences(json.loads(mine.decode()), reference)
  counts = np.asarray(multihost_utils.process_allgather(np.array([len(diffs)], np.int32)))
  differing = [p for p, c in enumerate(counts.reshape(-1)) if c]
  if not differing:
    return
  me = jax.process_index()
  if diffs:
    raise ValueError(f"Process {me} of {jax.process_count()} does not run what process 0 runs; "
                     f"every process must be started with the same command on the same corpus. "
                     f"Differences: " + "; ".join(diffs))
  raise ValueError(f"Processes {differing} do not run what process 0 runs (their errors name the "
                   f"settings); every process must be started with the same command on the same "
                   f"corpus")


def should_stop(step: int, sigterm_seen: bool) -> bool:
  """Whether to save and stop after this step because the job is being preempted.

  One process: whether it got SIGTERM. Several: JAX's preemption service (which catches the
  SIGTERM of any process) names one step at which every process returns True, so all of them
  save the same checkpoint and stop together; a process stopping alone would hang the others in
  the next collective.
  """
  if jax.process_count() == 1:
    return sigterm_seen
  return multihost_utils.reached_preemption_sync_point(step)
