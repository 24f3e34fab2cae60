"""CLP pretraining on the embedded synthetic corpus: a 2-core CPU run of a few minutes.

Run:
  clp-pretrain --config configs/default.py --workdir runs/default
Override anything, e.g.:
  clp-pretrain --config configs/default.py --workdir runs/nocir --config.loss.cir=0 --config.loss.recon=0

Pretrains on subjects of parts 1 and 2 only, so part 3's subjects stay unseen for evaluation.
"""

import ml_collections


def get_config(arg: str = "") -> ml_collections.ConfigDict:
  """arg: '' for the default run (~4.5 min on 2 CPU cores, 2026-11-27), 'long' for a 10x longer
  run (2,000 steps; ~3.3 min on one H200 shared by 9 runs, 2026-11-28), 'runlocal' for a
  seconds-long smoke run."""
  c = ml_collections.ConfigDict()
  c.seed = 0
  c.image_size = 80  # layer4 at 3x3: XLA:CPU runs 3x3 convs on 2x2 maps (64px inputs) ~25x slower
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
  # One crop and flip per clip: with a view per frame the within-clip losses stay at chance
  # (InfoNCE 1.43 = uniform over a clip's frames, for 2,000 steps on an H200). Colour jitter
  # drawn per frame hid the clip's lighting drift from the temporal losses, but it also made them
  # collapse (InfoNCE back to chance within ~20 steps); per-image input normalisation
  # (model.input_norm) removes that drift without adding noise. See README, Pretraining.
  c.data.shared_view = True
  c.data.frame_jitter = False  # with shared_view: colour jitter drawn per frame
  # with shared_view: each frame's crop moved/rescaled by up to this fraction (0: off)
  c.data.frame_geometry = 0.0
  # with shared_view: each frame mirrored on its own coin (the sign of yaw, roll and sideways drift
  # then no longer orders a clip's frames; AUs are symmetric)
  c.data.frame_flip = False
  # < 1: pretrain only on that fraction of the clips, those where the head moves least (from the
  # records' landmarks, `pipeline.stillest_clips`)
  c.data.stillest_fraction = 1.0
  # 'affine' or 'euclidean': warp each clip's frames onto its middle frame (ECC registration,
  # `clp_jax.data.stabilise`), removing most of the head's drift inside the clip; 'flow': the
  # euclidean warp, then the smoothed dense flow onto the middle frame (parallax too); 'rigid': the
  # euclidean warp, then the rigid move (yaw and pitch too) of an ellipsoidal face placed by the
  # records' landmarks, fitted to the dense flow, undone inside the face; 'rigid_still_surround':
  # 'rigid', and outside the face every frame shows the middle frame's pixels; '': off.
  # The default since 2026-11-30: above clips as stored at both budgets (200 steps: 84% of the
  # untrained -> supervised gap over 8 seeds; 2,000: 44% over 6, against 39%) and ahead of CLP
  # without CIR at both (docs/experiments.md, "A still surround").
  c.data.stabilise = "rigid_still_surround"
  # > 1: each batch holds this many clips of each of its videos, never overlapping and sharing
  # one view (`clp_jax.data.video_groups`), for loss.video_negatives; 1: clips shuffled alone
  c.data.clips_per_video = 1
  c.data.num_threads = 2
  c.data.augment = ml_collections.ConfigDict(dict(
      crop_scale=(0.75, 1.0), crop_ratio=(0.9, 1.1), flip=True,
      brightness=0.1, contrast=0.1, saturation=0.1))

  # Held-out losses (`clp_jax.validation`): every `every` steps (0: off) the loss terms on
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
  # add the frames of the same video's other clips in the batch as InfoNCE negatives (needs
  # data.clips_per_video >= 2): the same person at other moments, so identity cannot help
  c.loss.video_negatives = False
  c.loss.temperature = 0.1
  # 'mean', 'linear' or 'quadratic': the within-clip losses see each clip's codes minus their
  # polynomial trend in time (`losses.detrend`), where the head's slow drift lies; '': off
  c.loss.detrend = ""
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
  c.loss.recon_swap = False       # True: rebuild a frame with another frame's person code (same clip)
  c.loss.person_clip = 0.0        # weight of the person code's spread inside a clip
  # weight of the share of the AU code's (and projection's) within-clip variance that the head's
  # pose explains linearly (`losses.pose_explained_variance`); needs landmarks in the records
  c.loss.pose_decorrelation = 0.0
  # weight of TCAE's motion loss (`step.motion_terms`): frame t moved onto frame t + motion_gap of
  # its clip by a coarse field from pose codes (the head) plus a fine one from the AU codes (the
  # face), the latter charged motion_sparsity per pixel of its mean length; 0: off
  c.loss.motion = 0.0
  c.loss.motion_gap = 2
  c.loss.motion_sparsity = 0.01
  # the photometric error on pool x pool means of pixels, where the frames' own noise averages out
  c.loss.motion_pool = 2

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
