"""disfa: DISFA's left-camera videos and AU intensities -> aligned labelled face records.

The corpus cannot be downloaded (a licence); `--manual_dir` points at the folder that holds
Videos_LeftCamera/ and ActionUnit_Labels/ (layout.py). Every frame the 8 protocol AUs label is
stored (4,845 a subject), its main face tracked through the video and aligned; occurrence is
intensity >= 2; the 3 subject-exclusive parts are the standard ones (../shared/datasets.md).
Frames without a face, and a video that ends early, are dropped, logged and counted
(`build_summary`); a malformed label line stops the build with its file and line.
"""

import dataclasses

from absl import logging
import tensorflow_datasets as tfds

from data_builders import labelled_frames
from data_builders.disfa import layout


@dataclasses.dataclass
class DisfaConfig(labelled_frames.LabelledConfig):
  """landmarks: align on DISFA's shipped 66-point landmarks (Landmark_Points/) where a subject has
  them, instead of detecting faces."""
  landmarks: bool = True


class Disfa(labelled_frames.LabelledBuilder):
  """DISFA (left camera): aligned faces with 8 AUs, the standard 3 subject folds."""

  VERSION = tfds.core.Version("1.1.0")
  RELEASE_NOTES = {
      "1.0.0": "First release: aligned 112 px crops, 8 AUs, present = intensity >= 2.",
      "1.1.0": "Aligned on the shipped 66-point landmarks where present (config 'detected': not).",
  }
  HOMEPAGE = "http://mohammadmahoor.com/disfa/"
  MANUAL_DOWNLOAD_INSTRUCTIONS = """\
  DISFA is licensed by the University of Denver (http://mohammadmahoor.com/disfa/). Pass the
  folder that holds it as --manual_dir:
    <manual_dir>/Videos_LeftCamera/LeftVideoSN001_comp.avi
    <manual_dir>/ActionUnit_Labels/SN001/SN001_au1.txt
    <manual_dir>/Landmark_Points/SN001/.../SN001_0000_lm.mat   (optional: aligned on these)
  """
  BUILDER_CONFIGS = [
      DisfaConfig(name="labelled", description="Every labelled left-camera frame, aligned on the "
                  "shipped landmarks where present, else on detected faces."),
      DisfaConfig(name="detected", landmarks=False,
                  description="As labelled, every face detected (the shipped landmarks unused)."),
  ]
  DEFAULT_CONFIG_NAME = "labelled"
  JOB_FN = staticmethod(layout.subject_records)
  JOB_NOUN = "subject"

  def _info(self) -> tfds.core.DatasetInfo:
    return self._info_for(
        layout.AUS, intensity_aus=list(layout.AUS), subjects=layout.SUBJECTS,
        parts={s: p for p, names in layout.PARTS.items() for s in names},
        occurrence_threshold=layout.PRESENT_FROM)

  def _split_jobs(self, dl_manager):
    root = self.manual_root(dl_manager)
    for folder in ("Videos_LeftCamera", "ActionUnit_Labels"):
      if not (root / folder).is_dir():
        raise FileNotFoundError(f"disfa needs {root / folder}. Expected:\n"
                                + self.MANUAL_DOWNLOAD_INSTRUCTIONS)
    present = [s for s in layout.SUBJECTS if layout.video_path(root, s).exists()]
    if not present:
      raise FileNotFoundError(f"disfa: no LeftVideoSN..._comp.avi of DISFA's 27 subjects in "
                              f"{root / 'Videos_LeftCamera'}")
    logging.info("disfa: %d of 27 subjects' videos present", len(present))
    with_landmarks = [s for s in present if layout.landmark_files(root, s)]
    logging.info("disfa: %d of them with shipped landmarks%s", len(with_landmarks),
                 "" if self.builder_config.landmarks else " (not used: config 'detected')")
    return {f"part{p}": [(str(root), s, p) + self._crop_args() + (self.builder_config.landmarks,)
                         for s in names if s in present]
            for p, names in layout.PARTS.items()}
