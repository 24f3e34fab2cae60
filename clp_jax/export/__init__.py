"""Exported encoders, for evaluation and PyTorch (clp-export).

  encoder.py  write an export out of a checkpoint, read it back
  interop.py  torchvision resnet state_dict <-> flax, as safetensors
  cli.py      clp-export
"""
