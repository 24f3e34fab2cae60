"""Per-frame AU detection on users' videos and images (clp-detect).

  au_model.py   a model directory: export + AU heads + thresholds + alignment
  detection.py  a video or image -> rows of per-frame AU probabilities
  cli.py        clp-detect
"""
