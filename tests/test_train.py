"""Pretraining end to end on the tiny corpus: loss falls, resume is exact, guards hold."""

import json
import os
import pathlib
import shutil
import signal
import subprocess
import sys
import time

import jax
import numpy as np
import orbax.checkpoint as ocp
import pytest

from clp_jax import config_files
from clp_jax import sharding
from clp_jax.data import pipeline
from clp_jax.data import sources
from clp_jax.pretrain import objective
from clp_jax.pretrain import step as step_lib
from clp_jax.pretrain import train

ROOT = pathlib.Path(__file__).resolve().parents[1]


def _load_config(name, arg=""):
  return config_files.load(str(ROOT / "configs" / f"{name}.py"), arg)


def tiny_run_config(data_dir, **overrides):
  c = _load_config("default", "runlocal")
  c.data.data_dir = data_dir
  c.data.config = "tiny_pretrain"
  c.data.split = "part1+part2+part3"
  c.data.num_threads = 1
  c.validation.every = 0  # these runs train on part3, the default held-out split
  for key, value in overrides.items():
    target = c
    *path, leaf = key.split(".")
    for p in path:
      target = target[p]
    target[leaf] = value
  return c


def two_step_infonce(data_dir, workdir, **overrides) -> list:
  """Trains a tiny run for 2 steps with the overrides; returns the InfoNCE it logged, checked to
  be two finite, positive values."""
  config = tiny_run_config(data_dir, num_steps=2, checkpoint_every=100, **overrides)
  state = train.train(config, str(workdir))
  assert int(state.step) == 2
  infonce = [v for _, v in train.loss_history(str(workdir), "train/infonce")]
  assert len(infonce) == 2 and all(np.isfinite(infonce)) and min(infonce) > 0, infonce
  return infonce


def _fixed_batch(config, mesh):
  source, _ = sources.open_source("synthetic_au", config.data.config, "part3", config.data.data_dir)
  ds = pipeline.pretrain_dataset(source, global_batch_size=8, seed=123,
                                 shard=pipeline.shard_options(0, 1), num_threads=1)
  return sharding.global_batch(next(iter(ds)), mesh)


@pytest.mark.slow
def test_loss_falls_on_eight_devices(tiny_data_dir, tmp_path):
  config = tiny_run_config(tiny_data_dir, num_steps=12, checkpoint_every=100, **{"optimizer.lr": 3e-3})
  state = train.train(config, str(tmp_path))
  assert int(state.step) == 12
  mesh = sharding.make_mesh()
  clp = step_lib.sharded_step(config, mesh)
  batch = _fixed_batch(config, mesh)
  loss = jax.jit(lambda s: objective.loss_fn(s.params, s, batch, model=clp.model, config=config)[0])
  before, after = float(loss(clp.init(jax.random.key(config.seed)))), float(loss(state))
  assert after < 0.9 * before, (before, after)
  history = train.loss_history(str(tmp_path))
  assert [s for s, _ in history] == list(range(1, 13))


def _cli(workdir, data_dir, steps, devices, extra=()):
  env = dict(os.environ, XLA_FLAGS=f"--xla_force_host_platform_device_count={devices}",
             JAX_PLATFORMS="cpu")
  cmd = [sys.executable, "-m", "clp_jax.pretrain.cli", f"--config={ROOT}/configs/default.py:runlocal",
         f"--workdir={workdir}", f"--config.data.data_dir={data_dir}",
         "--config.data.config=tiny_pretrain", "--config.data.split=part1+part2+part3",
         "--config.data.num_threads=1", "--config.validation.every=0",
         f"--config.num_steps={steps}",
         "--config.checkpoint_every=2", *extra]
  return subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          start_new_session=True, text=True)


def _final_params(workdir, step):
  mngr = ocp.CheckpointManager(os.path.join(workdir, "checkpoints"), item_names=("encoder",))
  restored = mngr.restore(step, args=ocp.args.Composite(encoder=ocp.args.StandardRestore()))
  return jax.tree.map(np.asarray, restored["encoder"])


def _wait_for(path, proc, timeout=300):
  deadline = time.time() + timeout
  while time.time() < deadline and not path.exists():
    assert proc.poll() is None, proc.stdout.read()
    time.sleep(0.05)
  assert path.exists(), f"{path} never appeared"


@pytest.mark.slow
def test_killed_and_resumed_run_equals_uninterrupted_run(tiny_data_dir, tmp_path):
  straight, killed = tmp_path / "straight", tmp_path / "killed"
  proc = _cli(straight, tiny_data_dir, 6, 2)
  out = proc.communicate()[0]
  assert proc.returncode == 0, out
  proc = _cli(killed, tiny_data_dir, 6, 2)
  _wait_for(killed / "checkpoints" / "2", proc)
  os.killpg(proc.pid, signal.SIGKILL)
  proc.wait()
  assert not (killed / "checkpoints" / "6").exists()
  proc = _cli(killed, tiny_data_dir, 6, 2)
  out = proc.communicate()[0]
  assert proc.returncode == 0, out
  assert "Resumed from step" in out
  a, b = _final_params(straight, 6), _final_params(killed, 6)
  jax.tree.map(np.testing.assert_array_equal, a, b)


