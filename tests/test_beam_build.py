"""The corpus builders as Apache Beam pipelines (DirectRunner, two worker processes): the same
records and counts as a build run here, Beam options from clp-data, and a failed Beam build that
never looks prepared."""

import os
import shutil

import numpy as np
import pytest
import tensorflow_datasets as tfds

from clp_jax.data import cli
from clp_jax.data import sources
from data_builders import corpus_builder

beam = pytest.importorskip("apache_beam", reason="apache-beam is not installed (extra 'beam')")

ROOT = os.path.join(os.path.dirname(__file__), "..")
DUMMY = {name: os.path.join(ROOT, "data_builders", name, "dummy_data")
         for name in ("bp4d", "disfa", "video_folder")}
CONFIG = {"bp4d": "labelled", "disfa": "labelled", "video_folder": "default"}
TWO_PROCESSES = "direct_num_workers=2,direct_running_mode=multi_processing"


def _build(name, manual_dir, data_dir, beam_options=None):
  builder = sources.get_builder(name, CONFIG[name], str(data_dir))
  kwargs = dict(manual_dir=str(manual_dir))
  if beam_options is not None:
    kwargs["beam_options"] = cli.beam_options(beam_options)
  builder.download_and_prepare(download_config=tfds.download.DownloadConfig(**kwargs))
  return builder


def _records(builder) -> dict:
  """Every record of every split, by (split, video, first frame index)."""
  out = {}
  for split in builder.info.splits:
    source = builder.as_data_source(split=split)
    for i in range(len(source)):
      r = source[i]
      first = int(np.asarray(r["frame_index"]).reshape(-1)[0])
      key = (split, r["video_id"].decode() if isinstance(r["video_id"], bytes) else r["video_id"],
             first)
      assert key not in out, f"two records for {key}"
      out[key] = r
  return out


@pytest.mark.parametrize("name", ["bp4d", "disfa", "video_folder"])
def test_a_beam_build_writes_the_records_and_counts_a_local_build_does(tmp_path, name,
                                                                      monkeypatch):
  monkeypatch.setenv("CLP_BUILD_WORKERS", "1")
  local = _build(name, DUMMY[name], tmp_path / "local")

  def not_here(*args):
    raise AssertionError("a Beam build ran its jobs in this process's worker pool")

  monkeypatch.setattr(corpus_builder, "parallel_map", not_here)
  beamed = _build(name, DUMMY[name], tmp_path / "beam", TWO_PROCESSES)
  assert beamed.is_prepared()
  assert beamed.info.metadata["build_summary"] == local.info.metadata["build_summary"]
  assert {s: v.num_examples for s, v in beamed.info.splits.items()} == \
         {s: v.num_examples for s, v in local.info.splits.items()}
  a, b = _records(local), _records(beamed)
  assert a and set(a) == set(b)
  for key in a:
    for field in a[key]:
      va, vb = np.asarray(a[key][field]), np.asarray(b[key][field])
      assert va.shape == vb.shape and (va == vb).all(), (key, field)


def test_a_failed_beam_build_is_not_prepared_and_names_the_bad_row(tmp_path):
  manual = tmp_path / "BP4D"
  shutil.copytree(DUMMY["bp4d"], manual)
  with open(manual / "AUCoding" / "AU_OCC" / "F007_T1.csv", "a") as f:
    f.write("16,0,1\n")
  with pytest.raises(Exception, match=r"F007_T1.csv:8: 3 values, the header has 100"):
    _build("bp4d", manual, tmp_path / "data", TWO_PROCESSES)
  assert not sources.get_builder("bp4d", "labelled", str(tmp_path / "data")).is_prepared()


def test_beam_options_from_the_command_line(tmp_path, capsys):
  options = cli.beam_options("direct_num_workers=3, direct_running_mode=multi_processing")
  assert options.get_all_options()["direct_num_workers"] == 3
  assert options.get_all_options()["direct_running_mode"] == "multi_processing"
  with pytest.raises(ValueError, match=r"'direct_num_workers' is not of the form name=value"):
    cli.beam_options("direct_num_workers")
  cli.build("disfa", "labelled", str(tmp_path / "d"), manual_dir=DUMMY["disfa"],
            beam_pipeline_options="")
  out = capsys.readouterr().out
  assert "Built " in out and "part1: labelled" in out


def test_the_beam_workers_requirements_match_the_faces_extra():
  import ast  # pylint: disable=g-import-not-at-top
  tree = ast.parse(open(os.path.join(ROOT, "setup.py")).read())
  faces = next(ast.literal_eval(node.value) for node in tree.body if isinstance(node, ast.Assign)
               and getattr(node.targets[0], "id", "") == "FACES")
  with open(os.path.join(ROOT, "launch", "beam_requirements.txt")) as f:
    listed = [line.strip() for line in f if line.strip() and not line.startswith("#")]
  assert listed == faces
