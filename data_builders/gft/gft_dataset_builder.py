"""gft: GFT (Sayette Group Formation Task) videos and AU codes -> aligned labelled face records.

GFT's on-disk layout could not be confirmed here, so the reader is driven by a small JSON file in
the manual folder (`gft_layout.json`; keys and defaults in layout.py and README.md beside this
file). Each labelled video's main face is tracked and aligned frame by frame; the 10 AUs AU
papers use on GFT are stored (unknown -> -1); subjects are split 3 ways as the layout's `parts`
says, or by a hashed balanced split. Frames without a face, damaged videos and label files whose
video is missing are logged and counted (`build_summary`); a malformed label row stops the build
with its file and line.
"""

import dataclasses

from absl import logging
import tensorflow_datasets as tfds

from data_builders import labelled_frames
from data_builders.gft import layout as layout_lib


class Gft(labelled_frames.LabelledBuilder):
  """GFT: aligned faces with 10 AU occurrences, split 3 ways by subject."""

  VERSION = tfds.core.Version("1.0.0")
  RELEASE_NOTES = {"1.0.0": "First release: a layout-driven reader, aligned 112 px crops, 10 AUs."}
  MANUAL_DOWNLOAD_INSTRUCTIONS = """\
  GFT is distributed by its authors (Girard et al., FG 2017) on request. Pass the folder that
  holds it as --manual_dir, with a gft_layout.json describing where its videos and label CSVs are
  (see data_builders/gft/README.md); without one the reader expects
    <manual_dir>/videos/<video>.mp4  and  <manual_dir>/labels/<video>.csv
  with a 'frame' column (1-based) and 'AU1', 'AU2', ... columns (0/1, 9 = unknown).
  """
  BUILDER_CONFIGS = [labelled_frames.LabelledConfig(
      name="labelled", description="Every labelled frame, aligned.")]
  DEFAULT_CONFIG_NAME = "labelled"
  JOB_FN = staticmethod(layout_lib.video_records)
  JOB_NOUN = "video"

  def _info(self) -> tfds.core.DatasetInfo:
    return self._info_for(layout_lib.AUS)

  def _split_jobs(self, dl_manager):
    root = self.manual_root(dl_manager)
    layout = layout_lib.Layout.read(root)
    labels = layout.label_files(root)
    videos = {v: p for v, p in labels.items() if (root / layout.videos.format(video=v)).exists()}
    missing = sorted(set(labels) - set(videos))
    if missing:
      logging.warning("gft: %d label files have no video (layout 'videos': %r), e.g. %s",
                      len(missing), layout.videos, missing[:3])
    if not videos:
      raise FileNotFoundError(f"gft: none of the {len(labels)} label files under {root} has its "
                              f"video at {root / layout.videos}")
    subject = {v: layout.subject_of(v) for v in videos}
    names = sorted(set(subject.values()))
    parts = layout.subject_parts(names)
    self.info.metadata.update(subjects=names, parts=parts, layout=dataclasses.asdict(layout),
                              videos_without_file=len(missing))
    return {f"part{p}": [(str(root), layout, v, str(videos[v]), names.index(subject[v]), p)
                         + self._crop_args() for v in videos if parts[subject[v]] == p]
            for p in (1, 2, 3)}