@pytest.mark.slow
def test_sigterm_saves_and_exits_cleanly(tiny_data_dir, tmp_path):
  proc = _cli(tmp_path, tiny_data_dir, 1000, 1)
  _wait_for(tmp_path / "checkpoints" / "2", proc)
  os.killpg(proc.pid, signal.SIGTERM)
  out = proc.communicate(timeout=120)[0]
  assert proc.returncode == 0, out
  saved = sorted(int(p.name) for p in (tmp_path / "checkpoints").iterdir() if p.name.isdigit())
  assert saved[-1] >= 2 and saved[-1] < 1000
  assert "SIGTERM: saved step" in out


@pytest.mark.slow
def test_checkpoint_from_eight_devices_restores_on_one(tiny_data_dir, tmp_path):
  train.train(tiny_run_config(tiny_data_dir, num_steps=2, num_devices=8), str(tmp_path))
  state = train.train(tiny_run_config(tiny_data_dir, num_steps=3, num_devices=1), str(tmp_path))
  assert int(state.step) == 3
  assert len(jax.tree.leaves(state.params)[0].sharding.device_set) == 1


@pytest.mark.slow
def test_checkpoint_with_grains_per_process_iterator_file_still_resumes(tiny_data_dir, tmp_path):
  """Checkpoints written before the iterator state became one JSON item hold grain's
  data/process_0-of-1.json; they resume on the same next batch."""
  straight, legacy = tmp_path / "straight", tmp_path / "legacy"
  train.train(tiny_run_config(tiny_data_dir, num_steps=3), str(straight))
  train.train(tiny_run_config(tiny_data_dir, num_steps=2), str(legacy))
  data = legacy / "checkpoints" / "2" / "data"
  state = json.loads((data / "metadata").read_text())
  shutil.rmtree(data)
  data.mkdir()
  (data / "process_0-of-1.json").write_text(json.dumps(state))
  train.train(tiny_run_config(tiny_data_dir, num_steps=3), str(legacy))
  assert train.loss_history(str(legacy))[-1] == train.loss_history(str(straight))[-1]


@pytest.mark.slow
def test_nan_guard_stops_and_keeps_the_last_good_checkpoint(tiny_data_dir, tmp_path):
  train.train(tiny_run_config(tiny_data_dir, num_steps=2), str(tmp_path))
  # A valid config whose steps overflow: step 3's update sends the weights to ~1e30, so step 4's
  # activations are infinite (a temperature of 0 would be refused up front by validate).
  bad = tiny_run_config(tiny_data_dir, num_steps=4, **{"optimizer.lr": 1e30})
  with pytest.raises(train.NonFiniteLossError, match="last good checkpoint is step 2"):
    train.train(bad, str(tmp_path))
  saved = sorted(p.name for p in (tmp_path / "checkpoints").iterdir() if p.name.isdigit())
  assert saved == ["2"]


def test_voxceleb_config_builds_model_step_and_shardings(tiny_data_dir):
  config = _load_config("voxceleb_pretrain", "devices=64")
  assert config.global_batch_size == 2048 and config.optimizer.lr == pytest.approx(0.8)
  assert config.data.name == "voxceleb2"
  # Swap the synthetic corpus in for VoxCeleb2 and shrink the batch to this machine.
  config.data.name, config.data.data_dir = "synthetic_au", tiny_data_dir
  config.data.config = "tiny_pretrain"
  config.global_batch_size, config.image_size = 8, 64
  mesh = sharding.make_mesh()
  clp = step_lib.sharded_step(config, mesh)
  abstract = clp.abstract_state
  assert abstract.queue.shape == (65536, 128) and abstract.ema_params is not None
  batch = _fixed_batch(config, mesh)
  lowered = clp.step.lower(abstract, batch)
  assert "bf16" in lowered.as_text()
  with pytest.raises(ValueError, match="Unknown config arguments"):
    _load_config("voxceleb_pretrain", "chips=8")


def _one_device_step(config):
  """(mesh, ShardedStep, initial state, fixed batch) of config on one device."""
  mesh = sharding.make_mesh(1)
  clp = step_lib.sharded_step(config, mesh)
  return mesh, clp, clp.init(jax.random.key(0)), _fixed_batch(config, mesh)


def loss_metrics(clp, state, batch, config, train=True) -> dict:
  """`objective.loss_fn`'s metrics on the batch, jitted: run eagerly, op by op, XLA:CPU compiled
  every operation on its own (a loss and its gradient: 40 s eager against 9 s jitted)."""
  fn = lambda s, b: objective.loss_fn(s.params, s, b, model=clp.model, config=config, train=train)
  return jax.jit(fn)(state, batch)[1][0]


