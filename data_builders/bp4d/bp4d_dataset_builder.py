"""bp4d: BP4D-Spontaneous's AU-coded frames -> aligned labelled face records, the standard folds.

The corpus cannot be downloaded (a licence); `--manual_dir` points at the folder that holds it:

  <manual_dir>/<frames folder>/F001/T1/2440.jpg      (the frames folder is named differently per
                                                     copy: BP4D-training, Sequences_2D+3D, ...)
  <manual_dir>/AUCoding/AU_OCC/F001_T1.csv           (occurrence: header 0..99, column N = AU N,
                                                     column 0 the frame number; 9 = unknown)
  <manual_dir>/AUCoding/AU_INT/AU06/F001_T1_AU06.csv (optional intensity of AUs 6, 10, 12, 14,
                                                     17: `frame,intensity` rows, 9 = unknown)

Frame files are parsed with int(stem) (3- and 4-digit names both occur) and matched to the label
rows' frame numbers; only coded frames are stored. Each task's frames go through the face tracker
in order; a coded frame without a face or without its image is dropped and counted
(`build_summary`). The 12 AUs and the 3 subject-exclusive parts are those of JAA-Net and
ME-GraphAU (../shared/datasets.md). A malformed label row stops the build with its file and line.
"""

import dataclasses
import re
from typing import Optional

from absl import logging
from etils import epath
import tensorflow_datasets as tfds

from data_builders import labelled_frames
from data_builders.bp4d import layout


@dataclasses.dataclass
class Bp4dConfig(tfds.core.BuilderConfig):
  """frames_dir: the frames folder's name under manual_dir (None: found by its subject folders).
  image_size, detect_every, jpeg_quality: the aligned crops, as video_folder's."""
  frames_dir: Optional[str] = None
  image_size: int = 112
  detect_every: int = 5
  jpeg_quality: int = 95


class Bp4d(tfds.core.GeneratorBasedBuilder):
  """BP4D-Spontaneous: aligned faces with 12 AU occurrences, the standard 3 subject folds."""

  VERSION = tfds.core.Version("1.0.0")
  RELEASE_NOTES = {"1.0.0": "First release: aligned 112 px crops, 12 AUs, 9 = unknown -> -1."}
  MANUAL_DOWNLOAD_INSTRUCTIONS = """\
  BP4D-Spontaneous is licensed by Binghamton University
  (https://www.cs.binghamton.edu/~lijun/Research/3DFE/3DFE_Analysis.html). Pass the folder that
  holds it as --manual_dir:
    <manual_dir>/<frames folder>/F001/T1/2440.jpg   (BP4D-training/, Sequences_2D+3D/, ...)
    <manual_dir>/AUCoding/AU_OCC/F001_T1.csv
    <manual_dir>/AUCoding/AU_INT/AU06/F001_T1_AU06.csv   (optional)
  """
  BUILDER_CONFIGS = [Bp4dConfig(name="labelled", description="Every AU-coded frame, aligned.")]
  DEFAULT_CONFIG_NAME = "labelled"

  def _info(self) -> tfds.core.DatasetInfo:
    return tfds.core.DatasetInfo(
        builder=self,
        description=__doc__,
        features=labelled_frames.features(len(layout.AUS)),
        metadata=tfds.core.MetadataDict(
            aus=list(layout.AUS), intensity_aus=list(layout.INTENSITY_AUS),
            subjects=layout.SUBJECTS,
            parts={s: p for p, names in layout.PARTS.items() for s in names},
            image_size=self.builder_config.image_size, aligned=True, template="five_point"),
        homepage="https://www.cs.binghamton.edu/~lijun/Research/3DFE/3DFE_Analysis.html",
    )

  def _split_generators(self, dl_manager):
    try:
      manual_dir = epath.Path(dl_manager.manual_dir)
    except AssertionError as e:
      raise FileNotFoundError(
          f"bp4d reads the corpus from --manual_dir, and "
          f"{str(getattr(dl_manager, '_manual_dir', None))!r} is missing or empty. Expected:\n"
          + self.MANUAL_DOWNLOAD_INSTRUCTIONS) from e
    occ_dir = manual_dir / "AUCoding" / "AU_OCC"
    if not occ_dir.is_dir():
      raise FileNotFoundError(f"bp4d needs the occurrence labels in {occ_dir}. Expected:\n"
                              + self.MANUAL_DOWNLOAD_INSTRUCTIONS)
    frames_root = layout.find_frames_root(manual_dir, self.builder_config.frames_dir)
    tasks = sorted(m.groups() for m in (re.match(r"^([FM]\d{3})_(T\d+)\.csv$", p.name)
                                        for p in occ_dir.iterdir()) if m)
    unknown = sorted({s for s, _ in tasks} - set(layout.SUBJECTS))
    if unknown:
      raise ValueError(f"bp4d: label files in {occ_dir} name subjects outside BP4D's 41: {unknown}")
    for s, t in tasks:
      if not (frames_root / s / t).is_dir():
        raise FileNotFoundError(f"bp4d: {occ_dir / f'{s}_{t}.csv'} has labels, but there is no "
                                f"frames folder {frames_root / s / t}")
    self.info.metadata["build_summary"] = {}
    part_of = {s: p for p, names in layout.PARTS.items() for s in names}
    jobs = {p: [(s, t) for s, t in tasks if part_of[s] == p] for p in layout.PARTS}
    return {f"part{p}": self._generate_examples(manual_dir, frames_root, jobs[p], p)
            for p in layout.PARTS if jobs[p]}

  def _generate_examples(self, manual_dir, frames_root, jobs, part):
    cfg = self.builder_config
    totals = labelled_frames.Counts()
    work = [(str(manual_dir), str(frames_root), s, t, part, cfg.image_size, cfg.detect_every,
             cfg.jpeg_quality) for s, t in jobs]
    for records, counts in labelled_frames.parallel_map(layout.task_records, work,
                                                        labelled_frames.build_workers()):
      yield from records
      totals.add(counts)
    summary = dataclasses.asdict(totals)
    logging.info("bp4d part%d: %s", part, summary)
    if totals.without_face or totals.without_image:
      logging.warning("bp4d part%d: dropped %d coded frames without a face and %d without an "
                      "image", part, totals.without_face, totals.without_image)
    self.info.metadata["build_summary"][f"part{part}"] = summary
    if not totals.records:
      raise ValueError(f"bp4d part{part}: no record from its {len(jobs)} task(s) ({summary}); "
                       f"see the warnings above")
