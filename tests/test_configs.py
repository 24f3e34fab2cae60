"""Config files and their checks: every shipped config validates, ablations are deltas on the
default, and a bad or incomplete config is named setting by setting before anything runs."""

import glob
import os
import pathlib
import subprocess
import sys

import pytest

from clp_jax import config_files
from clp_jax.eval import config as eval_config
from clp_jax.pretrain import config as pretrain_config

ROOT = pathlib.Path(__file__).resolve().parents[1]
ABLATIONS = str(ROOT / "configs" / "ablations.py")


def _flat(config, prefix=""):
  out = {}
  for key, value in config.items():
    if hasattr(value, "items"):
      out.update(_flat(value, f"{prefix}{key}."))
    else:
      out[f"{prefix}{key}"] = value
  return out


@pytest.mark.parametrize("arg", ["", "long", "runlocal"])
def test_default_configs_validate(arg):
  pretrain_config.validate(config_files.load(str(ROOT / "configs" / "default.py"), arg))


def test_voxceleb_config_validates():
  pretrain_config.validate(config_files.load(str(ROOT / "configs" / "voxceleb_pretrain.py")))


@pytest.mark.parametrize("path", sorted(glob.glob(str(ROOT / "configs" / "eval" / "*.py"))))
@pytest.mark.parametrize("arg", ["", "demo", "finetune", "finetune_long", "tiny"])
def test_eval_configs_validate(path, arg):
  eval_config.validate(config_files.load(path, arg))


def test_every_ablation_is_the_default_with_exactly_its_settings_changed():
  variants = config_files.module(ABLATIONS).VARIANTS
  assert "clp" in variants and "no_cir" in variants
  for budget in ("", "long", "runlocal"):
    default = _flat(config_files.load(str(ROOT / "configs" / "default.py"), budget))
    for name, (description, delta) in variants.items():
      assert description
      config = config_files.load(ABLATIONS, f"{name},{budget}" if budget else name)
      pretrain_config.validate(config)
      flat = _flat(config)
      assert set(flat) == set(default), name
      changed = {k for k in flat if flat[k] != default[k]}
      assert changed == set(delta), (name, changed)
      assert all(flat[k] == v for k, v in delta.items()), name


def test_an_unknown_ablation_lists_the_known_ones():
  with pytest.raises(ValueError, match=r"Unknown ablation 'no_such'.*no_cir"):
    config_files.load(ABLATIONS, "no_such")


def test_an_ablation_of_a_setting_the_default_lacks_is_refused(tmp_path):
  # A copy of the two files whose variant names a setting configs/default.py does not have
  # (a renamed setting would otherwise be silently added and never read).
  (tmp_path / "default.py").write_text((ROOT / "configs" / "default.py").read_text())
  text = pathlib.Path(ABLATIONS).read_text().replace('{"loss.cir": 4.0}', '{"loss.cir_weight": 4.0}')
  (tmp_path / "ablations.py").write_text(text)
  with pytest.raises(ValueError, match=r"clp_cir4 changes config.loss.cir_weight, which "
                     r"configs/default.py does not have"):
    config_files.load(str(tmp_path / "ablations.py"), "clp_cir4")


def test_pretrain_validate_names_every_problem():
  config = config_files.load(str(ROOT / "configs" / "default.py"))
  config.loss.cir_loss = "l1"
  config.optimizer.lr = 0.0
  del config.model["input_norm"]
  with pytest.raises(ValueError) as e:
    pretrain_config.validate(config)
  text = str(e.value)
  assert "config.loss.cir_loss must be one of ['mse', 'infonce'], got 'l1'" in text
  assert "config.optimizer.lr must be > 0, got 0.0" in text
  assert "config.model.input_norm is missing" in text
  assert text.count("\n") == 3  # one line each, nothing else flagged


def test_eval_validate_names_every_problem():
  config = config_files.load(str(ROOT / "configs" / "eval" / "synthetic_au.py"))
  config.baselines = ("random_init", "oracle")
  config.supervised.augment.crop_scale = (1.0, 0.5)
  with pytest.raises(ValueError) as e:
    eval_config.validate(config)
  text = str(e.value)
  assert "config.baselines must be a tuple of some of" in text and "'oracle'" in text
  assert "config.supervised.augment.crop_scale must be a (low, high) pair" in text
  config = config_files.load(str(ROOT / "configs" / "eval" / "synthetic_au.py"), "finetune")
  config.save_heads = True
  with pytest.raises(ValueError, match="config.save_heads needs config.protocol 'linear'"):
    eval_config.validate(config)


def test_clp_pretrain_rejects_a_bad_setting_before_opening_the_corpus(tmp_path):
  """Through absl's --config flag with an ablation and a budget: the file loads, the override
  applies, and validation names the setting (the corpus path does not exist: not reached)."""
  env = dict(os.environ, PYTHONPATH=str(ROOT))
  out = subprocess.run(
      [sys.executable, "-m", "clp_jax.pretrain.cli", f"--config={ABLATIONS}:no_cir,runlocal",
       f"--workdir={tmp_path / 'run'}", "--config.loss.temperature=-1.0",
       f"--config.data.data_dir={tmp_path / 'absent'}"],
      capture_output=True, text=True, env=env, timeout=300, check=False)
  assert out.returncode == 2, out.stderr[-2000:]
  assert "config.loss.temperature must be > 0, got -1.0" in out.stderr
  assert "absent" not in out.stderr  # the corpus was never opened