def _encode_real_frames(clp, state, batch, config):
  """The model's train-mode outputs on the batch's augmented frames, the new BatchNorm
  statistics, and the frames' [B, K, S, S, 3] views."""
  @jax.jit
  def encode(state, batch):
    x, views = objective.frames(batch, config.image_size,
                                config.model.get("input_norm", "imagenet"))
    out, updates = clp.model.apply({"params": state.params, "batch_stats": state.batch_stats}, x,
                                   train=True, mutable=["batch_stats"])
    return out, updates["batch_stats"], views
  return encode(state, batch)


def test_running_statistics_come_from_real_frames_only(tiny_data_dir):
  """The CIR pass encodes decoded faces in train mode; BatchNorm's running statistics must still
  be exactly one update from the batch's real frames."""
  config = tiny_run_config(tiny_data_dir)
  _, clp, state, batch = _one_device_step(config)
  _, want, _ = _encode_real_frames(clp, state, batch, config)
  new, metrics = jax.jit(clp.step_fn)(state, batch)
  assert float(metrics["cir_au"]) > 0  # the CIR pass ran
  jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6),
               new.batch_stats, want)


def _largest_gradients(config) -> dict:
  """The largest |gradient| of the loss in each top-level part of the model (encoder, au_head,
  decoder, ...), from the initial state on a fixed batch, one device."""
  _, clp, state, batch = _one_device_step(config)
  grads = jax.jit(jax.grad(lambda p: objective.loss_fn(p, state, batch, model=clp.model,
                                                      config=config)[0]))(state.params)
  return {part: max(float(np.abs(g).max()) for g in jax.tree.leaves(tree))
          for part, tree in grads.items()}


# (loss kept on, switch, the part the switch cuts off, parts that must still get a gradient)
GRAD_SWITCHES = [("recon", "recon_au_grad", "au_head", ("person_head", "decoder")),
                 ("cir", "cir_decoder_grad", "decoder", ("au_head", "person_head"))]


@pytest.mark.parametrize("on", [True, False])
@pytest.mark.parametrize("loss_name,switch,cut,kept", GRAD_SWITCHES)
def test_gradient_switches_decide_what_a_loss_trains(tiny_data_dir, loss_name, switch, cut, kept,
                                                     on):
  """recon_au_grad: whether reconstruction trains the AU code; cir_decoder_grad: whether CIR's
  loss trains the decoder. Only the named loss is on."""
  config = tiny_run_config(tiny_data_dir)
  with config.unlocked():
    config.loss.temporal_margin = config.loss.infonce = config.loss.cir = config.loss.recon = 0.0
    config.loss[loss_name] = 1.0
    config.loss[switch] = on
  largest = _largest_gradients(config)
  assert all(largest[k] > 0 for k in kept)
  assert (largest[cut] > 0) == on


@pytest.mark.parametrize("person_encoder", ["shared", "cnn"])
def test_own_person_encoder_keeps_reconstruction_out_of_the_exported_encoder(tiny_data_dir,
                                                                             person_encoder):
  """Reconstruction alone, not training the AU code (recon_au_grad=False): with the person head on
  the shared encoder, rebuilding the face trains that encoder (the one export keeps); with a
  person CNN of its own, the exported encoder gets no gradient at all and the person CNN does."""
  config = tiny_run_config(tiny_data_dir, **{"model.person_encoder": person_encoder})
  with config.unlocked():
    config.loss.temporal_margin = config.loss.infonce = config.loss.cir = 0.0
    config.loss.recon, config.loss.recon_au_grad = 1.0, False
  largest = _largest_gradients(config)
  assert ("person_cnn" in largest) == (person_encoder == "cnn")
  assert largest["person_head"] > 0 and largest["decoder"] > 0
  assert (largest["encoder"] > 0) == (person_encoder == "shared")
  if person_encoder == "cnn":
    assert largest["person_cnn"] > 0


def test_unknown_person_encoder_is_a_clear_error(tiny_data_dir):
  config = tiny_run_config(tiny_data_dir, **{"model.person_encoder": "vit"})
  with pytest.raises(ValueError, match=r"config.model.person_encoder must be one of \['shared', "
                     r"'cnn'\], got 'vit'"):
    step_lib.sharded_step(config, sharding.make_mesh(1))


def test_unknown_cir_loss_is_a_clear_error(tiny_data_dir):
  config = tiny_run_config(tiny_data_dir, **{"loss.cir_loss": "l1"})
  with pytest.raises(ValueError, match=r"config.loss.cir_loss must be one of \['mse', 'infonce'\], "
                     r"got 'l1'"):
    step_lib.sharded_step(config, sharding.make_mesh(1))
