"""Per-frame AU predictions of an evaluation, as CSV files AU tools read (one per encoder).

Every labelled frame is predicted by the fold that tests it (out-of-fold), so a file covers the
whole corpus and no frame is predicted by a probe or network that trained on its subject. Columns,
in this order:

    subject, video_id, frame_index, fold,
    AU01_p, AU02_p, ...        probability of the AU being present (4 decimals)
    AU01_c, AU02_c, ...        the decision scored in report.json: 1 where the probability > 0.5
    AU01_label, ...            the corpus's label as stored (1 present, 0 absent, else unknown)

AU columns are named as OpenFace names its own (`AU01_c` occurrence); `frame_index` is the frame's
0-based place in its video (OpenFace's `frame` is 1-based). F1 recomputed from `_c` and `_label`
over a fold's rows is report.json's per-fold F1.
"""

import csv
import os
import re

import numpy as np

META = ("subject", "video_id", "frame_index", "fold")
KINDS = ("p", "c", "label")


def au_columns(aus) -> dict:
  """{kind: [column names]} for FACS numbers aus, e.g. AU1 -> AU01_p, AU01_c, AU01_label."""
  return {k: [f"AU{int(a):02d}_{k}" for a in aus] for k in KINDS}


def file_name(encoder: str) -> str:
  """The encoder's display name as a file name: characters other than letters, digits, '.', '-'
  and '_' become '_'."""
  return re.sub(r"[^A-Za-z0-9_.-]", "_", encoder) + ".csv"


def write(path: str, data, logits: np.ndarray) -> None:
  """Writes the out-of-fold logits [N, A] of data's N frames (an `evaluate.LabelledSet`) to path (atomically: a temporary
  file renamed, so an interrupted run leaves the previous file or none)."""
  logits = np.asarray(logits, np.float64)
  if logits.shape != data.labels.shape:
    raise ValueError(f"logits {logits.shape} do not match the labels {data.labels.shape}")
  if np.isnan(logits).any():
    raise ValueError(f"{int(np.isnan(logits).any(1).sum())} frames have no out-of-fold prediction")
  n = len(logits)
  videos = data.videos if data.videos is not None else np.full(n, "")
  frames = data.frame_index if data.frame_index is not None else np.full(n, -1)
  prob = 0.5 * (1.0 + np.tanh(0.5 * logits))  # the sigmoid, without exp's overflow
  present = (logits > 0).astype(int)  # the threshold report.json's F1 uses, not rounded prob
  cols = au_columns(data.aus)
  os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
  tmp = path + ".tmp"
  with open(tmp, "w", newline="") as f:
    out = csv.writer(f)
    out.writerow(list(META) + cols["p"] + cols["c"] + cols["label"])
    for i in range(n):
      out.writerow([str(data.subjects[i]), str(videos[i]), int(frames[i]), int(data.parts[i])]
                   + [f"{v:.4f}" for v in prob[i]] + present[i].tolist()
                   + data.labels[i].astype(int).tolist())
  os.replace(tmp, path)


def read(path: str) -> dict:
  """A predictions file -> {"aus": [FACS numbers], "subject", "video_id": [N] str,
  "frame_index", "fold": [N] int, "p": [N, A] float, "c", "label": [N, A] int}."""
  with open(path, newline="") as f:
    rows = list(csv.reader(f))
  if not rows:
    raise ValueError(f"{path}: empty file, expected a header starting {', '.join(META)}")
  header = rows[0]
  if tuple(header[:len(META)]) != META:
    raise ValueError(f"{path}, line 1: expected the columns to start {', '.join(META)}, "
                     f"got {', '.join(header[:len(META)])}")
  au_names = [h[2:-2] for h in header[len(META):] if re.fullmatch(r"AU\d+_p", h)]
  aus = [int(a) for a in au_names]
  cols = au_columns(aus)
  want = list(META) + cols["p"] + cols["c"] + cols["label"]
  if header != want:
    raise ValueError(f"{path}, line 1: expected the columns {', '.join(want)}, got "
                     f"{', '.join(header)}")
  body = rows[1:]
  for line, r in enumerate(body, start=2):
    if len(r) != len(header):
      raise ValueError(f"{path}, line {line}: {len(r)} fields, expected {len(header)}")
  table = np.array(body, dtype=object).reshape(len(body), len(header))
  a, m = len(aus), len(META)
  try:
    return {"aus": aus, "subject": table[:, 0].astype(str), "video_id": table[:, 1].astype(str),
            "frame_index": table[:, 2].astype(int), "fold": table[:, 3].astype(int),
            "p": table[:, m:m + a].astype(float), "c": table[:, m + a:m + 2 * a].astype(int),
            "label": table[:, m + 2 * a:].astype(int)}
  except ValueError as e:
    raise ValueError(f"{path}: a value is not a number where one is expected: {e}") from e
