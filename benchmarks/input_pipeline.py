"""Input pipeline and corpus generation throughput, printed as a markdown table.

  python benchmarks/input_pipeline.py --data_dir data

Measures, in one run on the same frames: raw JPEG decode (the pipeline's decoder, simplejpeg, in
a loop, one thread), the grain pretraining pipeline on the host (decode + draw views + batch)
with 1 and 2 threads, the pixel side of augmentation
(`device_views`: crop + resize, flip, colour jitter, jitted) on the default JAX device, and the
synthetic corpus generator (render + JPEG encode, one process). Needs the synthetic_au pretrain
config built in --data_dir (`clp-data build synthetic_au --config pretrain --data_dir data`).
"""

import argparse
import os
import time

import jax

from clp_jax.data import augment
from clp_jax.data import pipeline
from clp_jax.data import sources
from data_builders.synthetic_au import video as video_lib


def raw_decode(source, n_records: int) -> float:
  """Frames/s of JPEG -> RGB decoding over the clips' frames, one thread."""
  blobs = [b for i in range(n_records) for b in source[i]["frames"]]
  start = time.perf_counter()
  for b in blobs:
    augment.decode_jpeg(b)
  return len(blobs) / (time.perf_counter() - start)


def pipeline_rate(source, threads: int, batch: int, steps: int):
  """Frames/s delivered by the pretraining pipeline (after a warm-up batch), and a batch."""
  ds = pipeline.pretrain_dataset(source, global_batch_size=batch, seed=0,
                                 shard=pipeline.shard_options(0, 1), num_threads=threads,
                                 prefetch=4)
  it = iter(ds)
  first = next(it)
  k = first["clip"].shape[1]
  start = time.perf_counter()
  for _ in range(steps):
    next(it)
  return steps * batch * k / (time.perf_counter() - start), first


def device_views_rate(batch, image_size: int, repeats: int = 5) -> float:
  """Frames/s of the jitted pixel augmentation of one pipeline batch on the default device."""
  fn = jax.jit(augment.device_views, static_argnums=2)
  clip, view = jax.device_put(batch["clip"]), jax.device_put(batch["view"])
  fn(clip, view, image_size).block_until_ready()
  start = time.perf_counter()
  for _ in range(repeats):
    fn(clip, view, image_size).block_until_ready()
  return repeats * clip.shape[0] * clip.shape[1] / (time.perf_counter() - start)


def generation_rate(frames: int, size: int) -> float:
  start = time.perf_counter()
  v = video_lib.generate_video(0, 0, 0, frames, size)
  for t in range(frames):
    v.jpeg(t)
  return frames / (time.perf_counter() - start)


def main():
  parser = argparse.ArgumentParser(description=__doc__)
  parser.add_argument("--data_dir", default=sources.DEFAULT_DATA_DIR)
  parser.add_argument("--batch", type=int, default=32, help="clips per batch")
  parser.add_argument("--steps", type=int, default=20)
  parser.add_argument("--image_size", type=int, default=96)
  args = parser.parse_args()
  source, info = sources.open_source("synthetic_au", "pretrain", "part1+part2+part3", args.data_dir)
  n = min(len(source), args.batch * args.steps // 2)
  raw = raw_decode(source, n)
  rows = [("raw JPEG decode (simplejpeg, 1 thread)", 1, raw)]
  for threads in (1, 2):
    rate, batch = pipeline_rate(source, threads, args.batch, args.steps)
    rows.append((f"host pipeline: read + decode + batch + draw views ({threads} thread{'s' * (threads > 1)})",
                 threads, rate))
  dev = device_views_rate(batch, args.image_size)
  platform = jax.devices()[0].platform
  gen = generation_rate(80, info.metadata["image_size"])
  size = info.metadata["image_size"]
  print(f"\nmachine: {os.cpu_count()} cores; frames {size}x{size} JPEG -> {args.image_size}x"
        f"{args.image_size}; batch {args.batch} clips x {info.metadata['clip_length']} frames\n")
  print("| stage | threads | frames/s | frames/s per thread | vs raw decode per core |")
  print("|---|---|---|---|---|")
  for name, threads, rate in rows:
    print(f"| {name} | {threads} | {rate:,.0f} | {rate / threads:,.0f} | {rate / threads / raw:.0%} |")
  print(f"| device_views: crop + resize + flip + jitter, jitted on {platform} | all | {dev:,.0f} | | |")
  print(f"| synthetic_au generation: render + JPEG encode (1 process) | 1 | {gen:,.0f} | {gen:,.0f} | |")


if __name__ == "__main__":
  main()
