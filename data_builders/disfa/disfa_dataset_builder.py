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
from etils import epath
import tensorflow_datasets as tfds

from data_builders import labelled_frames
from data_builders.disfa import layout


@dataclasses.dataclass
class DisfaConfig(tfds.core.BuilderConfig):
  """The aligned crops, as video_folder's."""
  image_size: int = 112
  detect_every: int = 5
  jpeg_quality: int = 95


class Disfa(tfds.core.GeneratorBasedBuilder):
  """DISFA (left camera): aligned faces with 8 AUs, the standard 3 subject folds."""

  VERSION = tfds.core.Version("1.0.0")
  RELEASE_NOTES = {"1.0.0": "First release: aligned 112 px crops, 8 AUs, present = intensity >= 2."}
  MANUAL_DOWNLOAD_INSTRUCTIONS = """\
  DISFA is licensed by the University of Denver (http://mohammadmahoor.com/disfa/). Pass the
  folder that holds it as --manual_dir:
    <manual_dir>/Videos_LeftCamera/LeftVideoSN001_comp.avi
    <manual_dir>/ActionUnit_Labels/SN001/SN001_au1.txt
  """
  BUILDER_CONFIGS = [DisfaConfig(name="labelled", description="Every labelled left-camera frame.")]
  DEFAULT_CONFIG_NAME = "labelled"

  def _info(self) -> tfds.core.DatasetInfo:
    return tfds.core.DatasetInfo(
        builder=self,
        description=__doc__,
        features=labelled_frames.features(len(layout.AUS)),
        metadata=tfds.core.MetadataDict(
            aus=list(layout.AUS), intensity_aus=list(layout.AUS), subjects=layout.SUBJECTS,
            parts={s: p for p, names in layout.PARTS.items() for s in names},
            occurrence_threshold=layout.PRESENT_FROM,
            image_size=self.builder_config.image_size, aligned=True, template="five_point"),
        homepage="http://mohammadmahoor.com/disfa/",
    )

  def _split_generators(self, dl_manager):
    try:
      root = epath.Path(dl_manager.manual_dir)
    except AssertionError as e:
      raise FileNotFoundError(
          f"disfa reads the corpus from --manual_dir, and "
          f"{str(getattr(dl_manager, '_manual_dir', None))!r} is missing or empty. Expected:\n"
          + self.MANUAL_DOWNLOAD_INSTRUCTIONS) from e
    for folder in ("Videos_LeftCamera", "ActionUnit_Labels"):
      if not (root / folder).is_dir():
        raise FileNotFoundError(f"disfa needs {root / folder}. Expected:\n"
                                + self.MANUAL_DOWNLOAD_INSTRUCTIONS)
    present = [s for s in layout.SUBJECTS if layout.video_path(root, s).exists()]
    if not present:
      raise FileNotFoundError(f"disfa: no LeftVideoSN..._comp.avi of DISFA's 27 subjects in "
                              f"{root / 'Videos_LeftCamera'}")
    logging.info("disfa: %d of 27 subjects' videos present", len(present))
    self.info.metadata["build_summary"] = {}
    jobs = {p: [s for s in names if s in present] for p, names in layout.PARTS.items()}
    return {f"part{p}": self._generate_examples(str(root), jobs[p], p)
            for p in layout.PARTS if jobs[p]}

  def _generate_examples(self, root, jobs, part):
    cfg = self.builder_config
    totals = labelled_frames.Counts()
    work = [(root, s, part, cfg.image_size, cfg.detect_every, cfg.jpeg_quality)
            for s in jobs]
    for records, counts in labelled_frames.parallel_map(layout.subject_records, work,
                                                        labelled_frames.build_workers()):
      yield from records
      totals.add(counts)
    summary = dataclasses.asdict(totals)
    logging.info("disfa part%d: %s", part, summary)
    self.info.metadata["build_summary"][f"part{part}"] = summary
    if not totals.records:
      raise ValueError(f"disfa part{part}: no record from its {len(jobs)} subject(s) ({summary}); "
                       f"see the warnings above")
