"""bp4d: BP4D-Spontaneous's AU-coded frames -> aligned labelled face records, the standard folds.

The corpus cannot be downloaded (a licence); `--manual_dir` points at the folder that holds it:

  <manual_dir>/<frames folder>/F001/T1/2440.jpg      (the frames folder is named differently per
                                                     copy: BP4D-training, Sequences_2D+3D, ...)
  <manual_dir>/<frames folder>/F001.zip              (or a subject's frames zipped, as some copies
                                                     and BP4D+ ship them: members F001/T1/2440.jpg,
                                                     read in place; a member outside F001/ is
                                                     refused, naming the archive and member)
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
import tensorflow_datasets as tfds

from data_builders import labelled_frames
from data_builders.bp4d import layout


@dataclasses.dataclass
class Bp4dConfig(labelled_frames.LabelledConfig):
  """frames_dir: the frames folder's name under manual_dir (None: found by its subject folders)."""
  frames_dir: Optional[str] = None


class Bp4d(labelled_frames.LabelledBuilder):
  """BP4D-Spontaneous: aligned faces with 12 AU occurrences, the standard 3 subject folds."""

  VERSION = tfds.core.Version("1.0.0")
  RELEASE_NOTES = {"1.0.0": "First release: aligned 112 px crops, 12 AUs, 9 = unknown -> -1."}
  HOMEPAGE = "https://www.cs.binghamton.edu/~lijun/Research/3DFE/3DFE_Analysis.html"
  MANUAL_DOWNLOAD_INSTRUCTIONS = """\
  BP4D-Spontaneous is licensed by Binghamton University
  (https://www.cs.binghamton.edu/~lijun/Research/3DFE/3DFE_Analysis.html). Pass the folder that
  holds it as --manual_dir:
    <manual_dir>/<frames folder>/F001/T1/2440.jpg   (BP4D-training/, Sequences_2D+3D/, ...)
      or <manual_dir>/<frames folder>/F001.zip holding F001/T1/2440.jpg, ...
    <manual_dir>/AUCoding/AU_OCC/F001_T1.csv
    <manual_dir>/AUCoding/AU_INT/AU06/F001_T1_AU06.csv   (optional)
  """
  BUILDER_CONFIGS = [Bp4dConfig(name="labelled", description="Every AU-coded frame, aligned.")]
  DEFAULT_CONFIG_NAME = "labelled"
  JOB_FN = staticmethod(layout.task_records)
  JOB_NOUN = "task"

  def _info(self) -> tfds.core.DatasetInfo:
    return self._info_for(
        layout.AUS, intensity_aus=list(layout.INTENSITY_AUS), subjects=layout.SUBJECTS,
        parts={s: p for p, names in layout.PARTS.items() for s in names})

  def _split_jobs(self, dl_manager):
    manual_dir = self.manual_root(dl_manager)
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
      if not layout.has_task(frames_root, s, t):
        raise FileNotFoundError(f"bp4d: {occ_dir / f'{s}_{t}.csv'} has labels, but there is no "
                                f"frames folder {frames_root / s / t} (nor {t}/ in "
                                f"{frames_root / f'{s}.zip'})")
    logging.info("bp4d: %d coded tasks", len(tasks))
    part_of = {s: p for p, names in layout.PARTS.items() for s in names}
    return {f"part{p}": [(str(manual_dir), str(frames_root), s, t, p) + self._crop_args()
                         for s, t in tasks if part_of[s] == p]
            for p in layout.PARTS}
