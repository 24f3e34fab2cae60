"""grain input pipelines: pretraining clips and labelled frames, per process, deterministic.

    tfds.data_source (array_record) -> grain.MapDataset -> [shard_index::shard_count]
      -> shuffle(seed) -> repeat -> batch(drop_remainder) -> random_map(decode + draw views)
      -> to_iter_dataset(threads, prefetch in batches) -> iterator (get_state / set_state)

Each process reads its own slice of the records and makes its share of the global batch;
`clp_jax.sharding.global_batch` assembles the shares into arrays sharded over the mesh.
Randomness comes from grain's per-index seeds, so a restored iterator state replays exactly.
"""

import zlib

import grain
import numpy as np

from clp_jax import head_pose
from clp_jax.data import augment as augment_lib
from clp_jax.data import stabilise as stabilise_lib
from clp_jax.data import video_groups


def shard_options(process_index=None, process_count=None) -> grain.sharding.ShardOptions:
  """This process's shard; by default from JAX (`ShardByJaxProcess`)."""
  if process_index is None:
    return grain.sharding.ShardByJaxProcess(drop_remainder=True)
  return grain.sharding.ShardOptions(process_index, process_count, drop_remainder=True)


def per_process_batch(global_batch_size: int, shard: grain.sharding.ShardOptions) -> int:
  if global_batch_size % shard.shard_count:
    raise ValueError(f"global batch size {global_batch_size} is not divisible by the "
                     f"{shard.shard_count} processes")
  return global_batch_size // shard.shard_count


def _sharded(source, shard: grain.sharding.ShardOptions) -> grain.MapDataset:
  ds = grain.MapDataset.source(source)
  n = len(ds) - len(ds) % shard.shard_count if shard.drop_remainder else len(ds)
  return ds[shard.shard_index:n:shard.shard_count]


class _Subset:
  """Records `index` of a random-access source, as a random-access source."""

  def __init__(self, source, index):
    self.source, self.index = source, np.asarray(index, np.int64)

  def __len__(self):
    return len(self.index)

  def __getitem__(self, i):
    return self.source[int(self.index[i])]


