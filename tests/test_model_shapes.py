"""Shapes of the CLP model and the run log, and import hygiene (no side effects at import)."""

import json
import os
import subprocess
import sys

import jax
import numpy as np
import pytest

from clp_jax import run_log
from clp_jax.models import clp as clp_model
from clp_jax.models import initialise


@pytest.mark.parametrize("depth,person_encoder,features", [(18, "shared", 512), (10, "cnn", 512),
                                                           (50, "shared", 2048)])
def test_clp_model_output_shapes(depth, person_encoder, features):
  model = clp_model.CLPModel(depth=depth, au_dim=24, person_dim=20, proj_dim=16, hidden=64,
                             decoder_size=32, person_encoder=person_encoder)
  x = jax.ShapeDtypeStruct((5, 96, 96, 3), np.float32)
  variables = jax.eval_shape(lambda x: initialise.init_variables(
      model, jax.random.key(0), x, method=model.init_all), x)
  out, image = jax.eval_shape(lambda v, x: model.apply(v, x, method=model.init_all), variables, x)
  assert out["features"].shape == (5, features)
  assert out["au"].shape == (5, 24) and out["proj"].shape == (5, 16)
  assert out["person"].shape == (5, 20)
  assert image.shape == (5, 32, 32, 3)
  assert set(variables) == {"params", "batch_stats"}


def test_importing_clp_jax_changes_no_environment():
  code = ("import os; before = os.environ.get('XLA_FLAGS'); import clp_jax, clp_jax.pretrain.train, "
          "clp_jax.eval.cli; assert os.environ.get('XLA_FLAGS') == before, os.environ['XLA_FLAGS']")
  env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}
  subprocess.run([sys.executable, "-c", code], check=True, env=dict(env, JAX_PLATFORMS="cpu"),
                 cwd=os.path.join(os.path.dirname(__file__), ".."))


def test_run_log_keeps_the_last_value_of_a_step_and_skips_a_torn_last_line(tmp_path):
  log = run_log.RunLog(str(tmp_path))
  log.scalars(1, {"train/loss": 2.0})
  log.scalars(2, {"train/loss": 1.5, "heldout/loss": 3.0})
  log.close()
  log = run_log.RunLog(str(tmp_path))  # a resumed run logs step 2 again
  log.scalars(2, {"train/loss": 1.25})
  log.close()
  with open(tmp_path / run_log.FILENAME, "a") as f:
    f.write('{"step": 3, "train/lo')  # killed mid-write
  assert run_log.history(str(tmp_path)) == [(1, 2.0), (2, 1.25)]
  assert run_log.history(str(tmp_path), "heldout/loss") == [(2, 3.0)]
  assert run_log.history(str(tmp_path / "none")) == []
  lines = (tmp_path / run_log.FILENAME).read_text().splitlines()
  assert json.loads(lines[0]) == {"step": 1, "train/loss": 2.0}
  assert list((tmp_path / "tb").iterdir())  # TensorBoard events beside it
