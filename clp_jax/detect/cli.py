"""clp-detect: per-frame AU detection on your videos and images, with a model clp-eval saved.

  clp-detect VIDEO_OR_IMAGE_OR_FOLDER... --model runs/eval/models/clp --out runs/detect

For each input (a folder: every video and image under it) it writes <out>/<name>.csv, one row per
decoded frame (an image: one row), and for a video <out>/<name>.png, the AU probabilities over
time. Columns, OpenFace-like:

  frame       1-based frame number (OpenFace's numbering)
  timestamp   seconds from the video's start (the frame's presentation time; 0 for an image)
  success     1 where a face was found, else 0 (and the AU cells are empty)
  face_x, face_y, face_w, face_h   the face box in the frame's pixels
  confidence  the face detector's margin at the face's last detection (> 0: detected)
  AUxx_p      the probability that AU xx is present (0-1)
  AUxx_c      1 where AUxx_p reaches the model's threshold for AU xx, else 0

The main face is the largest at the first detection, then the one the tracker follows (the
detector runs every --detect_every frames). An input that cannot be read is reported with its
name and skipped; the others are still processed, and the exit code is 1.
"""


from absl import app
from absl import flags

from clp_jax import command
from clp_jax.detect import runner

_MODEL = flags.DEFINE_string("model", None, "A model directory clp-eval saved "
                             "(--config.save_heads=True: <eval workdir>/models/<name>).")
_OUT = flags.DEFINE_string("out", None, "Where the CSVs and plots go.")
_BATCH_SIZE = flags.DEFINE_integer("batch_size", runner.Options.batch_size,
                                   "Aligned faces per jitted call.", lower_bound=1)
_DETECT_EVERY = flags.DEFINE_integer("detect_every", runner.Options.detect_every,
                                     "Run the face detector on one frame in this many (track in "
                                     "between).", lower_bound=1)
_PLOT = flags.DEFINE_bool("plot", True, "Write a video's AU probabilities over time as a PNG "
                          "(--noplot: none).")
_PROGRESS = flags.DEFINE_bool("progress", True, "A progress bar per video (--noprogress: none).")
flags.mark_flags_as_required(["model", "out"])


def _main(argv):
  if len(argv) < 2:
    raise app.UsageError("Give at least one video, image or folder to detect AUs in.")
  options = runner.Options(batch_size=_BATCH_SIZE.value, detect_every=_DETECT_EVERY.value,
                           plot=_PLOT.value, progress=_PROGRESS.value)
  return runner.run(argv[1:], _MODEL.value, _OUT.value, options)


def main():
  command.run("clp-detect", _main)


if __name__ == "__main__":
  main()
