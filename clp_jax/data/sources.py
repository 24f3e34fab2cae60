"""Finding prepared corpora: the builders clp_jax knows and their array_record data sources.

Reading goes through `builder.as_data_source` (array_record, random access), never `tfds.load`,
and never needs TensorFlow.
"""

import importlib
import os


# corpus name -> "module:Class" of its TFDS builder (imported on demand, so an unused builder's
# dependencies are never needed).
BUILDERS = {
    "synthetic_au": "data_builders.synthetic_au.synthetic_au_dataset_builder:SyntheticAu",
    "video_folder": "data_builders.video_folder.video_folder_dataset_builder:VideoFolder",
    "voxceleb2": "data_builders.voxceleb2.voxceleb2_dataset_builder:VoxCeleb2",
    "bp4d": "data_builders.bp4d.bp4d_dataset_builder:Bp4d",
    "disfa": "data_builders.disfa.disfa_dataset_builder:Disfa",
    "gft": "data_builders.gft.gft_dataset_builder:Gft",
}

DEFAULT_DATA_DIR = os.environ.get("CLP_DATA_DIR", os.path.expanduser("~/clp_jax_data"))


class DatasetNotPreparedError(FileNotFoundError):
  """The corpus has not been built in the data_dir that was given."""


def builder_class(name: str):
  if name not in BUILDERS:
    raise ValueError(f"Unknown corpus {name!r}; clp_jax knows {sorted(BUILDERS)}")
  module, cls = BUILDERS[name].split(":")
  return getattr(importlib.import_module(module), cls)


def build_command(name: str, config: str, data_dir: str) -> str:
  manual = "" if name == "synthetic_au" else " --manual_dir <the corpus on your disk>"
  return f"clp-data build {name} --config {config} --data_dir {data_dir}{manual}"


def get_builder(name: str, config, data_dir: str = DEFAULT_DATA_DIR):
  """The builder of corpus `name` in data_dir (not necessarily prepared).

  config: a config name of the builder, or a BuilderConfig instance (e.g. a smaller corpus).
  data_dir: a path or URL; a leading ~ is the user's home (the shell leaves it unexpanded in
  `--config.data.data_dir=~/data`).
  """
  data_dir = os.path.expanduser(data_dir)
  cls = builder_class(name)
  names = [c.name for c in cls.BUILDER_CONFIGS]
  if isinstance(config, str) and config not in names:
    raise ValueError(f"Corpus {name!r} has no config {config!r}; it has {names}")
  return cls(config=config, data_dir=data_dir, file_format="array_record")


def other_versions(builder) -> list:
  """Finished builds of this corpus and config in its data_dir at versions other than the
  builder's, e.g. ['1.1.0'] (TFDS keeps each version in a folder of its own)."""
  config_dir = os.path.dirname(builder.data_dir)
  if not os.path.isdir(config_dir):
    return []
  found = []
  for v in sorted(os.listdir(config_dir)):
    if (v != str(builder.version) and not v.startswith("incomplete")
        and os.path.isfile(os.path.join(config_dir, v, "dataset_info.json"))):
      found.append(v)
  return found


def open_source(name: str, config, split: str, data_dir: str = DEFAULT_DATA_DIR):
  """Random-access source over a prepared split, e.g. split='part1+part2'.

  Raises DatasetNotPreparedError naming the command that builds it when data_dir lacks the corpus
  (TFDS writes into an `incomplete.*` folder and renames it only when the build finished, so an
  interrupted build is never taken for a prepared one).
  """
  builder = get_builder(name, config, data_dir)
  config = builder.builder_config.name
  if not builder.is_prepared():
    older = other_versions(builder)
    if older:
      notes = getattr(builder, "RELEASE_NOTES", {}).get(str(builder.version), "")
      raise DatasetNotPreparedError(
          f"Corpus {name}/{config} in {os.path.abspath(data_dir)} was built with version "
          f"{', '.join(older)} of its builder; this clp_jax reads version {builder.version}"
          + (f" ({notes})" if notes else "") + ". Records of another version differ in what "
          f"they hold, so they are not read. Rebuild with:\n  "
          f"{build_command(name, config, data_dir)}")
    raise DatasetNotPreparedError(
        f"Corpus {name}/{config} is not prepared in {os.path.abspath(data_dir)} "
        f"(looked for {builder.data_dir}). Build it with:\n  {build_command(name, config, data_dir)}")
  return builder.as_data_source(split=split), builder.info
