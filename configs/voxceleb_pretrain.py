"""CLP pretraining at paper scale: ResNet-18 on VoxCeleb2 face clips, 8 to 4,096 devices.

Run (every host of a TPU slice or GPU cluster, with --config.distributed=True; launch/ does it):
  clp-pretrain --config configs/voxceleb_pretrain.py:devices=64 --workdir gs://bucket/clp/vox \\
      --config.data.data_dir=gs://bucket/tfds --config.distributed=True

devices: the run's JAX devices across all hosts (GPUs; TPU chips on v4, v5p, v5e, v6e; TensorCores
on v2, v3: launch/tpu_vm.sh derives it from the accelerator type). The corpus is `clp-data build
voxceleb2 --config dev` (any prepared pretraining corpus with the same clip schema works: the tests
swap in synthetic_au).

Scaling: the global batch is 32 clips (256 frames) per device; the learning rate follows the linear
scaling rule from the base lr at 256 clips, with a warmup of 10 epochs' worth of steps capped at
5,000. TCAE (CLP's predecessor) used 256x256 inputs and SGD; CLP adds a momentum encoder with a
queue, on here with a small weight as an ablation switch.
"""

import importlib.util
import os

import ml_collections


def _default():
  # Loaded by path: config files are run by ml_collections from anywhere, not as a package.
  spec = importlib.util.spec_from_file_location(
      "clp_default_config", os.path.join(os.path.dirname(os.path.abspath(__file__)), "default.py"))
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module


def get_config(arg: str = "devices=8") -> ml_collections.ConfigDict:
  """arg: 'devices=N', the number of JAX devices across all hosts (global batch 32 N clips)."""
  kv = dict(item.split("=") for item in arg.split(",") if item)
  unknown = set(kv) - {"devices"}
  if unknown:
    raise ValueError(f"Unknown config arguments {sorted(unknown)}; use devices=N")
  devices = int(kv.get("devices", 8))
  if not 1 <= devices <= 4096:
    raise ValueError(f"devices={devices} is not a number of accelerators (1..4096)")
  c = _default().get_config()
  c.data.name = "voxceleb2"
  c.data.config = "dev"
  c.data.split = "part1+part2"  # part3's people: the held-out losses (config.validation)
  c.data.num_threads = 16
  # Faces are aligned once, when the corpus is built (as synthetic_au's are): the input threads
  # only decode JPEG and draw views.
  c.image_size = 224
  c.global_batch_size = 32 * devices
  c.num_steps = 200_000
  c.log_every = 100
  c.checkpoint_every = 2_000
  c.model.depth = 18
  c.model.au_dim = 256
  c.model.person_dim = 256
  c.model.proj_dim = 128
  c.model.hidden = 2048
  c.model.decoder_size = 64
  c.model.dtype = "bfloat16"
  c.loss.moco = 0.1
  c.loss.queue_size = 65536
  c.optimizer.name = "sgd"
  c.optimizer.lr = 0.1 * c.global_batch_size / 256
  c.optimizer.weight_decay = 1e-4
  c.optimizer.warmup_steps = 5_000
  return c
