"""grain input pipelines: pretraining clips and labelled frames, per process, deterministic.

    record indices -> shuffle(seed) -> repeat -> global batches of indices -> this process's slice
      -> read its records -> random_map(decode + draw the global batch's views, keep its slice)
      -> to_iter_dataset(threads, prefetch in batches) -> iterator (get_state / set_state)

The order of records and every view are fixed by the seed and the *global* batch alone: process p
of n reads only the p-th slice of each global batch (over an epoch, every record is read by
exactly one process), and `clp_jax.sharding.global_batch` puts the slices back together on the
mesh. So the global batches, the views and the iterator state ({"next_index": k}, the same on
every process) do not depend on how many processes there are: a run's loss trajectory is the
same on one host or several, and a checkpoint written by n processes resumes on m.
"""

import zlib

import grain
import numpy as np

from clp_jax.data import augment as augment_lib


def shard_options(process_index=None, process_count=None) -> grain.sharding.ShardOptions:
  """This process's place among the processes reading the data; by default from JAX
  (`ShardByJaxProcess`). shard_index p of shard_count n reads the p-th n-th of each global batch."""
  if process_index is None:
    return grain.sharding.ShardByJaxProcess(drop_remainder=True)
  return grain.sharding.ShardOptions(process_index, process_count, drop_remainder=True)


def per_process_batch(global_batch_size: int, shard: grain.sharding.ShardOptions) -> int:
  if global_batch_size % shard.shard_count:
    raise ValueError(f"global batch size {global_batch_size} is not divisible by the "
                     f"{shard.shard_count} processes")
  return global_batch_size // shard.shard_count


class _ProcessSlice(grain.transforms.Map):
  """[G] record indices of a global batch -> this process's [B_local] slice of them."""

  def __init__(self, start: int, size: int):
    self.start, self.size = start, size

  def map(self, indices):
    return indices[self.start:self.start + self.size]


class _ReadRecords(grain.transforms.Map):
  """[B_local] record indices -> the records (only this process's share is read)."""

  def __init__(self, source):
    self.source = source

  def map(self, indices):
    return [self.source[int(i)] for i in indices]


def video_key(video_id) -> np.int32:
  """A stable 31-bit integer for a video id (the step cannot carry strings)."""
  if isinstance(video_id, str):
    video_id = video_id.encode()
  return np.int32(zlib.crc32(video_id) & 0x7FFFFFFF)


class ClipBatchTransform(grain.transforms.RandomMap):
  """Decodes a batch of pretraining clip records and draws their views (applied on the device).

  Works on whole batches so that per-record overhead is paid once per batch and frames are
  decoded straight into the batch array. Output: clip [B, K, H, W, 3] uint8 (as stored),
  view [B, K, VIEW_DIM] float32, frame_index [B, K] int32, subject_id [B] int32, video_key [B]
  int32 (which video each clip is from, with frame_index which record: `video_key`). With
  shared_view the K frames of a clip share one view (one camera, as the clip was filmed);
  otherwise each frame gets its own, which forces the AU code to ignore framing.
  """

  def __init__(self, cfg: augment_lib.AugmentConfig, shared_view: bool = False,
               global_batch_size: int | None = None, start: int = 0):
    # The views are drawn for the whole global batch, from the global batch's seed, and this
    # process keeps rows [start, start + B_local): a clip gets the same view whichever process
    # reads it.
    self.cfg, self.shared_view = cfg, shared_view
    self.global_batch_size, self.start = global_batch_size, start

  def random_map(self, records, rng: np.random.Generator):
    b, k = len(records), len(records[0]["frames"])
    g = self.global_batch_size or b
    h, w = augment_lib.decode_jpeg(records[0]["frames"][0]).shape[:2]
    clip = np.empty((b, k, h, w, 3), np.uint8)
    for i, r in enumerate(records):
      for j, data in enumerate(r["frames"]):
        try:
          augment_lib.decode_jpeg(data, out=clip[i, j])
        except ValueError as e:
          raise ValueError(f"Frame {j} of a clip of video {r['video_id']!r}: {e}") from e
    if self.shared_view:
      view = np.repeat(augment_lib.draw_views(g, h, w, self.cfg, rng)[:, None], k, axis=1)
    else:
      view = augment_lib.draw_views(g * k, h, w, self.cfg, rng).reshape(g, k, -1)
    view = np.ascontiguousarray(view[self.start:self.start + b])
    return {
        "clip": clip,
        "view": view,
        "frame_index": np.stack([np.asarray(r["frame_index"], np.int32) for r in records]),
        "subject_id": np.array([r["subject_id"] for r in records], np.int32),
        "video_key": np.array([video_key(r["video_id"]) for r in records], np.int32),
    }


