"""XLA compile time of the CLP init and train step, per encoder depth and threefry mode.

  python benchmarks/compile_time.py                      # configs/default.py:runlocal (32 px)
  python benchmarks/compile_time.py --config default --depths 18

On XLA:CPU most of a short run's time (and of the test suite's) is compiling. Each row lowers
and compiles `ShardedStep.init` and `ShardedStep.step` afresh (no persistent cache) on one
device and prints the seconds each took; `--threefry partitionable` draws the initial weights
with jax's partitionable threefry instead of the classic bits `models/initialise.py` chooses.
Each run is its own process, so that nothing compiled earlier is reused; the settings alternate
within each round, since this machine's speed drifts by tens of percent over minutes.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time


def measure(config_arg: str, depth: int, threefry: str) -> dict:
  """Compile times of init and step for one setting, in this process."""
  os.environ.pop("JAX_COMPILATION_CACHE_DIR", None)
  import jax  # pylint: disable=g-import-not-at-top
  from clp_jax import config_files  # pylint: disable=g-import-not-at-top
  from clp_jax import sharding  # pylint: disable=g-import-not-at-top
  from clp_jax.pretrain import step as step_lib  # pylint: disable=g-import-not-at-top
  from clp_jax.models import initialise  # pylint: disable=g-import-not-at-top
  import train_step  # pylint: disable=g-import-not-at-top  (beside this script)

  name, _, arg = config_arg.partition(":")
  config = config_files.load(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..",
                                          "configs", f"{name}.py"), arg)
  config.model.depth = depth
  if threefry == "partitionable":  # jax's default, which initialise overrides
    initialise.init_variables = lambda module, rng, *a, **kw: module.init(rng, *a, **kw)
  mesh = sharding.make_mesh(1)
  clp = step_lib.sharded_step(config, mesh)
  rng = jax.random.key(0)
  t = time.perf_counter()
  init = clp.init.lower(rng).compile()
  init_s = time.perf_counter() - t
  state = init(rng)
  batch = train_step.random_batch(config.global_batch_size, 8, config.image_size + 16)
  t = time.perf_counter()
  clp.step.lower(state, sharding.global_batch(batch, mesh)).compile()
  return {"init_s": init_s, "step_s": time.perf_counter() - t}


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--config", default="default:runlocal")
  parser.add_argument("--depths", default="10,18")
  parser.add_argument("--threefry", default="classic,partitionable")
  parser.add_argument("--repeats", type=int, default=3)
  parser.add_argument("--one", help=argparse.SUPPRESS)  # internal: config,depth,threefry
  args = parser.parse_args()
  if args.one:
    config_arg, depth, threefry = args.one.split(",")
    print(json.dumps(measure(config_arg, int(depth), threefry)))
    return
  print(f"config {args.config}, one device, fresh process per run, {os.cpu_count()} CPU cores, "
        f"{args.repeats} rounds (settings alternated within a round); min / median seconds")
  settings = [(d, t) for d in args.depths.split(",") for t in args.threefry.split(",")]
  runs = {s: [] for s in settings}
  for _ in range(args.repeats):  # alternate, so that a noisy minute hits every setting alike
    for depth, threefry in settings:
      one = f"{args.config},{depth},{threefry}"
      out = subprocess.run([sys.executable, __file__, "--one", one], check=True,
                           capture_output=True, text=True).stdout
      runs[(depth, threefry)].append(json.loads(out.strip().splitlines()[-1]))
  print("| encoder | initial weights | init compile (s) | train step compile (s) |")
  print("|---|---|---|---|")
  for (depth, threefry), rs in runs.items():
    cell = lambda k: f"{min(r[k] for r in rs):.1f} / {statistics.median(r[k] for r in rs):.1f}"
    print(f"| ResNet-{depth} | {threefry} threefry | {cell('init_s')} | {cell('step_s')} |")

if __name__ == "__main__":
  main()
