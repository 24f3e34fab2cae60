"""The device mesh and how batches and parameters are laid out on it.

One mesh axis, `data`: the batch is split over every device of every process, parameters are
replicated. The contrastive loss is written over the global batch and XLA inserts the gathers.
"""

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

DATA_AXIS = "data"


def make_mesh(num_devices: int | None = None) -> Mesh:
  """A 1-D mesh over the first num_devices devices (all by default), named `data`."""
  devices = jax.devices()
  if num_devices is not None:
    if num_devices > len(devices):
      raise ValueError(f"Asked for {num_devices} devices but JAX sees {len(devices)}: {devices}")
    devices = devices[:num_devices]
  return Mesh(np.asarray(devices), (DATA_AXIS,))


def batch_sharding(mesh: Mesh) -> NamedSharding:
  """Leading (batch) axis split over `data`, the rest whole."""
  return NamedSharding(mesh, P(DATA_AXIS))


def replicated(mesh: Mesh) -> NamedSharding:
  return NamedSharding(mesh, P())


def global_batch(local_batch, mesh: Mesh):
  """This process's share of a batch (a pytree of [B_local, ...] arrays) -> global jax.Arrays.

  The global batch is B_local * process_count along axis 0, split over the mesh's `data` axis.
  """
  sharding = batch_sharding(mesh)
  n = mesh.devices.size // jax.process_count()

  def put(x):
    x = np.asarray(x)
    if x.shape[0] % n:
      raise ValueError(f"Per-process batch {x.shape[0]} does not split over this process's {n} devices")
    return jax.make_array_from_process_local_data(sharding, x)

  return jax.tree.map(put, local_batch)
