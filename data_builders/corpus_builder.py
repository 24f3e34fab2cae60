"""The base of the builders that read a corpus from the user's disk (video_folder, voxceleb2, bp4d,
disfa, gft): a split is a list of independent jobs (a video, a task, a subject), each turned into
records by one module-level function, run either here or as an Apache Beam pipeline.

- Here (the default): the jobs run in `CLP_BUILD_WORKERS` spawned processes (default: every
  core), records are written in job order, the counts added up in this process.
- Beam: when the build gets Beam options (`clp-data build ... --beam_pipeline_options
  "direct_num_workers=4,direct_running_mode=multi_processing"`, or `DownloadConfig(beam_runner=...
  | beam_options=...)` from Python), each split is `Create(jobs) | FlatMap(job)`: the DirectRunner
  spreads the jobs over local processes, Dataflow / Flink / Spark over a cluster. The counts
  travel as Beam counters (namespace = the split) and are read back into `build_summary`.

A job function is `fn(*job) -> (records, counts)`: records a list of (key, record) of one job,
counts a dataclass of ints (`Counts` here or a builder's own) with the build's tallies. Each job
is read from start to end by one worker, so a video's face tracker sees its frames in order.
"""

import concurrent.futures
import dataclasses
import multiprocessing
import os
from typing import Callable, Dict, List, Sequence, Tuple

from absl import logging
from etils import epath
import tensorflow_datasets as tfds


def build_workers() -> int:
  """Worker processes for a build run here: CLP_BUILD_WORKERS, else every core."""
  value = os.environ.get("CLP_BUILD_WORKERS", "")
  if not value:
    return os.cpu_count() or 1
  try:
    workers = int(value)
  except ValueError:
    workers = 0
  if workers < 1:
    raise ValueError(f"CLP_BUILD_WORKERS={value!r}: expected a number of processes >= 1")
  return workers


def parallel_map(fn: Callable, jobs: Sequence[tuple], workers: int):
  """fn(*job) for each job, in order, in up to `workers` spawned processes (1: in this one).

  spawn, not fork: the calling process may already run JAX or grain threads, and a fork would
  copy their held locks into the workers and deadlock them.
  """
  workers = min(len(jobs), workers)
  if workers <= 1:
    for job in jobs:
      yield fn(*job)
    return
  ctx = multiprocessing.get_context("spawn")
  with concurrent.futures.ProcessPoolExecutor(workers, mp_context=ctx) as pool:
    futures = [pool.submit(fn, *job) for job in jobs]
    for future in futures:
      yield future.result()


def add_counts(total, counts) -> None:
  """total += counts, field by field (two dataclasses of ints of one type)."""
  for f in dataclasses.fields(total):
    setattr(total, f.name, getattr(total, f.name) + getattr(counts, f.name))


class _RunJob:
  """The Beam step of one split: a job -> its records; its counts -> Beam counters.

  A plain callable (not a closure over the builder) so that Beam can pickle it to its workers.
  """

  def __init__(self, fn: Callable, split: str):
    self.fn = fn
    self.split = split

  def __call__(self, job):
    from apache_beam import metrics  # pylint: disable=g-import-not-at-top
    records, counts = self.fn(*job)
    for f in dataclasses.fields(counts):
      metrics.Metrics.counter(self.split, f.name).inc(int(getattr(counts, f.name)))
    return records


class CorpusBuilder(tfds.core.GeneratorBasedBuilder, skip_registration=True):
  """A GeneratorBasedBuilder whose splits are job lists (see the module docstring).

  Subclasses implement `_split_jobs(dl_manager) -> {split: [job, ...]}`, and set `JOB_FN` (the
  module-level job function), `COUNTS` (its counts dataclass) and `JOB_NOUN`. `_summarize(split, counts)` may
  log what a split dropped.
  """

  JOB_FN: Callable = None
  COUNTS: type = None
  JOB_NOUN = "job"  # what one job reads, for messages: "video", "task", "subject"

  # --- what subclasses give ---------------------------------------------------------------------

  def _split_jobs(self, dl_manager) -> Dict[str, List[tuple]]:
    raise NotImplementedError

  def _summarize(self, split: str, counts) -> None:
    """Log a split's counts (override to warn about what was dropped)."""
    logging.info("%s %s: %s", self.name, split, dataclasses.asdict(counts))

  def _records_of(self, counts) -> int:
    """How many records a split's counts say were written (a split with none is an error)."""
    return counts.records

  # --- the machinery ----------------------------------------------------------------------------

  def manual_root(self, dl_manager) -> epath.Path:
    """The user's --manual_dir, or an error naming it and the layout this corpus expects."""
    try:
      path = dl_manager.manual_dir
    except AssertionError as e:  # TFDS: missing or empty
      raise FileNotFoundError(
          f"{self.name} reads the corpus from --manual_dir, and "
          f"{str(getattr(dl_manager, '_manual_dir', None))!r} is missing or empty. Expected:\n"
          + self.MANUAL_DOWNLOAD_INSTRUCTIONS) from e
    path = str(path)
    if "://" not in path:
      path = os.path.abspath(os.path.expanduser(path))
    return epath.Path(path)

  def _generate_splits(self, dl_manager, download_config):
    # TFDS decides Beam by what _generate_examples returns; the user decides by passing Beam
    # options, so remember whether they did.
    self._beam = bool(download_config.beam_runner or download_config.beam_options)
    return super()._generate_splits(dl_manager, download_config)

  def _split_generators(self, dl_manager):
    jobs = self._split_jobs(dl_manager)
    self.info.metadata["build_summary"] = {}
    self._jobs = {split: list(js) for split, js in jobs.items() if js}
    return {split: self._generate_examples(split, js) for split, js in self._jobs.items()}

  def _generate_examples(self, split: str, jobs: List[tuple]):
    if getattr(self, "_beam", False):
      beam = tfds.core.lazy_imports.apache_beam
      return (f"{split} jobs" >> beam.Create(jobs)
              | f"{split} records" >> beam.FlatMap(_RunJob(type(self).JOB_FN, split)))
    return self._local_examples(split, jobs)

  def _local_examples(self, split: str, jobs: List[tuple]):
    total = self.COUNTS()
    for records, counts in parallel_map(type(self).JOB_FN, jobs, build_workers()):
      yield from records
      add_counts(total, counts)
    self._finish(split, total)

  def _process_pipeline_result(self, pipeline_result) -> None:
    beam = tfds.core.lazy_imports.apache_beam
    for split, jobs in self._jobs.items():
      found = pipeline_result.metrics().query(
          beam.metrics.MetricsFilter().with_namespace(split))["counters"]
      values = {}
      for c in found:
        value = c.committed if c.committed is not None else c.attempted
        values[c.key.metric.name] = values.get(c.key.metric.name, 0) + int(value or 0)
      total = self.COUNTS(**{f.name: values.get(f.name, 0)
                             for f in dataclasses.fields(self.COUNTS)})
      self._finish(split, total)

  def _finish(self, split: str, total) -> None:
    summary = dataclasses.asdict(total)
    self._summarize(split, total)
    self.info.metadata["build_summary"][split] = summary
    if not self._records_of(total):
      raise ValueError(f"{self.name} {split}: no record from its {len(self._jobs[split])} "
                       f"{self.JOB_NOUN}(s) ({summary}); see the warnings above")
