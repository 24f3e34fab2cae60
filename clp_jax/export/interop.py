"""Encoder weights to and from torchvision's resnet18/resnet50 state_dict, as safetensors
(resnet10, one block a stage, takes the same names).

Users start from ImageNet weights they already hold (`torch.save`d state_dicts converted with
`safetensors.torch.save_file`) and hand trained encoders back to PyTorch code. Only the encoder
maps: torchvision's `fc.*` is skipped on load and absent on save.

Conv kernels: torch OIHW <-> flax HWIO. BatchNorm: weight/bias <-> params scale/bias,
running_mean/running_var <-> batch_stats mean/var; `num_batches_tracked` is written as 0.
"""

import re

import numpy as np
from safetensors.numpy import load_file, save_file

_BN = {"weight": ("params", "scale"), "bias": ("params", "bias"),
       "running_mean": ("batch_stats", "mean"), "running_var": ("batch_stats", "var")}


def _flax_path(torch_key: str):
  """'layer1.0.downsample.1.running_mean' -> ('batch_stats', ('layer1_0', 'downsample_bn', 'mean'))."""
  parts = torch_key.split(".")
  leaf = parts[-1]
  mods = parts[:-1]
  if mods and re.fullmatch(r"layer\d", mods[0]):
    mods = [f"{mods[0]}_{mods[1]}"] + mods[2:]
  if mods[-2:] == ["downsample", "0"]:
    mods = mods[:-2] + ["downsample_conv"]
  elif mods[-2:] == ["downsample", "1"]:
    mods = mods[:-2] + ["downsample_bn"]
  if "conv" in mods[-1]:
    if leaf != "weight":
      raise KeyError(torch_key)
    return "params", tuple(mods) + ("kernel",)
  if leaf not in _BN:
    raise KeyError(torch_key)
  collection, name = _BN[leaf]
  return collection, tuple(mods) + (name,)


def _get(tree, path):
  for p in path:
    tree = tree[p]
  return tree


def _set(tree, path, value):
  for p in path[:-1]:
    tree = tree.setdefault(p, {})
  tree[path[-1]] = value


def from_torch_state_dict(state_dict: dict, variables: dict) -> dict:
  """Encoder variables {'params', 'batch_stats'} with every tensor replaced from state_dict.

  variables gives the expected structure and shapes (e.g. `ResNet(18).init(...)`); a missing or
  misshapen tensor is an error that names it.
  """
  out = {"params": {}, "batch_stats": {}}
  used = set()
  for key, value in state_dict.items():
    if key.startswith("fc.") or key.endswith("num_batches_tracked"):
      continue
    try:
      collection, path = _flax_path(key)
      expected = _get(variables[collection], path)
    except KeyError as e:
      raise ValueError(f"state_dict key {key!r} has no counterpart in this encoder") from e
    value = np.asarray(value)
    if path[-1] == "kernel":
      value = value.transpose(2, 3, 1, 0)
    if value.shape != tuple(expected.shape):
      raise ValueError(f"state_dict {key!r} has shape {value.shape} (after OIHW->HWIO), "
                       f"the encoder expects {tuple(expected.shape)}: another architecture?")
    _set(out[collection], path, value.astype(np.float32))
    used.add((collection, path))
  expected_paths = {(c, p) for c in ("params", "batch_stats") for p in _paths(variables[c])}
  missing = expected_paths - used
  if missing:
    names = sorted("/".join(p) for _, p in missing)[:5]
    raise ValueError(f"state_dict lacks {len(missing)} encoder tensors, e.g. {names}")
  return out


def _paths(tree, prefix=()):
  for k, v in tree.items():
    if isinstance(v, dict) or hasattr(v, "items"):
      yield from _paths(v, prefix + (k,))
    else:
      yield prefix + (k,)


def _torch_key(collection: str, path: tuple) -> str:
  mods, leaf = list(path[:-1]), path[-1]
  if re.fullmatch(r"layer\d_\d+", mods[0]):
    mods = mods[0].split("_") + mods[1:]
  mods = [{"downsample_conv": "downsample.0", "downsample_bn": "downsample.1"}.get(m, m) for m in mods]
  if leaf == "kernel":
    name = "weight"
  else:
    name = {v: k for k, v in _BN.items()}[(collection, leaf)]
  return ".".join(mods + [name])


def to_torch_state_dict(variables: dict) -> dict:
  """Encoder variables -> {torchvision key: float32 numpy array}."""
  out = {}
  for collection in ("params", "batch_stats"):
    for path in _paths(variables[collection]):
      value = np.asarray(_get(variables[collection], path), np.float32)
      if path[-1] == "kernel":
        value = value.transpose(3, 2, 0, 1)
      key = _torch_key(collection, path)
      out[key] = np.ascontiguousarray(value)
      if key.endswith("running_var"):
        out[key[:-len("running_var")] + "num_batches_tracked"] = np.zeros((), np.int64)
  return out


def load_safetensors(path: str, variables: dict) -> dict:
  return from_torch_state_dict(load_file(path), variables)


def save_safetensors(path: str, variables: dict) -> None:
  save_file(to_torch_state_dict(variables), path)
