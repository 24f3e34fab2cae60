"""Pretraining: train state, the CLP objective, the sharded step, the loop, checkpoints.

  state.py       TrainState, the model and optimiser a config asks for
  losses.py      the loss terms as array functions (temporal margin, InfoNCE, MoCo, CIR)
  objective.py   the CLP objective: a batch through the model into those terms
  step.py        train/eval steps and their jit with shardings (ShardedStep)
  train.py       the loop: input, steps, held-out losses, checkpoints, logs
  validation.py  held-out pretraining losses
  checkpoint.py  Orbax checkpoints (state, encoder, iterator, metadata)
  config.py      validate(config): one check of a pretraining config up front
  cli.py         clp-pretrain
"""
