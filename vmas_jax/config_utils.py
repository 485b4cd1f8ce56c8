"""Loading `ml_collections` config files and applying `--config.FIELD=VALUE` overrides."""

from __future__ import annotations

import ast
import importlib.util
from pathlib import Path

import ml_collections


def load_config(spec: str, overrides: list[str] | tuple[str, ...] = ()) -> ml_collections.ConfigDict:
  """`spec` is `path/to/config.py` or `path/to/config.py:arg` (passed to `get_config(arg)`)."""
  path, _, arg = str(spec).partition(":")
  file = Path(path)
  if not file.is_file():
    raise FileNotFoundError(f"{file}: config file not found")
  module_spec = importlib.util.spec_from_file_location(f"_vmas_config_{file.stem}", file)
  module = importlib.util.module_from_spec(module_spec)
  module_spec.loader.exec_module(module)
  if not hasattr(module, "get_config"):
    raise ValueError(f"{file}: defines no get_config()")
  config = module.get_config(arg) if arg else module.get_config()
  apply_overrides(config, overrides)
  return config


def _parse_value(text: str, current):
  if isinstance(current, str):
    return text
  try:
    value = ast.literal_eval(text)
  except (ValueError, SyntaxError):
    value = text
  if isinstance(current, bool) and isinstance(text, str) and text.lower() in ("true", "false"):
    return text.lower() == "true"
  if isinstance(current, float) and isinstance(value, int):
    return float(value)
  if isinstance(current, tuple) and isinstance(value, list):
    return tuple(value)
  return value


def apply_overrides(config: ml_collections.ConfigDict, overrides) -> ml_collections.ConfigDict:
  """Apply `--config.a.b=value` strings (or `a.b=value`) in order."""
  for item in overrides:
    key, sep, text = item.removeprefix("--config.").partition("=")
    if not sep:
      raise ValueError(f"override {item!r}: expected --config.FIELD=VALUE")
    *parents, leaf = key.split(".")
    node = config
    for p in parents:
      if p not in node:
        raise KeyError(f"override {item!r}: config has no field {key!r}")
      node = node[p]
    if leaf not in node:
      raise KeyError(f"override {item!r}: config has no field {key!r}")
    with node.ignore_type():
      node[leaf] = _parse_value(text, node[leaf])
  return config
