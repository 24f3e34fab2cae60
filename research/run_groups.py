"""`--groups name=run,run,...`: the benchmarks' way of naming groups of runs averaged together."""

import argparse


def parse(text: str) -> tuple:
  """'name=run,run' -> ('name', ['run', 'run']); an argparse `type`, so a bad value is a usage error."""
  name, _, runs = text.partition("=")
  if not name or not runs:
    raise argparse.ArgumentTypeError(f"--groups must be name=run,run,..., got {text!r}")
  return name, runs.split(",")
