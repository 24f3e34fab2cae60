"""A paper model of CLP pretraining at scale: per-step compute and communication per device as
functions of the global batch, the embedding size and the device count, the device count where
communication would overtake compute on TPU v5e and H100 clusters, and the host cores per device
the input pipeline needs. Prints tables (launch/README.md has them with the reasoning).

  python benchmarks/scale_model.py [--mfu 0.143] [--global_batch 2048]

Measured inputs: the model's parameters (counted from configs/voxceleb_pretrain.py), the step's
FLOPs per frame (XLA's count of the lowered step, benchmarks/gpu_step.py --count_flops: 3.222
TFLOP for 256 frames at 224 px), the MFU the step reached on an H200 (14.3% at 224 px bf16), and
JPEG decoding on this machine's cores. Hardware figures, with their sources, are in HARDWARE.
"""

import argparse
import math
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

FLOPS_PER_FRAME = {224: 3.222e12 / 256, 112: 0.805e12 / 256}  # README, "Train step, GPU"
CLIP_FRAMES = 8
# A collective's fixed cost (launch + one hop), and how many the step issues: BatchNorm statistics
# over the global batch (forward and backward, ~20 layers), the embedding gathers, the gradient
# all-reduce. Assumed, not measured: ~10 us per hop is typical of ICI and InfiniBand.
HOP_SECONDS = 10e-6
COLLECTIVES_PER_STEP = 50

HARDWARE = {
    # name: (peak bf16 FLOP/s, per-device bandwidth for all-reduce in bytes/s one way, source,
    #        most devices it connects)
    "TPU v5e, ICI (2D torus, a pod: 256 chips)": (
        197e12, 200e9, "cloud.google.com/tpu/docs/v5e: 197 TFLOP/s bf16; ICI 400 GB/s "
        "bidirectional per chip; all-reduce bandwidth 51.2 TB/s per 256-chip pod = 200 GB/s a chip",
        256),
    "TPU v5e across pods (DCN)": (
        197e12, 25e9 / 8, "same page: 2 x 100 Gb/s NICs per host of 8 chips = 3.1 GB/s a chip",
        None),
    "H100 SXM, NVLink (8 a node; 256 with the NVLink Switch System)": (
        989e12, 450e9, "NVIDIA H100 datasheet: 989 TFLOP/s bf16 dense; NVLink 4 900 GB/s total, "
        "450 GB/s each way", 256),
    "H100 SXM, across nodes (InfiniBand NDR)": (
        989e12, 50e9, "NVIDIA DGX H100: 8 x ConnectX-7 400 Gb/s per node, one per GPU = 50 GB/s", None),
}


def count_params() -> int:
  import jax  # pylint: disable=g-import-not-at-top
  from clp_jax import config_files  # pylint: disable=g-import-not-at-top
  from clp_jax.pretrain import state as state_lib  # pylint: disable=g-import-not-at-top
  from clp_jax.models import initialise  # pylint: disable=g-import-not-at-top
  config = config_files.load(os.path.join(os.path.dirname(__file__), "..", "configs",
                                          "voxceleb_pretrain.py"), "devices=8")
  model = state_lib.make_model(config)
  x = jax.ShapeDtypeStruct((1, config.image_size, config.image_size, 3), np.float32)
  variables = jax.eval_shape(lambda x: initialise.init_variables(
      model, jax.random.key(0), x, method=model.init_all), x)
  return sum(int(np.prod(x.shape)) for x in jax.tree.leaves(variables["params"])), config


REAL_CLIP = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared", "data",
                         "real_videos", "single_face.mp4")


