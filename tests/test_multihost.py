"""Multi-process pretraining: two processes on localhost (CPU collectives over gloo) train exactly
as one process over the same global batch, checkpoints move between process counts, a killed
process is resumed by rerunning the launch command, processes that disagree are stopped, and
the cloud launch scripts print the commands they would run."""

import os
import pathlib
import signal
import socket
import subprocess
import sys
import time

import numpy as np
import pytest

from clp_jax import multihost
from clp_jax.data import pipeline
from clp_jax.data import sources
from clp_jax.pretrain import train
from tests.conftest import tiny_config

ROOT = pathlib.Path(__file__).resolve().parents[1]
LAUNCH = ROOT / "launch"
STEPS = 4


def _pretrain(data_dir, shard, global_batch):
  source, _ = sources.open_source("synthetic_au", tiny_config("pretrain"), "part1+part2+part3",
                                  data_dir)
  return len(source), iter(pipeline.pretrain_dataset(source, global_batch_size=global_batch,
                                                     seed=5, shard=shard, num_threads=1))


def test_process_slices_partition_an_epoch_and_join_into_the_one_process_batch(tiny_data_dir):
  n, one = _pretrain(tiny_data_dir, pipeline.shard_options(0, 1), 4)
  assert n % 4 == 0, n
  procs = [_pretrain(tiny_data_dir, pipeline.shard_options(p, 2), 4)[1] for p in range(2)]
  seen = [set(), set()]
  for _ in range(n // 4):  # one epoch
    whole = next(one)
    halves = [next(it) for it in procs]
    for p, half in enumerate(halves):
      assert half["clip"].shape[0] == 2
      seen[p] |= {(int(k), int(f[0])) for k, f in zip(half["video_key"], half["frame_index"])}
    for key in whole:  # the same clips, pixels and views, whichever process read them
      np.testing.assert_array_equal(np.concatenate([h[key] for h in halves]), whole[key])
  assert not seen[0] & seen[1]
  assert len(seen[0] | seen[1]) == n
  assert procs[0].get_state() == procs[1].get_state() == one.get_state()


def test_importing_the_trainer_leaves_the_backend_unstarted():
  """jax.distributed.initialize must run before XLA's backend starts: no import may start it."""
  code = ("import jax._src.xla_bridge as xb, clp_jax.pretrain.cli, clp_jax.pretrain.train; "
          "assert not xb._backends, 'an import started the XLA backend'")
  subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT,
                 env=dict(os.environ, JAX_PLATFORMS="cpu"))


def test_differences_name_every_setting_that_differs():
  mine = {"config": {"seed": 1, "model": {"depth": 18}}, "corpus": {"clips": 10}}
  ref = {"config": {"seed": 0, "model": {"depth": 18, "dtype": "bf16"}}, "corpus": {"clips": 10}}
  assert multihost.differences(mine, ref) == [
      "config.model.dtype: here (absent), process 0 'bf16'", "config.seed: here 1, process 0 0"]
  assert multihost.differences(ref, ref) == []


def _free_port() -> int:
  with socket.socket() as s:
    s.bind(("localhost", 0))
    return s.getsockname()[1]


def _pretrain_cmd(workdir, data_dir, steps, extra=()):
  return [sys.executable, "-m", "clp_jax.pretrain.cli", f"--config={ROOT}/configs/default.py:runlocal",
          f"--workdir={workdir}", f"--config.data.data_dir={data_dir}",
          "--config.data.config=tiny_pretrain", "--config.data.split=part1+part2+part3",
          "--config.data.num_threads=1", "--config.validation.every=0",
          f"--config.num_steps={steps}", "--config.checkpoint_every=2", *extra]


def _run(args, env=None, **kw):
  return subprocess.Popen(args, env=dict(os.environ, **(env or {})), cwd=ROOT, text=True,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          start_new_session=True, **kw)


def one_process(workdir, data_dir, steps, devices=4):
  return _run(_pretrain_cmd(workdir, data_dir, steps), env=dict(
      XLA_FLAGS=f"--xla_force_host_platform_device_count={devices}", JAX_PLATFORMS="cpu"))


def two_processes(workdir, data_dir, steps, extra=()):
  """launch/local_multiprocess.sh: 2 processes x 2 CPU devices, a fresh coordinator port."""
  return _run(["bash", str(LAUNCH / "local_multiprocess.sh"), "2", "--",
               *_pretrain_cmd(workdir, data_dir, steps, extra)],
              env=dict(JAX_COORDINATOR_ADDRESS=f"localhost:{_free_port()}", CLP_LOCAL_DEVICES="2"))


def _finish(proc, timeout=600):
  try:
    out = proc.communicate(timeout=timeout)[0]
  except subprocess.TimeoutExpired:
    os.killpg(proc.pid, signal.SIGKILL)
    out = proc.communicate()[0]
    pytest.fail(f"timed out:\n{out[-5000:]}")
  assert proc.returncode == 0, out[-5000:]
  return out


def losses(workdir) -> dict:
  """step -> logged loss (the last value where a resumed run logged a step twice)."""
  return dict(train.loss_history(str(workdir)))


