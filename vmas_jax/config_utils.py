"""Loading `ml_collections` config files and applying `--config.FIELD=VALUE` overrides."""

from __future__ import annotations

import ast
import importlib.util
from pathlib import Path

import ml_collections


PACKAGED = Path(__file__).resolve().parent / "configs"  # the named configs (`vmas_jax.configs`)


def config_file(name: str) -> Path:
  """The file a config name or path stands for.

  `tiny` (no directory, no `.py`) names `vmas_jax/configs/tiny.py`; a path to an existing
  file is that file; `configs/tiny.py` where no such file exists (the layout before the
  configs moved into the package) also names the packaged one.
  """
  file = Path(name)
  if file.is_file():
    return file
  packaged = PACKAGED / f"{file.stem}.py"
  short = file.suffix == "" and file.parent == Path(".")
  if (short or file.parent.name == "configs") and packaged.is_file():
    return packaged
  known = ", ".join(sorted(p.stem for p in PACKAGED.glob("[!_]*.py")))
  raise FileNotFoundError(f"{file}: config file not found (named configs: {known})")


def load_config(spec: str, overrides: list[str] | tuple[str, ...] = ()) -> ml_collections.ConfigDict:
  """`spec` is a named config (`tiny`, `tiny:arg`) or `path/to/config.py[:arg]`; `arg` is
  passed to the file's `get_config(arg)`."""
  name, _, arg = str(spec).partition(":")
  file = config_file(name)
  module_spec = importlib.util.spec_from_file_location(f"_vmas_config_{file.stem}", file)
  module = importlib.util.module_from_spec(module_spec)
  module_spec.loader.exec_module(module)
  if not hasattr(module, "get_config"):
    raise ValueError(f"{file}: defines no get_config()")
  config = module.get_config(arg) if arg else module.get_config()
  apply_overrides(config, overrides)
  return config


# Fields added with a default that differs from how runs behaved before them: a run saved
# without the field reads this value (its behaviour), not today's default.
_VALUE_BEFORE_FIELD = {("model", "beat_lookahead"): 0}


def with_defaults(saved: dict) -> ml_collections.ConfigDict:
  """The config a run saved as JSON, completed with today's defaults: a field added after the
  run was saved reads its default (or, in _VALUE_BEFORE_FIELD, the behaviour the run had), so
  every field can be read without `.get`."""
  from vmas_jax.config_defaults import base_config
  config = base_config("tiny")
  with config.ignore_type():
    config.update(saved)
  for (section, field), value in _VALUE_BEFORE_FIELD.items():
    if field not in saved.get(section, {}):
      config[section][field] = value
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
