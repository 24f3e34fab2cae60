"""Checking an ml_collections config against a schema: each setting's dotted name and what it must be.

A schema maps 'loss.cir' to a check that returns None when a value is fine, else what it must be
("one of ['mse', 'infonce']", ">= 0", ...). `problems` gives one sentence per missing or wrong
setting, so a config is checked whole, once, before anything runs.
"""

import numbers


def one_of(*allowed):
  def check(v):
    return None if v in allowed else f"one of {list(allowed)}"
  return check


def number(low=None, high=None, integer=False, low_open=False):
  def check(v):
    kind = numbers.Integral if integer else numbers.Real
    if isinstance(v, bool) or not isinstance(v, kind):
      return "an integer" if integer else "a number"
    if low is not None and (v <= low if low_open else v < low):
      return f"{'>' if low_open else '>='} {low}"
    if high is not None and v > high:
      return f"<= {high}"
    return None
  return check


def flag(v):
  return None if isinstance(v, bool) else "True or False"


def text(v):
  return None if isinstance(v, str) and v else "a non-empty string"


def pair(v):
  ok = isinstance(v, (tuple, list)) and len(v) == 2 and all(isinstance(x, numbers.Real) for x in v)
  return None if ok and v[0] <= v[1] else "a (low, high) pair with low <= high"


def optional_count(v):
  return None if v is None else number(1, integer=True)(v)


def problems(config, schema: dict) -> list:
  """Every setting of schema that is missing from config or wrong, as 'config.<name> ...'."""
  found = []
  for name, check in schema.items():
    value = _lookup(config, name)
    if value is _MISSING:
      found.append(f"config.{name} is missing")
      continue
    wanted = check(value)
    if wanted:
      found.append(f"config.{name} must be {wanted}, got {value!r}")
  return found


_MISSING = object()


def _lookup(config, dotted):
  node = config
  for part in dotted.split("."):
    try:
      node = node[part]
    except (KeyError, TypeError, AttributeError):
      return _MISSING
  return node


def check(found: list, what: str) -> None:
  """Raises ValueError listing found (`problems`' sentences) under 'The <what> is not valid'."""
  if found:
    raise ValueError(f"The {what} is not valid:\n  " + "\n  ".join(found))
