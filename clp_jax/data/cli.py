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

import argparse
import collections
import os
import sys
import time

import numpy as np
import tensorflow_datasets as tfds

from clp_jax import xla_cpu
from clp_jax.data import sources


def _build(args) -> None:
  builder = sources.get_builder(args.corpus, args.config, args.data_dir)
  if builder.is_prepared():
    print(f"{args.corpus}/{args.config} is already prepared in {builder.data_dir}")
    return
  print(f"Building {args.corpus}/{args.config} into {builder.data_dir} ...", flush=True)
  start = time.time()
  kwargs = {}
  if args.manual_dir:
    kwargs["manual_dir"] = os.path.expanduser(args.manual_dir)
  if args.beam_pipeline_options is not None:
    kwargs["beam_options"] = beam_options(args.beam_pipeline_options)
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


def _stats(args) -> None:
  source, info = sources.open_source(args.corpus, args.config, args.split, args.data_dir)
  stats = corpus_stats(source, info)
  print(f"{args.corpus}/{args.config} split {args.split}: {stats['records']} records, "
        f"{stats['subjects']} subjects, {stats['videos']} videos")
  print("records per part: " + ", ".join(f"part{k}={v}" for k, v in stats["records_per_part"].items()))
  if "base_rate" in stats:
    print(f"AUs present per frame: {stats['aus_per_frame']:.2f}")
    print("| AU | base rate |\n|---|---|")
    for au, rate in stats["base_rate"].items():
      print(f"| {au} | {rate:.3f} |")


def main(argv=None) -> int:
  xla_cpu.configure()  # before JAX starts its backend: this process's XLA:CPU flags
  parser = argparse.ArgumentParser(prog="clp-data", description=__doc__,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
  sub = parser.add_subparsers(dest="command", required=True)
  for name, fn in (("build", _build), ("stats", _stats)):
    p = sub.add_parser(name)
    p.add_argument("corpus", choices=sorted(sources.BUILDERS))
    p.add_argument("--config", required=True)
    p.add_argument("--data_dir", default=sources.DEFAULT_DATA_DIR)
    if name == "build":
      p.add_argument("--manual_dir", default=None,
                     help="the folder holding a corpus read from your disk")
      p.add_argument("--beam_pipeline_options", default=None,
                     help="build as an Apache Beam pipeline with these options ('name=value,...'; "
                     "'' for the DirectRunner's defaults)")
    if name == "stats":
      p.add_argument("--split", default="part1+part2+part3")
    p.set_defaults(fn=fn)
  args = parser.parse_args(argv)
  try:
    args.fn(args)
  except (sources.DatasetNotPreparedError, FileNotFoundError, ValueError) as e:
    print(f"clp-data: error: {e}", file=sys.stderr)
    return 2
  return 0


if __name__ == "__main__":
  sys.exit(main())