class FrameTransform(grain.transforms.Map):
  """Decodes one labelled frame for evaluation (no augmentation).

  Output: image [H, W, 3] uint8 (as stored), au_occurrence [A] int8 (-1 = unknown),
  subject_id int32, part int32, video_id str, frame_index int32 (the frame's place in its video:
  what per-frame prediction files are keyed by).
  """

  def map(self, record):
    video_id = record["video_id"]
    return {
        "image": augment_lib.decode_jpeg(record["image"]),
        "au_occurrence": np.asarray(record["au_occurrence"], np.int8),
        "subject_id": np.int32(record["subject_id"]),
        "part": np.int32(record["part"]),
        "video_id": np.str_(video_id.decode() if isinstance(video_id, bytes) else video_id),
        "frame_index": np.int32(record["frame_index"]),
    }


def pretrain_dataset(source, *, global_batch_size: int, seed: int,
                     augment: augment_lib.AugmentConfig = augment_lib.AugmentConfig(),
                     shared_view: bool = False, shard=None,
                     num_threads: int = 2, prefetch: int = 4) -> grain.IterDataset:
  """Endless shuffled batches of augmented clips for this process.

  Yields {"clip": [B_local, K, H, W, 3] uint8, "view": [B_local, K, VIEW_DIM] float32,
  "frame_index": [B_local, K] int32, "subject_id": [B_local] int32, "video_key": [B_local] int32};
  `augment.device_views` turns clip and view into the augmented [.., S, S, 3] frames in the step.
  """
  shard = shard or shard_options()
  batch = per_process_batch(global_batch_size, shard)
  if len(source) < global_batch_size:
    raise ValueError(f"The corpus holds {len(source)} clips, fewer than a global batch of "
                     f"{global_batch_size}")
  start = shard.shard_index * batch
  ds = grain.MapDataset.range(len(source)).shuffle(seed=seed).repeat(None)
  ds = ds.batch(global_batch_size, drop_remainder=True)
  ds = ds.map(_ProcessSlice(start, batch)).map(_ReadRecords(source))
  ds = ds.random_map(ClipBatchTransform(augment, shared_view, global_batch_size, start), seed=seed)
  return ds.to_iter_dataset(grain.ReadOptions(num_threads=num_threads, prefetch_buffer_size=prefetch))


def pretrain_dataset_from_config(source, config, *, seed: int, **kwargs) -> grain.IterDataset:
  """`pretrain_dataset` with the clip transforms of a pretraining config (config.data); the
  training loop and the held-out losses (`clp_jax.pretrain.validation`) read clips the same way."""
  d = config.data
  return pretrain_dataset(
      source, global_batch_size=config.global_batch_size, seed=seed,
      augment=augment_lib.AugmentConfig.from_config(d.augment), shared_view=d.shared_view,
      num_threads=d.num_threads, **kwargs)


def frames_dataset(source, *, batch_size: int, shard=None,
                   num_threads: int = 4) -> grain.IterDataset:
  """One ordered pass over labelled frames (evaluation); the last batch may be short.

  Yields {"image": [B, H, W, 3] uint8, "au_occurrence": [B, A] int8, "subject_id": [B] int32,
  "part": [B] int32, "video_id": [B] str, "frame_index": [B] int32}.
  """
  shard = shard or grain.sharding.NoSharding()
  ds = grain.MapDataset.source(source)[shard.shard_index::shard.shard_count]
  ds = ds.map(FrameTransform())
  ds = ds.to_iter_dataset(grain.ReadOptions(num_threads=num_threads, prefetch_buffer_size=4 * batch_size))
  return ds.batch(batch_size, drop_remainder=False)
