"""clp-data: build a corpus into array_record files and print what it holds.

  clp-data build synthetic_au --config pretrain --data_dir ~/clp_jax_data
  clp-data stats synthetic_au --config labelled --data_dir ~/clp_jax_data
  clp-data build video_folder --config default --manual_dir ~/videos --data_dir ~/clp_jax_data
  clp-data build voxceleb2 --config dev --manual_dir ~/vox2 --data_dir ~/clp_jax_data \
      --beam_pipeline_options "direct_num_workers=8,direct_running_mode=multi_processing"

Corpora read from your disk (every one but synthetic_au) take --manual_dir: the folder that
holds them, laid out as the builder's README says. With --beam_pipeline_options they are built
as Apache Beam pipelines (`pip install -e .[beam]`): comma-separated Beam options without the
leading dashes, e.g. runner=DataflowRunner,project=P,region=R,temp_location=gs://B/tmp.
"""

import collections
import os
import time

from absl import app
from absl import flags
import numpy as np
import tensorflow_datasets as tfds

from clp_jax import command
from clp_jax.data import sources


def build(corpus: str, config: str, data_dir: str, manual_dir: str = None,
          beam_pipeline_options: str = None) -> None:
  """Builds corpus/config into data_dir (nothing when it is prepared); prints the counts.

  beam_pipeline_options: None builds here; a string ('' = the DirectRunner's defaults) builds
  as an Apache Beam pipeline with those options.
  """
  builder = sources.get_builder(corpus, config, data_dir)
  if builder.is_prepared():
    print(f"{corpus}/{config} is already prepared in {builder.data_dir}")
    return
  print(f"Building {corpus}/{config} into {builder.data_dir} ...", flush=True)
  start = time.time()
  kwargs = {}
  if manual_dir:
    kwargs["manual_dir"] = os.path.expanduser(manual_dir)
  if beam_pipeline_options is not None:
    kwargs["beam_options"] = beam_options(beam_pipeline_options)
  download_config = tfds.download.DownloadConfig(**kwargs) if kwargs else None
  builder.download_and_prepare(download_config=download_config)
  elapsed = time.time() - start
  n = sum(s.num_examples for s in builder.info.splits.values())
  print(f"Built {n} records in {elapsed:.1f} s ({n / elapsed:.1f} records/s)")
  for split, totals in sorted(builder.info.metadata.get("build_summary", {}).items()):
    print(f"  {split}: " + ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in totals.items()))


def beam_options(text: str):
  """'a=1,b=x' (tfds build's format) -> beam PipelineOptions(['--a=1', '--b=x']); '' -> the
  DirectRunner's defaults. A clear error where apache-beam is not installed."""
  try:
    from apache_beam.options import pipeline_options  # pylint: disable=g-import-not-at-top
  except ImportError as e:
    raise ValueError("--beam_pipeline_options needs Apache Beam: pip install -e '.[beam]'") from e
  flags = [f"--{item.strip().lstrip('-')}" for item in text.split(",") if item.strip()]
  for flag in flags:
    if "=" not in flag:
      raise ValueError(f"--beam_pipeline_options: {flag[2:]!r} is not of the form name=value "
                       f"(expected e.g. 'direct_num_workers=4,direct_running_mode=multi_processing')")
  return pipeline_options.PipelineOptions(flags)


def corpus_stats(source, info) -> dict:
  """Counts per part and per-AU base rates of a prepared split: a JSON-able dict."""
  subjects, videos, parts = set(), set(), collections.Counter()
  occurrence = []
  for i in range(len(source)):
    r = source[i]
    subjects.add(int(r["subject_id"]))
    videos.add(r["video_id"])
    parts[int(r["part"])] += 1
    if "au_occurrence" in r:
      occurrence.append(np.asarray(r["au_occurrence"]))
  stats = {"records": len(source), "subjects": len(subjects), "videos": len(videos),
           "records_per_part": dict(sorted(parts.items()))}
  if occurrence:
    occ = np.stack(occurrence).astype(np.float64)
    known = occ >= 0
    rate = (occ * known).sum(0) / np.maximum(known.sum(0), 1)
    stats["base_rate"] = {f"AU{au}": float(r) for au, r in zip(info.metadata["aus"], rate)}
    stats["aus_per_frame"] = float((occ * known).sum(1).mean())
  return stats


def stats(corpus: str, config: str, data_dir: str, split: str) -> None:
  """Prints what split of corpus/config holds: records, subjects, videos, AU base rates."""
  source, info = sources.open_source(corpus, config, split, data_dir)
  counts = corpus_stats(source, info)
  print(f"{corpus}/{config} split {split}: {counts['records']} records, "
        f"{counts['subjects']} subjects, {counts['videos']} videos")
  print("records per part: " + ", ".join(f"part{k}={v}" for k, v in counts["records_per_part"].items()))
  if "base_rate" in counts:
    print(f"AUs present per frame: {counts['aus_per_frame']:.2f}")
    print("| AU | base rate |\n|---|---|")
    for au, rate in counts["base_rate"].items():
      print(f"| {au} | {rate:.3f} |")


_CONFIG = flags.DEFINE_string("config", None, "The builder config, e.g. pretrain, labelled, default.")
_DATA_DIR = flags.DEFINE_string("data_dir", sources.DEFAULT_DATA_DIR, "Where built corpora live.")
_MANUAL_DIR = flags.DEFINE_string("manual_dir", None, "build: the folder holding a corpus read "
                                  "from your disk, laid out as its builder's README says.")
_BEAM = flags.DEFINE_string("beam_pipeline_options", None, "build: as an Apache Beam pipeline "
                            "with these options ('name=value,...'; '' for the DirectRunner's "
                            "defaults).")
_SPLIT = flags.DEFINE_string("split", "part1+part2+part3", "stats: the split to count.")
flags.mark_flag_as_required("config")
COMMANDS = ("build", "stats")


def _main(argv) -> int:
  if len(argv) != 3 or argv[1] not in COMMANDS or argv[2] not in sources.BUILDERS:
    raise app.UsageError(f"Usage: clp-data {{build,stats}} CORPUS --config CONFIG ...; CORPUS one "
                         f"of {sorted(sources.BUILDERS)} (got {' '.join(argv[1:]) or 'nothing'})")
  command, corpus = argv[1:]
  if command == "build":
    build(corpus, _CONFIG.value, _DATA_DIR.value, _MANUAL_DIR.value, _BEAM.value)
  else:
    stats(corpus, _CONFIG.value, _DATA_DIR.value, _SPLIT.value)


def main():
  command.run("clp-data", _main, errors=(sources.DatasetNotPreparedError,))


if __name__ == "__main__":
  main()