@pytest.fixture(scope="module")
def reference(tiny_data_dir, tmp_path_factory):
  """One process with 4 devices, STEPS steps: the trajectory every other layout must repeat."""
  workdir = tmp_path_factory.mktemp("one_process")
  _finish(one_process(workdir, tiny_data_dir, STEPS))
  got = losses(workdir)
  assert sorted(got) == list(range(1, STEPS + 1)), got
  return got


def _assert_same_trajectory(got, reference, steps):
  assert sorted(got) == sorted(steps), got
  # Same global batches and views; only the order of the cross-process sums differs, which moves
  # the parameters by float rounding and the loss a little more each step (measured: < 4e-5
  # relative after 4 steps); a wrong batch or view would move it by percents.
  np.testing.assert_allclose([got[s] for s in steps], [reference[s] for s in steps], rtol=2e-4)
  if 1 in steps:
    np.testing.assert_allclose(got[1], reference[1], rtol=1e-5)


@pytest.mark.slow
def test_two_processes_train_like_one(tiny_data_dir, tmp_path, reference):
  out = _finish(two_processes(tmp_path, tiny_data_dir, STEPS))
  _assert_same_trajectory(losses(tmp_path), reference, range(1, STEPS + 1))
  # Logs, progress bar and TensorBoard from process 0 only.
  assert out.count(f"pretrain: {STEPS} steps") == 1, out[-3000:]
  assert len(list((tmp_path / "tb").iterdir())) == 1


@pytest.mark.slow
def test_checkpoint_of_two_processes_resumes_in_one_and_the_reverse(tiny_data_dir, tmp_path,
                                                                    reference):
  two_then_one, one_then_two = tmp_path / "two_then_one", tmp_path / "one_then_two"
  _finish(two_processes(two_then_one, tiny_data_dir, 2))
  out = _finish(one_process(two_then_one, tiny_data_dir, STEPS))
  assert "Resumed from step 2 (written on 4 devices, 2 processes)" in out, out[-3000:]
  _finish(one_process(one_then_two, tiny_data_dir, 2))
  _finish(two_processes(one_then_two, tiny_data_dir, STEPS))
  for workdir in (two_then_one, one_then_two):
    _assert_same_trajectory(losses(workdir), reference, range(1, STEPS + 1))


@pytest.mark.slow
def test_killed_process_is_resumed_by_rerunning_the_launch_command(tiny_data_dir, tmp_path,
                                                                   reference):
  launcher = two_processes(tmp_path, tiny_data_dir, STEPS)
  os.kill(_process_one_after_first_checkpoint(launcher, tmp_path), signal.SIGKILL)
  out = launcher.communicate(timeout=300)[0]
  assert launcher.returncode != 0 and "stopping the others" in out, out[-3000:]
  assert not (tmp_path / "checkpoints" / str(STEPS)).exists()
  out = _finish(two_processes(tmp_path, tiny_data_dir, STEPS))
  assert "Resumed from step 2 " in out, out[-3000:]
  # Steps 3-4 were logged by the resumed run (what the killed run logged may not have reached the
  # event file: SIGKILL leaves no time to flush it).
  got = {s: v for s, v in losses(tmp_path).items() if s > 2}
  _assert_same_trajectory(got, reference, range(3, STEPS + 1))


def _process_one_after_first_checkpoint(launcher, workdir) -> int:
  """Waits for checkpoint 2 of a two-process run; returns process 1's pid (the launcher's child
  whose environment says JAX_PROCESS_ID=1)."""
  deadline = time.time() + 600
  while not (workdir / "checkpoints" / "2").exists():
    assert launcher.poll() is None and time.time() < deadline, launcher.stdout.read()[-3000:]
    time.sleep(0.05)
  pids = [pid for pid in _session_pids(launcher.pid)
          if _environ(pid).get("JAX_PROCESS_ID") == "1" and b"clp_jax.pretrain.cli" in _cmdline(pid)]
  assert len(pids) == 1, pids
  return pids[0]


def _session_pids(session: int) -> list:
  out = []
  for entry in pathlib.Path("/proc").iterdir():
    if entry.name.isdigit() and int(entry.name) != session:
      try:
        if os.getsid(int(entry.name)) == session:
          out.append(int(entry.name))
      except OSError:
        pass
  return out


def _cmdline(pid: int) -> bytes:
  try:
    return pathlib.Path(f"/proc/{pid}/cmdline").read_bytes()
  except OSError:
    return b""


def _environ(pid: int) -> dict:
  try:
    raw = pathlib.Path(f"/proc/{pid}/environ").read_bytes()
  except OSError:
    return {}
  return dict(item.split("=", 1) for item in raw.decode(errors="replace").split("\0") if "=" in item)


@pytest.mark.slow
def test_sigterm_to_one_process_saves_the_same_step_in_both_and_exits(tiny_data_dir, tmp_path):
  launcher = two_processes(tmp_path, tiny_data_dir, 1000)
  os.kill(_process_one_after_first_checkpoint(launcher, tmp_path), signal.SIGTERM)  # process 1 only: JAX's preemption service tells process 0
  out = _finish(launcher, timeout=300)
  saved = sorted(int(p.name) for p in (tmp_path / "checkpoints").iterdir() if p.name.isdigit())
  assert 2 < saved[-1] < 1000, saved
  assert out.count(f"SIGTERM: saved step {saved[-1]}") == 2, out[-3000:]


