"""The command-line tools as a user runs them (absl flags, positional arguments, exit codes):
clp-data and clp-export here; clp-pretrain in test_train/test_configs, clp-detect in test_detect."""

import json
import os
import pathlib
import subprocess
import sys

import pytest

from tests.test_evaluate import ON_PRETRAINED_WORKER
from tests.test_evaluate import pretrained  # pylint: disable=unused-import

ROOT = pathlib.Path(__file__).resolve().parents[1]


def _run(module, *args):
  return subprocess.run([sys.executable, "-m", module, *map(str, args)], capture_output=True,
                        text=True, timeout=600, check=False,
                        env=dict(os.environ, PYTHONPATH=str(ROOT)))


def test_clp_data_stats_counts_the_corpus(tiny_data_dir):
  done = _run("clp_jax.data.cli", "stats", "synthetic_au", "--config=tiny_labelled",
              f"--data_dir={tiny_data_dir}", "--split=part1")
  assert done.returncode == 0, done.stderr[-2000:]
  assert "synthetic_au/tiny_labelled split part1:" in done.stdout
  assert "| AU12 |" in done.stdout


def test_clp_data_names_what_is_wrong(tmp_path):
  done = _run("clp_jax.data.cli", "stats", "nosuchcorpus", "--config=labelled")
  assert done.returncode == 1 and "CORPUS one of" in done.stderr and "nosuchcorpus" in done.stderr
  done = _run("clp_jax.data.cli", "stats", "synthetic_au", f"--data_dir={tmp_path}")
  assert done.returncode == 1 and "--config" in done.stderr  # a required flag
  done = _run("clp_jax.data.cli", "stats", "synthetic_au", "--config=labelled",
              f"--data_dir={tmp_path}")
  assert done.returncode == 2 and "clp-data build synthetic_au --config labelled" in done.stderr


@pytest.mark.slow
@ON_PRETRAINED_WORKER
def test_clp_export_writes_an_export_and_names_a_missing_run(pretrained, tmp_path):  # pylint: disable=redefined-outer-name
  state, workdir, _ = pretrained
  out = tmp_path / "export"
  done = _run("clp_jax.export.cli", f"--workdir={workdir}", f"--out={out}")
  assert done.returncode == 0, done.stderr[-2000:]
  info = json.loads((out / "encoder.json").read_text())
  assert info["source_step"] == int(state.step) and (out / "encoder.safetensors").exists()
  assert f"Exported {info['architecture']} (step {info['source_step']}" in done.stdout
  done = _run("clp_jax.export.cli", f"--workdir={tmp_path / 'none'}", f"--out={tmp_path / 'o'}")
  assert done.returncode == 2 and str(tmp_path / "none") in done.stderr


@pytest.mark.parametrize("command,flag", [("clp-data", "--manual_dir"), ("clp-export", "--workdir"),
                                          ("clp-detect", "--detect_every")])
def test_helpshort_of_the_installed_command_shows_its_flags_and_usage(command, flag):
  """The console script is not the module that defines the flags: --helpshort must still list
  them (clp_jax.command names them for the script) under the command's docstring."""
  script = os.path.join(os.path.dirname(sys.executable), command)
  # make test installs the package (pip install -e ".[test]"), console scripts included: a missing
  # one is a broken entry point in setup.py, not a reason to skip.
  assert os.path.exists(script), f"{command} is not installed beside {sys.executable}"
  done = subprocess.run([script, "--helpshort"], capture_output=True, text=True, timeout=300,
                        check=False)
  assert done.stdout.startswith(f"{command}:"), done.stdout[:300] + done.stderr[-2000:]
  assert flag in done.stdout, done.stdout[-2000:]