def face_crop(size: int) -> tuple:
  """A size x size RGB crop of a real face (the middle of single_face.mp4's 30th frame), or, where
  ../shared is absent, a smooth synthetic image; and where it came from."""
  import cv2  # pylint: disable=g-import-not-at-top
  if os.path.exists(REAL_CLIP):
    from clp_jax.data import video  # pylint: disable=g-import-not-at-top
    for i, frame in enumerate(video.frames(REAL_CLIP)):
      if i == 30:
        img = frame.image
        break
    h, w = img.shape[:2]
    side = min(h, w)
    img = img[(h - side) // 2:(h + side) // 2, (w - side) // 2:(w + side) // 2]
    return cv2.resize(img, (size, size), interpolation=cv2.INTER_AREA), "single_face.mp4"
  yy, xx = np.mgrid[:size, :size] / size
  img = np.stack([128 + 80 * np.sin(6 * xx + c) * np.cos(4 * yy) for c in range(3)], -1)
  return img.astype(np.uint8), "a synthetic image (../shared absent)"


def decode_rate(size: int, seconds: float = 1.0) -> tuple:
  """Frames/s of simplejpeg decoding a size x size face crop at the builders' JPEG quality (95) on
  one core, and where the face came from."""
  import simplejpeg  # pylint: disable=g-import-not-at-top
  img, origin = face_crop(size)
  data = simplejpeg.encode_jpeg(np.ascontiguousarray(img), quality=95)
  n, start = 0, time.perf_counter()
  while time.perf_counter() - start < seconds:
    simplejpeg.decode_jpeg(data)
    n += 1
  return n / (time.perf_counter() - start), origin


def step_model(*, devices, global_batch, image_size, embed_dim, params, peak, bandwidth, mfu):
  """Per-device seconds of one step: (compute, gradient all-reduce, embedding gathers, latency)."""
  frames = global_batch * CLIP_FRAMES
  compute = FLOPS_PER_FRAME[image_size] * frames / devices / (peak * mfu)
  share = (devices - 1) / devices
  grads = 2 * share * 4 * params / bandwidth  # fp32 gradients, ring/torus all-reduce
  # Every device receives every frame's projections (InfoNCE over the global batch, the MoCo keys)
  # in bf16, and sends their gradients back in the backward pass.
  gathers = 2 * share * frames * embed_dim * 2 / bandwidth
  latency = COLLECTIVES_PER_STEP * HOP_SECONDS * max(1.0, math.log2(devices))
  return compute, grads, gathers, latency


def crossover(global_batch, **kw) -> int | None:
  """The smallest power-of-two device count at which communication exceeds compute."""
  for k in range(1, 16):
    compute, *comm = step_model(devices=2 ** k, global_batch=global_batch, **kw)
    if sum(comm) > compute:
      return 2 ** k
  return None


def main():
  parser = argparse.ArgumentParser(description=__doc__)
  parser.add_argument("--mfu", type=float, default=0.143, help="measured on an H200, 224 px bf16")
  parser.add_argument("--global_batch", type=int, default=2048, help="clips (voxceleb at 64 devices)")
  parser.add_argument("--image_size", type=int, default=224, choices=sorted(FLOPS_PER_FRAME))
  args = parser.parse_args()
  params, config = count_params()
  embed = config.model.proj_dim
  print(f"CLP step, configs/voxceleb_pretrain.py: ResNet-{config.model.depth}, {params / 1e6:.2f} M "
        f"trained parameters ({4 * params / 2**20:.0f} MiB of fp32 gradients), projections of "
        f"{embed}, {args.image_size} px, {FLOPS_PER_FRAME[args.image_size] / 1e9:.1f} GFLOP a frame "
        f"(forward + backward), MFU {args.mfu:.1%}\n")

  print(f"Strong scaling: global batch {args.global_batch} clips ({args.global_batch * CLIP_FRAMES} "
        f"frames) split over the devices; ms per step per device\n")
  print("| interconnect | devices | compute | gradient all-reduce | embedding gathers | "
        "latency | communication / compute |")
  print("|---|---|---|---|---|---|---|")
  for name, (peak, bw, _, most) in HARDWARE.items():
    for devices in (d for d in (8, 64, 256, 1024) if most is None or d <= most):
      c, g, e, lat = step_model(devices=devices, global_batch=args.global_batch,
                                image_size=args.image_size, embed_dim=embed, params=params,
                                peak=peak, bandwidth=bw, mfu=args.mfu)
      print(f"| {name} | {devices} | {1e3 * c:.2f} | {1e3 * g:.2f} | {1e3 * e:.2f} | "
            f"{1e3 * lat:.2f} | {(g + e + lat) / c:.2f} |")

  print("\nDevices at which communication would exceed compute (no overlap), by global batch and "
        "projection size:\n")
  batches = (256, 2048, 16384)
  print("| interconnect | MFU | " + " | ".join(f"batch {b}, d={d}" for b in batches
                                             for d in (128, 1024)) + " |")
  print("|---|---|" + "---|" * (2 * len(batches)))
  for name, (peak, bw, _, most) in HARDWARE.items():
    for mfu in (args.mfu, 0.4):
      cells = []
      for b in batches:
        for d in (128, 1024):
          n = crossover(b, image_size=args.image_size, embed_dim=d, params=params, peak=peak,
                        bandwidth=bw, mfu=mfu)
          if n and most and n > most:
            cells.append(f"> {most} (all it connects)")
          else:
            cells.append(str(n) if n and n <= b else f"> {b} (1 clip a device)")
      print(f"| {name} | {mfu:.0%} | " + " | ".join(cells) + " |")

  print("\nInput pipeline: host cores per device to keep up (the host decodes the stored aligned "
        "crops; the host pipeline delivers 54% of raw decode speed per thread, "
        "benchmarks/input_pipeline.py):\n")
  print("| stored crop | decode frames/s, one core here | device | device frames/s | host cores "
        "per device |")
  print("|---|---|---|---|---|")
  rates = {s: decode_rate(s)[0] for s in (112, 224)}
  h200 = 11_272 if args.image_size == 224 else 24_054  # README, "Train step, GPU" (bf16)
  for stored in (112, 224):
    for device, fps in ((f"H200 (measured, {args.image_size} px)", h200),
                        ("TPU v5e (H200 x 197/989)", h200 * 197 / 989)):
      per_core = rates[stored] * 0.54
      print(f"| {stored} px | {rates[stored]:,.0f} | {device} | {fps:,.0f} | "
            f"{fps / per_core:.2f} |")
  print(f"\n(JPEG: {decode_rate(112, 0.01)[1]}, quality 95, one core of this machine.)")
  print("\nSources:")
  for name, (_, _, src, _) in HARDWARE.items():
    print(f"- {name}: {src}")


if __name__ == "__main__":
  main()
