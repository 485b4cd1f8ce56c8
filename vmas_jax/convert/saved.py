"""Converted checkpoints on disk: an Orbax checkpoint of the variables plus the HF config.

  OUT/params      Orbax (StandardCheckpointer) checkpoint of `{"params": ...}`
  OUT/model.json  {"model_type": ..., "hf_config": {...}}

`load_converted(OUT)` rebuilds the module through the model type's `module_from_hf_config`,
so no PyTorch or Hugging Face files are needed after `vmas convert`.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import jax
import numpy as np

from vmas_jax.convert.registry import importer


def save_converted(out_dir: str | os.PathLike, variables: dict, hf_config: dict) -> Path:
  """Writes `variables` and `hf_config` (whose `model_type` names the converter) to `out_dir`."""
  import orbax.checkpoint as ocp
  out = Path(out_dir).absolute()
  model_type = hf_config.get("model_type")
  importer(model_type, str(out))  # fail before writing anything
  out.mkdir(parents=True, exist_ok=True)
  params_dir = out / "params"
  if params_dir.exists():
    raise FileExistsError(f"{params_dir}: already exists; choose an empty --out")
  with ocp.StandardCheckpointer() as ckptr:
    ckptr.save(params_dir, jax.tree.map(np.asarray, variables))
    ckptr.wait_until_finished()
  (out / "model.json").write_text(json.dumps(
      {"model_type": model_type, "hf_config": hf_config}, indent=2, sort_keys=True))
  return out


def load_converted(out_dir: str | os.PathLike) -> tuple[Any, dict]:
  """(module, variables) from a directory written by `vmas convert` / `save_converted`."""
  import orbax.checkpoint as ocp
  out = Path(out_dir).absolute()
  meta_path = out / "model.json"
  if not meta_path.is_file():
    raise FileNotFoundError(f"{meta_path}: missing; not a `vmas convert` output directory")
  try:
    meta = json.loads(meta_path.read_text())
    model_type, hf_config = meta["model_type"], meta["hf_config"]
  except (json.JSONDecodeError, KeyError, TypeError) as e:
    raise ValueError(f"{meta_path}: not a valid model.json ({e!r})") from None
  module = importer(model_type, str(meta_path)).module_from_hf_config(hf_config)
  if not (out / "params").is_dir():
    raise FileNotFoundError(f"{out / 'params'}: missing Orbax checkpoint")
  with ocp.StandardCheckpointer() as ckptr:
    variables = ckptr.restore(out / "params")
  return module, variables
