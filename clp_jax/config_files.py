"""Loading ml_collections config files by path, as `--config path.py:arg` does, outside absl."""

import importlib.util
import os


def module(path: str):
  """The config file at path, executed as a module (its get_config, and what else it defines)."""
  if not os.path.exists(path):
    raise FileNotFoundError(f"No config file {path}")
  name = "clp_config_" + os.path.splitext(os.path.basename(path))[0]
  spec = importlib.util.spec_from_file_location(name, path)
  loaded = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(loaded)
  return loaded


def load(path: str, arg: str = ""):
  """The ConfigDict that `get_config(arg)` of the file at path returns."""
  return module(path).get_config(arg)
