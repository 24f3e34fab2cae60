"""CLP's ablations: `configs/default.py` with a few settings changed, one variant a name.

Pretrain one variant:
  clp-pretrain --config configs/ablations.py:no_cir --workdir runs/no_cir
at the 10x budget, or as a seconds-long smoke run:
  clp-pretrain --config configs/ablations.py:no_cir,long --workdir runs/no_cir_long
  clp-pretrain --config configs/ablations.py:no_cir,runlocal --workdir /tmp/no_cir
List them:
  python -c "import runpy; [print(k, '-', v[0]) for k, v in runpy.run_path('configs/ablations.py')['VARIANTS'].items()]"
Pretrain, export and evaluate several over seeds, and print the table: research/ablation.py.

A variant is a delta on the default, so it follows the default when the default moves: `no_cir`
is always "the default without CIR".
"""

import os
import runpy

# name -> (what it tests, {setting: value} changed from configs/default.py)
VARIANTS = {
    "clp": ("CLP: temporal margin + within-clip InfoNCE + CIR, one view per clip", {}),
    "no_cir": ("CLP without cross-identity reconstruction", {"loss.cir": 0.0, "loss.recon": 0.0}),
    "clp_cir4": ("CLP, CIR consistency weighted 4 instead of 1", {"loss.cir": 4.0}),
    "clp_cir_fixed_decoder": ("CLP, CIR's loss does not train the decoder",
                              {"loss.cir_decoder_grad": False}),
    "clp_cir_frames4": ("CLP, CIR on 4 frames per clip instead of 2", {"loss.cir_frames": 4}),
    "clp_recon_no_au_grad": ("CLP, plain reconstruction does not train the AU code",
                             {"loss.recon_au_grad": False}),
    "clp_cir_infonce": ("CLP, CIR as InfoNCE: the cross face's AU code picks out its source "
                        "frame's", {"loss.cir_loss": "infonce"}),
    "no_margin": ("CLP without the temporal margin loss", {"loss.temporal_margin": 0.0}),
    "no_temporal": ("CLP without either within-clip loss: reconstruction and CIR alone",
                    {"loss.temporal_margin": 0.0, "loss.infonce": 0.0}),
    "no_infonce": ("CLP without within-clip InfoNCE", {"loss.infonce": 0.0}),
    "infonce_within": ("within-clip InfoNCE alone",
                       {"loss.temporal_margin": 0.0, "loss.cir": 0.0, "loss.recon": 0.0}),
    "infonce_cross_clip": ("InfoNCE with other clips' frames as negatives, alone",
                           {"loss.temporal_margin": 0.0, "loss.cir": 0.0, "loss.recon": 0.0,
                            "loss.cross_clip_negatives": True}),
    "clp_cross_clip": ("CLP + other clips' frames as negatives",
                       {"loss.cross_clip_negatives": True}),
    "clp_moco": ("CLP + momentum encoder and queue", {"loss.moco": 1.0}),
    "clp_frame_views": ("CLP, a view per frame instead of per clip", {"data.shared_view": False}),
    "clp_imagenet_norm": ("CLP, ImageNet input normalisation instead of per image",
                          {"model.input_norm": "imagenet"}),
    "clp_person_cnn": ("CLP, the person code from a small CNN of its own (export leaves it)",
                       {"model.person_encoder": "cnn"}),
    "clp_batch32": ("CLP, 32 clips per step instead of 8", {"global_batch_size": 32}),
    "clp_window4": ("CLP, positives up to 4 frames apart instead of 2", {"loss.pos_window": 4.0}),
    "clp_temp05": ("CLP, InfoNCE temperature 0.5 instead of 0.1", {"loss.temperature": 0.5}),
}


def get_config(arg: str = "clp"):
  """arg: 'VARIANT' or 'VARIANT,BUDGET' with BUDGET one of configs/default.py's arguments
  ('' = 200 steps, 'long', 'runlocal')."""
  variant, _, budget = arg.partition(",")
  if variant not in VARIANTS:
    raise ValueError(f"Unknown ablation {variant!r} in configs/ablations.py; known: "
                     f"{', '.join(VARIANTS)}")
  default = runpy.run_path(os.path.join(os.path.dirname(os.path.abspath(__file__)), "default.py"))
  config = default["get_config"](budget)
  for name, value in VARIANTS[variant][1].items():
    node = config
    *parents, leaf = name.split(".")
    for part in parents:
      node = node[part]
    if leaf not in node:  # a delta must name a setting the default has
      raise ValueError(f"configs/ablations.py:{variant} changes config.{name}, which "
                       f"configs/default.py does not have")
    node[leaf] = value
  return config
