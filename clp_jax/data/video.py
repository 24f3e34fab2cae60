"""Decoding real videos one frame at a time (PyAV), so memory stays flat in the video's length.

Every reader of users' videos (the corpus builders, clp-detect) goes through `frames`; a file that
cannot be opened or decoded raises `VideoError` naming it, which callers turn into a logged skip.
"""

import dataclasses
from typing import Iterator

import av
import numpy as np

VIDEO_EXTENSIONS = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v")


class VideoError(Exception):
  """A video that cannot be opened or decoded; the message names the file."""


def _open(path: str):
  """An av container of a local path, or of a remote one (gs://, s3://: what a Beam build on a
  cluster reads) streamed through epath; OSError / av.FFmpegError where it cannot be opened."""
  if "://" in str(path):
    from etils import epath  # pylint: disable=g-import-not-at-top
    return av.open(epath.Path(path).open("rb"))
  return av.open(str(path))


@dataclasses.dataclass(frozen=True)
class Frame:
  """index: 0-based position among the video's decoded frames; timestamp: seconds from the
  stream's start (its presentation time); image: [H, W, 3] uint8 RGB."""
  index: int
  timestamp: float
  image: np.ndarray


def frames(path: str, every: int = 1) -> Iterator[Frame]:
  """The video's frames in order, every `every`-th one (index 0, every, 2 * every, ...).

  A truncated file yields the frames before the damage and then raises VideoError (where the
  decoder fails, or where fewer frames decode than the container lists), so a caller that counts
  frames knows the video ended early.
  """
  if every < 1:
    raise ValueError(f"every must be >= 1, got {every}")
  try:
    container = _open(path)
  except (av.FFmpegError, OSError) as e:
    raise VideoError(f"{path}: not a readable video ({e})") from e
  with container:
    if not container.streams.video:
      raise VideoError(f"{path}: has no video stream")
    stream = container.streams.video[0]
    stream.thread_type = "AUTO"  # frame threads: decoding keeps up with one core of work
    base = float(stream.time_base) if stream.time_base else 0.0
    index = -1
    try:
      for frame in container.decode(stream):
        index += 1
        if index % every:
          continue
        t = float(frame.pts) * base if frame.pts is not None else float("nan")
        yield Frame(index, t, frame.to_ndarray(format="rgb24"))
    except av.FFmpegError as e:
      raise VideoError(f"{path}: decoding failed after {index + 1} frames ({e})") from e
    expected = stream.frames  # what the container lists (0 where it does not say)
  if index < 0:
    raise VideoError(f"{path}: no frame could be decoded")
  # A cut-off file often decodes without complaint up to the cut. A container's count can be a
  # frame or so off the decodable frames (edit lists, a last partial frame): only a larger gap is
  # damage.
  if expected and expected - (index + 1) > max(1, 0.01 * expected):
    raise VideoError(f"{path}: decoding ended after {index + 1} of the {expected} frames the "
                     f"file lists (truncated?)")


def frame_rate(path: str) -> float:
  """The video stream's average frame rate (frames per second)."""
  try:
    with _open(path) as container:
      if not container.streams.video:
        raise VideoError(f"{path}: has no video stream")
      rate = container.streams.video[0].average_rate
  except (av.FFmpegError, OSError) as e:
    raise VideoError(f"{path}: not a readable video ({e})") from e
  return float(rate) if rate else float("nan")


def frame_count(path: str) -> int:
  """The frames the container lists for the video stream (0 where it does not say)."""
  try:
    with _open(path) as container:
      return int(container.streams.video[0].frames) if container.streams.video else 0
  except (av.FFmpegError, OSError):
    return 0