@pytest.mark.slow
def test_processes_that_disagree_stop_with_the_setting_named(tiny_data_dir, tmp_path):
  # Process 1 alone gets another seed, as a mistyped command on one host would.
  wrapper = tmp_path / "seed_on_one.sh"
  wrapper.write_text('#!/usr/bin/env bash\nif [[ $JAX_PROCESS_ID == 1 ]]; then exec "$@" '
                     '--config.seed=7; else exec "$@"; fi\n')
  proc = _run(["bash", str(LAUNCH / "local_multiprocess.sh"), "2", "--", "bash", str(wrapper),
               *_pretrain_cmd(tmp_path / "run", tiny_data_dir, 2)],
              env=dict(JAX_COORDINATOR_ADDRESS=f"localhost:{_free_port()}"))
  out = proc.communicate(timeout=600)[0]
  assert proc.returncode != 0
  assert "config.seed: here 7, process 0 0" in out, out[-3000:]
  assert not (tmp_path / "run" / "checkpoints" / "2").exists()


def test_local_launcher_dry_run_and_usage():
  out = subprocess.run(["bash", str(LAUNCH / "local_multiprocess.sh"), "--dry_run", "3", "--",
                        "clp-pretrain", "--config", "configs/default.py", "--workdir", "w"],
                       capture_output=True, text=True, check=True,
                       env=dict(os.environ, JAX_COORDINATOR_ADDRESS="localhost:999")).stdout
  lines = out.splitlines()
  assert len(lines) == 3
  for i, line in enumerate(lines):
    assert f"JAX_PROCESS_ID={i} " in line and "JAX_NUM_PROCESSES=3" in line
    assert "JAX_COORDINATOR_ADDRESS=localhost:999" in line
    assert line.endswith("clp-pretrain --config configs/default.py --workdir w --config.distributed=True")
  bad = subprocess.run(["bash", str(LAUNCH / "local_multiprocess.sh"), "two"], capture_output=True,
                       text=True)
  assert bad.returncode == 2 and "Usage:" in bad.stderr


@pytest.mark.parametrize("accelerator,devices", [
    ("v4-32", 16), ("v5p-128", 64), ("v5litepod-16", 16), ("v6e-64", 64), ("v3-32", 32),
    ("v2-8", 8)])
def test_tpu_vm_dry_run_derives_devices_from_the_accelerator_type(accelerator, devices):
  res = subprocess.run(["bash", str(LAUNCH / "tpu_vm.sh"), "--dry_run", "--accelerator",
                        accelerator, "my-tpu", "us-central2-b", "gs://b/run", "--config.seed=3"],
                       capture_output=True, text=True, check=True)
  lines = res.stdout.splitlines()
  assert f"{accelerator} -> {devices} JAX devices" in res.stderr
  assert all(line.startswith("gcloud compute tpus tpu-vm ") for line in lines), lines
  assert all("--worker=all" in line for line in lines)
  assert "scp" in lines[1] and "pip install" in lines[2].replace("\\ ", " ")
  run = lines[-1].replace("\\ ", " ")
  assert f"voxceleb_pretrain.py:devices={devices} --workdir gs://b/run --config.distributed=True " \
         f"--config.seed=3" in run


def test_tpu_vm_refuses_an_unknown_accelerator_type():
  res = subprocess.run(["bash", str(LAUNCH / "tpu_vm.sh"), "--dry_run", "--accelerator", "v9x",
                        "t", "z", "w"], capture_output=True, text=True)
  assert res.returncode == 2 and "cannot read a device count" in res.stderr


def test_slurm_dry_run_takes_the_layout_from_slurm():
  env = dict(os.environ, SLURM_NNODES="4", SLURM_GPUS_PER_NODE="h100:8",
             SLURM_JOB_NODELIST="gpu[01-04]", CLP_COORDINATOR_HOST="gpu01", CLP_DRY_RUN="1")
  out = subprocess.run(["bash", str(LAUNCH / "slurm_gpu.sbatch"), "/shared/run", "--config.seed=1"],
                       capture_output=True, text=True, check=True, env=env).stdout.splitlines()
  assert out[0].startswith("srun --kill-on-bad-exit=1 ")
  assert "voxceleb_pretrain.py:devices=32 --workdir /shared/run --config.distributed=True " \
         "--config.seed=1" in out[0]
  assert out[1:] == [f"process {i}: JAX_COORDINATOR_ADDRESS=gpu01:12355 JAX_NUM_PROCESSES=4 "
                     f"JAX_PROCESS_ID={i}" for i in range(4)]
  outside = subprocess.run(["bash", str(LAUNCH / "slurm_gpu.sbatch"), "/shared/run"],
                           capture_output=True, text=True,
                           env={k: v for k, v in os.environ.items() if not k.startswith("SLURM")})
  assert outside.returncode != 0 and "not inside a SLURM allocation" in outside.stderr
