"""CLP pretraining on the embedded synthetic corpus: a 2-core CPU run of a few minutes.

Run:
  clp-pretrain --config configs/default.py --workdir runs/default
Override anything, e.g.:
  clp-pretrain --config configs/default.py --workdir runs/nocir --config.loss.cir=0 --config.loss.recon=0

Pretrains on subjects of parts 1 and 2 only, so part 3's subjects stay unseen for evaluation.
"""

import ml_collections


def get_config(arg: str = "") -> ml_collections.ConfigDict:
  """arg: '' for the default run (200 steps), 'long' for a 10x longer run (2,000 steps),
  'runlocal' for a seconds-long smoke run."""
  c = ml_collections.ConfigDict()
  c.seed = 0
  # The encoder's input: aligned 112 px face crops (synthetic_au 2.0.0) resized to 96 px, where
  # an AU at intensity 3 changes 2-17% of its facial region's pixels by > 10 grey levels
  # (research/au_visibility.py); layer4 is then 3x3.
  c.image_size = 96
  c.global_batch_size = 8  # clips; each holds clip_length (8) frames
  c.num_steps = 200
  c.log_every = 10
  c.checkpoint_every = 50
  c.keep_checkpoints = 3
  c.num_devices = ml_collections.FieldReference(None, field_type=int)  # None: every device
  c.distributed = False  # jax.distributed.initialize() for multi-host runs

  c.data = ml_collections.ConfigDict()
  c.data.name = "synthetic_au"
  c.data.config = "pretrain"
  c.data.data_dir = "data"
  c.data.split = "part1+part2"
  # One crop and flip per clip (one camera, as the clip was filmed): with a view per frame the
  # within-clip losses learn to tell crops apart (InfoNCE stayed at chance for 2,000 steps).
  c.data.shared_view = True
  c.data.num_threads = 2
  # Mild crops: the faces are aligned, and a crop that cuts off the brows or the chin cuts off AUs.
  c.data.augment = ml_collections.ConfigDict(dict(
      crop_scale=(0.85, 1.0), crop_ratio=(0.95, 1.05), flip=True,
      brightness=0.1, contrast=0.1, saturation=0.1))

  # Held-out losses (`clp_jax.pretrain.validation`): every `every` steps (0: off) the loss terms on
  # `batches` fixed batches of the pretraining split and of `split`, subjects never trained on,
  # logged as seen/* and heldout/* (TensorBoard) and printed at the end. Every 500 steps never
  # comes in the 200-step run, which then draws no batches for it.
  c.validation = ml_collections.ConfigDict(dict(split="part3", every=500, batches=4))

  c.model = ml_collections.ConfigDict()
  c.model.depth = 18
  c.model.au_dim = 128
  c.model.person_dim = 64
  c.model.proj_dim = 128
  c.model.hidden = 512
  c.model.decoder_size = 32
  # 'shared': the person head sits on the AU encoder's features, so reconstruction makes the
  # exported encoder keep the person's appearance; 'cnn': a small CNN of its own gives the person
  # code (`clp_model.PersonEncoder`) and export leaves it behind.
  c.model.person_encoder = "shared"
  c.model.dtype = "float32"
  # 'per_image': each frame standardised by its own mean and SD (clp_model.normalize), so its
  # brightness, contrast and colour cast never reach the encoder; 'imagenet': torchvision's.
  c.model.input_norm = "per_image"

  c.loss = ml_collections.ConfigDict()
  c.loss.pos_window = 2.0         # frames (index units): neighbours this close are positives
  c.loss.temporal_margin = 1.0    # weight of the margin loss on AU codes
  c.loss.margin = 0.1             # margin per pos_window of extra temporal distance
  c.loss.max_margin = 0.5
  c.loss.infonce = 1.0            # weight of within-clip InfoNCE on projections
  c.loss.cross_clip_negatives = False  # add other clips' frames as negatives (the shortcut)
  c.loss.temperature = 0.1
  c.loss.moco = 0.0               # weight of the momentum-encoder queue loss (off)
  c.loss.moco_momentum = 0.99
  c.loss.queue_size = 1024
  c.loss.cir = 1.0                # cross-identity reconstruction: AU-code consistency weight
  c.loss.cir_person_weight = 0.5
  # 'mse': squared distance of the cross face's AU code to the source frame's; 'infonce': that
  # code must pick its source frame's AU code out of every CIR frame's in the batch.
  c.loss.cir_loss = "mse"
  c.loss.cir_temperature = 0.1
  c.loss.recon = 1.0              # plain reconstruction weight
  c.loss.recon_au_grad = True     # False: reconstruction does not train the AU code
  c.loss.cir_frames = 2           # frames per clip that go through CIR
  c.loss.cir_decoder_grad = True  # False: CIR's loss does not train the decoder

  c.optimizer = ml_collections.ConfigDict()
  c.optimizer.name = "adamw"
  c.optimizer.lr = 1e-3
  c.optimizer.momentum = 0.9
  c.optimizer.weight_decay = 1e-4
  c.optimizer.warmup_steps = 20
  c.optimizer.grad_clip = 1.0

  if arg == "long":
    c.num_steps = 2000
    c.validation.every = 250
    c.checkpoint_every = 250
  elif arg == "runlocal":
    c.validation.batches = 1
    c.image_size = 32
    c.num_steps = 6
    c.log_every = 1
    c.checkpoint_every = 2
    c.model.depth = 10  # ResNet-18's layers, one block a stage: fewer to compile
    c.model.hidden = 64
    c.model.au_dim = c.model.person_dim = c.model.proj_dim = 32
    c.model.decoder_size = 16
  elif arg:
    raise ValueError(f"Unknown config argument {arg!r}; use '', 'long' or 'runlocal'")
  return c