def stillest_clips(source, fraction: float) -> np.ndarray:
  """Indices (ascending) of the `fraction` of a source's clips in which the head moves least
  (`head_pose.clip_motion` of their landmarks). Reads every record once."""
  if not 0 < fraction <= 1:
    raise ValueError(f"data.stillest_fraction must be in (0, 1], got {fraction}")
  if len(source) == 0 or "landmarks" not in source[0]:
    raise ValueError("data.stillest_fraction < 1 needs landmarks in the pretraining records "
                     "(feature 'landmarks', [K, 3, 2]); this corpus has none")
  motion = head_pose.clip_motion(np.stack([np.asarray(source[i]["landmarks"], np.float32)
                                           for i in range(len(source))]))
  keep = max(1, int(round(fraction * len(source))))
  return np.sort(np.argsort(motion, kind="stable")[:keep])


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
  int32, and landmarks [B, K, 3, 2] float32 (pixels of the decoded frames) where the corpus has
  them. With shared_view the K frames of a clip share one view (one camera); otherwise each
  frame gets its own, which forces the AU code to ignore framing. frame_jitter (with shared_view)
  keeps the shared crop and flip but draws each frame's colour jitter anew, so that brightness
  and colour cannot tell a clip's frames apart. frame_geometry (with shared_view) moves and
  rescales each frame's copy of the shared crop by up to that fraction of its size
  (`augment.jitter_boxes`), so that the clip's drift of head position and size cannot either.
  frame_flip (with shared_view) mirrors each frame on its own coin, keeping the shared crop and
  colour: a mirror flips the sign of what is left-right asymmetric (yaw, roll, sideways position
  and gaze) but not of the AUs (symmetric), so the asymmetric part of the head's drift no longer
  orders a clip's frames.
  stabilise ('euclidean', 'affine', 'flow', 'rigid' or 'rigid_still_surround'; '' is off) warps
  every frame onto its clip's middle frame before the views are drawn (`stabilise.stabilise_clip`),
  removing most of the head's drift; landmarks are moved with their frames. clips_per_video
  m > 1: the batch holds m clips of each of B/m videos (`video_groups`, clip j of video g at row
  j * B/m + g); with shared_view a video's clips share one view, so that the view cannot tell
  them apart.
  """

  def __init__(self, cfg: augment_lib.AugmentConfig, shared_view: bool = False,
               frame_jitter: bool = False, frame_geometry: float = 0.0, stabilise: str = "",
               clips_per_video: int = 1, frame_flip: bool = False):
    if frame_geometry < 0:
      raise ValueError(f"data.frame_geometry must be >= 0 (a fraction of the crop), got {frame_geometry}")
    if stabilise:
      stabilise_lib.check_motion(stabilise)
    self.cfg, self.shared_view, self.frame_jitter = cfg, shared_view, frame_jitter
    self.frame_geometry, self.stabilise = frame_geometry, stabilise
    self.clips_per_video, self.frame_flip = clips_per_video, frame_flip

  def random_map(self, records, rng: np.random.Generator):
    b, k = len(records), len(records[0]["frames"])
    h, w = augment_lib.decode_jpeg(records[0]["frames"][0]).shape[:2]
    clip = np.empty((b, k, h, w, 3), np.uint8)
    for i, r in enumerate(records):
      for j, data in enumerate(r["frames"]):
        try:
          augment_lib.decode_jpeg(data, out=clip[i, j])
        except ValueError as e:
          raise ValueError(f"Frame {j} of a clip of video {r['video_id']!r}: {e}") from e
    moves = None  # per clip: (warps [K, 2, 3], flow [K, H, W, 2] or None)
    if self.stabilise:
      moves = []
      for i, r in enumerate(records):
        # landmarks place the rigid mode's face template; the other modes ignore them
        marks = np.asarray(r["landmarks"], np.float32) if "landmarks" in r else None
        clip[i], warps, flow = stabilise_lib.stabilise_clip(clip[i], motion=self.stabilise,
                                                           landmarks=marks)
        moves.append((warps, flow))
    if self.shared_view:
      m = self.clips_per_video
      view = np.tile(augment_lib.draw_views(b // m, h, w, self.cfg, rng), (m, 1))  # row j*G+g: g's
      view = np.repeat(view[:, None], k, axis=1)
      if self.frame_jitter:
        view[..., 5:] = augment_lib.draw_views(b * k, h, w, self.cfg, rng)[:, 5:].reshape(b, k, 3)
      if self.frame_geometry:
        view = augment_lib.jitter_boxes(view, self.frame_geometry, h, w, rng)
      if self.frame_flip:
        view[..., 4] = rng.random((b, k)) < 0.5
    else:
      view = augment_lib.draw_views(b * k, h, w, self.cfg, rng).reshape(b, k, -1)
    out = {
        "clip": clip,
        "view": view,
        "frame_index": np.stack([np.asarray(r["frame_index"], np.int32) for r in records]),
        "subject_id": np.array([r["subject_id"] for r in records], np.int32),
        "video_key": np.array([video_key(r["video_id"]) for r in records], np.int32),
    }
    if "landmarks" in records[0]:
      out["landmarks"] = np.stack([np.asarray(r["landmarks"], np.float32) for r in records])
      if moves is not None:
        out["landmarks"] = np.stack([stabilise_lib.warp_points(p, *m)
                                     for p, m in zip(out["landmarks"], moves)])
    return out


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
                     shared_view: bool = False, frame_jitter: bool = False,
                     frame_geometry: float = 0.0, stillest_fraction: float = 1.0,
                     stabilise: str = "", clips_per_video: int = 1, frame_flip: bool = False,
                     shard=None,
                     num_threads: int = 2, prefetch: int = 4) -> grain.IterDataset:
  """Endless shuffled batches of augmented clips for this process.

  stillest_fraction < 1 keeps only that fraction of the clips, those in which the head moves
  least (`stillest_clips`, from the records' landmarks): clips where what the face does, not the
  head's drift, is the largest change between frames. stabilise warps each clip's frames onto its
  middle frame (`ClipBatchTransform`). clips_per_video > 1 fills each batch with that many
  clips of each of its videos, which never overlap (`video_groups`; videos shuffled instead of
  clips, sharded by video).

  Yields {"clip": [B_local, K, H, W, 3] uint8, "view": [B_local, K, VIEW_DIM] float32,
  "frame_index": [B_local, K] int32, "subject_id": [B_local] int32, "video_key": [B_local] int32,
  "landmarks": [B_local, K, 3, 2] float32 where the records have them};
  `augment.device_views` turns clip and view into the augmented [.., S, S, 3] frames in the step.
  """
  shard = shard or shard_options()
  batch = per_process_batch(global_batch_size, shard)
  if stillest_fraction < 1:
    # every process computes the same selection, then takes its shard of it
    source = _Subset(source, stillest_clips(source, stillest_fraction))
  if clips_per_video > 1:
    if batch % clips_per_video:
      raise ValueError(f"A batch of {batch} clips per process does not split into groups of "
                       f"data.clips_per_video={clips_per_video}")
    ds = video_groups.grouped_clips(source, clips_per_video, shard)
    if len(ds) < batch // clips_per_video:
      raise ValueError(f"This process holds {len(ds)} videos with {clips_per_video} clips that do "
                       f"not overlap, fewer than its batch of {batch // clips_per_video} videos")
    ds = ds.shuffle(seed=seed).repeat(None)
    ds = ds.random_map(video_groups.PickClips(source, clips_per_video), seed=seed + 1)
    ds = ds.batch(batch // clips_per_video, drop_remainder=True, batch_fn=video_groups.interleave)
  else:
    ds = _sharded(source, shard)
    if len(ds) < batch:
      raise ValueError(f"This process holds {len(ds)} clips, fewer than its batch of {batch}")
    ds = ds.shuffle(seed=seed).repeat(None)
    ds = ds.batch(batch, drop_remainder=True, batch_fn=list)
  ds = ds.random_map(ClipBatchTransform(augment, shared_view, frame_jitter, frame_geometry,
                                        stabilise, clips_per_video, frame_flip), seed=seed)
  return ds.to_iter_dataset(grain.ReadOptions(num_threads=num_threads, prefetch_buffer_size=prefetch))


def pretrain_dataset_from_config(source, config, *, seed: int, stillest_fraction=None,
                                  **kwargs) -> grain.IterDataset:
  """`pretrain_dataset` with the clip transforms of a pretraining config (config.data); the
  training loop and the held-out losses (`clp_jax.validation`) read clips the same way.
  stillest_fraction=None takes config.data's."""
  d = config.data
  if stillest_fraction is None:
    stillest_fraction = d.get("stillest_fraction", 1.0)
  return pretrain_dataset(
      source, global_batch_size=config.global_batch_size, seed=seed,
      augment=augment_lib.AugmentConfig.from_config(d.augment), shared_view=d.shared_view,
      frame_jitter=d.frame_jitter, frame_geometry=d.frame_geometry,
      stillest_fraction=stillest_fraction, stabilise=d.get("stabilise", ""),
      clips_per_video=d.get("clips_per_video", 1), frame_flip=d.get("frame_flip", False),
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
