"""Batches that hold several clips of one video (`data.clips_per_video`).

Within-clip contrast has only a clip's own frames as negatives: a few frames apart, in which the
head's slow drift is the most reliable way to tell them apart. Clips of the same video taken at
other moments show the same person, background and camera, so as negatives
(`loss.video_negatives`, `losses.clip_infonce(video=...)`) they cannot be told apart by identity
(as other people's clips can) and are more likely to differ in what the face does: expression
events last ~1-2 s, longer than a clip. The clips picked from a video never overlap, and they
share one view (crop, flip, colour) so that the view cannot tell them apart either.

Batch order: with G videos of m clips, clip j of video g sits at row j * G + g. Rolling the batch
by one clip (CIR's choice of another person) then pairs clips of different videos.
"""

import collections

import grain
import numpy as np


def video_clips(source, clips_per_video: int) -> list:
  """Clip indices of each video that can give `clips_per_video` clips that do not overlap.

  Reads every record once (video_id, frame_index). Returns [(clip indices [n] int64, first frame
  [n] int64, last frame [n] int64)], one entry per usable video, in order of first appearance.
  """
  if clips_per_video < 2:
    raise ValueError(f"data.clips_per_video must be >= 2 to group clips by video, got {clips_per_video}")
  by_video = collections.OrderedDict()
  for i in range(len(source)):
    r = source[i]
    t = np.asarray(r["frame_index"])
    by_video.setdefault(r["video_id"], []).append((i, int(t.min()), int(t.max())))
  usable = []
  for clips in by_video.values():
    c = np.array(clips, np.int64)
    if _max_disjoint(c[:, 1], c[:, 2]) >= clips_per_video:
      usable.append((c[:, 0], c[:, 1], c[:, 2]))
  if not usable:
    longest = max((len(v) for v in by_video.values()), default=0)
    raise ValueError(
        f"data.clips_per_video={clips_per_video}: no video of the pretraining split has that many "
        f"clips that do not overlap ({len(by_video)} videos, at most {longest} clips each)")
  return usable


def _max_disjoint(first: np.ndarray, last: np.ndarray) -> int:
  """How many of the frame ranges [first, last] can be chosen pairwise disjoint (greedy by end)."""
  count, end = 0, -np.inf
  for k in np.argsort(last, kind="stable"):
    if first[k] > end:
      count, end = count + 1, last[k]
  return count


def pick_disjoint(first: np.ndarray, last: np.ndarray, m: int, rng: np.random.Generator) -> list:
  """m positions of pairwise disjoint frame ranges, drawn at random; [] if the draw fails.

  Random order, greedy: each range is kept if it overlaps none kept so far.
  """
  kept = []
  for k in rng.permutation(len(first)):
    if all(first[k] > last[j] or last[k] < first[j] for j in kept):
      kept.append(int(k))
      if len(kept) == m:
        return kept
  return []


class PickClips(grain.transforms.RandomMap):
  """A video entry -> the records of m of its clips that do not overlap."""

  def __init__(self, source, m: int):
    self.source, self.m = source, m

  def random_map(self, entry, rng: np.random.Generator):
    index, first, last = entry
    kept = []
    while not kept:  # a random greedy order can fail where a disjoint set exists; draw again
      kept = pick_disjoint(first, last, self.m, rng)
    return [self.source[int(index[k])] for k in kept]


def interleave(groups) -> list:
  """[[a1, b1], [a2, b2], ...] -> [a1, a2, ..., b1, b2, ...]: clip j of video g at j * G + g."""
  return [g[j] for j in range(len(groups[0])) for g in groups]


def grouped_clips(source, clips_per_video: int, shard) -> grain.MapDataset:
  """This process's video entries (sharded by video) as a MapDataset of m-record lists."""
  entries = video_clips(source, clips_per_video)
  n = len(entries) - len(entries) % shard.shard_count if shard.drop_remainder else len(entries)
  return grain.MapDataset.source(entries[shard.shard_index:n:shard.shard_count])
