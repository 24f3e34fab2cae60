"""A run's scalars: TensorBoard for people, JSON lines for programs.

    log = RunLog(workdir)              # process 0 only
    log.scalars(step, {"train/loss": 1.2, ...})
    history(workdir, "train/loss")  -> [(step, value), ...]

`workdir/tb/` holds TensorBoard events; `workdir/metrics.jsonl` one JSON object per logged step,
`{"step": 10, "train/loss": 1.2, ...}`, flushed as written, so a killed run keeps what it logged.
A resumed run appends; where a step was logged twice, the later value counts.
"""

import json
import os

import tensorboardX

FILENAME = "metrics.jsonl"


class RunLog:
  """Writes scalars to TensorBoard and to metrics.jsonl in workdir."""

  def __init__(self, workdir: str):
    self.tb = tensorboardX.SummaryWriter(os.path.join(workdir, "tb"))
    self.jsonl = open(os.path.join(workdir, FILENAME), "a", encoding="utf-8")

  def scalars(self, step: int, values: dict) -> None:
    for k, v in values.items():
      self.tb.add_scalar(k, v, step)
    self.jsonl.write(json.dumps({"step": int(step), **{k: float(v) for k, v in values.items()}})
                     + "\n")
    self.jsonl.flush()

  def close(self) -> None:
    self.tb.close()
    self.jsonl.close()


def history(workdir: str, tag: str = "train/loss") -> list:
  """[(step, value)] of one scalar, sorted by step; [] if the run logged none."""
  path = os.path.join(workdir, FILENAME)
  out = {}
  if not os.path.exists(path):
    return []
  with open(path, encoding="utf-8") as f:
    for line_no, line in enumerate(f, start=1):
      if not line.strip():
        continue
      try:
        row = json.loads(line)
      except json.JSONDecodeError:
        # Only a run killed mid-write leaves a broken line, and only as its last line.
        continue
      if tag in row:
        out[int(row["step"])] = float(row[tag])
  return sorted(out.items())
