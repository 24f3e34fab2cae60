"""Exported encoders: write one out of a pretraining checkpoint (`export`), read one back (`load`).

An export directory (`clp-export --workdir RUN --out DIR`) holds:
  encoder/              Orbax checkpoint of {'params', 'batch_stats'} of the ResNet, plus the AU
                        head's params under 'au_head' (no optimizer state, no decoder)
  encoder.safetensors   the ResNet in torchvision's resnet18/resnet50 naming (resnet10 alike)
  encoder.json          architecture, input size, normalisation, AU-code dimension, source step,
                        the pretraining config
The export restores onto whatever devices the exporting machine has, and loads on any other.
"""

import json
import os
import shutil

import jax
import jax.numpy as jnp
import orbax.checkpoint as ocp

from clp_jax.export import interop
from clp_jax.models import clp as clp_model
from clp_jax.models import resnet
from clp_jax.pretrain import checkpoint

FORMAT_VERSION = 1


def _single_device(tree):
  device = jax.sharding.SingleDeviceSharding(jax.devices()[0])
  return jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=device), tree)


def encoder_template(depth: int, au_dim: int, hidden: int, image_size: int) -> dict:
  """Abstract {'params', 'batch_stats', 'au_head'} of an exported encoder."""
  x = jnp.zeros((1, image_size, image_size, 3))
  variables = jax.eval_shape(resnet.ResNet(depth).init, jax.random.key(0), x)
  head = jax.eval_shape(clp_model.MLP((hidden, au_dim)).init, jax.random.key(0),
                        jnp.zeros((1, resnet.FEATURE_DIM[depth])))
  return {"params": variables["params"], "batch_stats": variables["batch_stats"],
          "au_head": head["params"]}


def export(workdir: str, out: str, step: int = None) -> dict:
  """Exports the encoder of workdir's checkpoint (latest by default); returns encoder.json's dict."""
  mngr = ocp.CheckpointManager(os.path.abspath(os.path.join(workdir, "checkpoints")),
                               item_names=checkpoint.ITEMS)
  step = mngr.latest_step() if step is None else step
  if step is None:
    raise FileNotFoundError(f"No checkpoint in {os.path.join(workdir, 'checkpoints')}: "
                            f"pretrain first (clp-pretrain --workdir {workdir} ...)")
  meta = mngr.restore(step, args=ocp.args.Composite(meta=ocp.args.JsonRestore()))["meta"]
  cfg = meta["config"]
  m = cfg["model"]
  template = encoder_template(m["depth"], m["au_dim"], m["hidden"], cfg["image_size"])
  enc = {"params": template["params"], "batch_stats": template["batch_stats"]}
  encoder = mngr.restore(step, args=ocp.args.Composite(
      encoder=ocp.args.StandardRestore(_single_device(enc))))["encoder"]
  # The AU head lives in the train state; read only that subtree of it.
  head = restore_subtree(mngr, step, ("params", "au_head"), template["au_head"])
  variables = {"params": encoder["params"], "batch_stats": encoder["batch_stats"], "au_head": head}
  os.makedirs(out, exist_ok=True)
  target = os.path.abspath(os.path.join(out, "encoder"))
  if os.path.exists(target):
    shutil.rmtree(target)
  with ocp.StandardCheckpointer() as ckptr:
    ckptr.save(target, variables)
  interop.save_safetensors(os.path.join(out, "encoder.safetensors"),
                           {"params": variables["params"], "batch_stats": variables["batch_stats"]})
  info = {
      "format_version": FORMAT_VERSION,
      "architecture": f"resnet{m['depth']}",
      "depth": m["depth"],
      "feature_dim": resnet.FEATURE_DIM[m["depth"]],
      "au_code_dim": m["au_dim"],
      "au_head_hidden": m["hidden"],
      "input_size": cfg["image_size"],
      # checkpoints from before model.input_norm existed normalised with ImageNet statistics
      "normalization": normalization(m.get("input_norm", "imagenet")),
      "layout": "NHWC",
      "source_workdir": os.path.abspath(workdir),
      "source_step": int(step),
      "corpus": meta.get("corpus"),
      "config": cfg,
  }
  with open(os.path.join(out, "encoder.json"), "w") as f:
    json.dump(info, f, indent=2)
  return info


def normalization(kind: str) -> dict:
  """encoder.json's description of `clp_model.normalize(images, kind)`, enough to redo it elsewhere."""
  if kind == "imagenet":
    return {"kind": kind, "mean": [float(v) for v in clp_model.MEAN],
            "std": [float(v) for v in clp_model.STD], "scale": "0-255 RGB"}
  if kind == "per_image":
    return {"kind": kind, "scale": "0-255 RGB",
            "formula": "(x - mean_hw(x)) / (std_hw(x) + 1), per image and channel"}
  raise ValueError(f"config.model.input_norm must be one of {clp_model.INPUT_NORMS}, got {kind!r}")


def restore_subtree(mngr, step, path, template):
  """Restores state[path...] alone, by giving Orbax a target that names only that subtree."""
  tree = template
  for key in reversed(path):
    tree = {key: tree}
  restored = mngr.restore(step, args=ocp.args.Composite(
      state=ocp.args.PyTreeRestore(
          item=_single_device(tree),
          restore_args=jax.tree.map(lambda _: ocp.ArrayRestoreArgs(
              sharding=jax.sharding.SingleDeviceSharding(jax.devices()[0])), tree),
          partial_restore=True)))["state"]
  for key in path:
    restored = restored[key]
  return restored


def load(directory: str) -> tuple:
  """An exported encoder: (variables {'params', 'batch_stats', 'au_head'}, encoder.json dict)."""
  path = os.path.join(directory, "encoder.json")
  if not os.path.exists(path):
    raise FileNotFoundError(f"{directory} is not an exported encoder (no encoder.json); "
                            f"make one with clp-export --workdir RUN --out {directory}")
  with open(path) as f:
    info = json.load(f)
  template = encoder_template(info["depth"], info["au_code_dim"], info["au_head_hidden"],
                              info["input_size"])
  try:
    with ocp.StandardCheckpointer() as ckptr:
      variables = ckptr.restore(os.path.abspath(os.path.join(directory, "encoder")),
                                _single_device(template))
  except (ValueError, KeyError) as e:
    raise ValueError(f"The weights in {directory}/encoder do not match encoder.json's "
                     f"{info['architecture']} (AU code {info['au_code_dim']}-d): {e}") from e
  return variables, info
