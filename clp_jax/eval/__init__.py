"""Evaluation: frozen encoders -> AU detection F1 under subject-exclusive folds.

  evaluate.py             features, folds, the linear probe and fine-tuning
  baselines.py            all_present, prevalence, and the scale rule
  supervised.py           the supervised baseline (early stopping on an inner split)
  metrics.py              per-AU F1 with unknown labels masked
  person_independence.py  subject share and cross-subject retrieval
  predictions.py          per-frame CSVs
  report.py               report.json, report.md, the F1 plot
  cli.py                  clp-eval
"""
