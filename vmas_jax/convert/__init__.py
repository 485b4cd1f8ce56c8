"""Weight conversion between Hugging Face / audiocraft PyTorch checkpoints and vmas_jax.

`from_hf(path_or_repo_id) -> (module, variables)` reads `config.json`, picks the importer
for its `model_type`, and returns a Flax module plus plain (unboxed) variables such that
`module.apply(variables, ...)` matches the reference model.  `to_hf(module, variables, out)`
goes the other way for model types that support export.
"""

from __future__ import annotations

import os
from typing import Any

from vmas_jax.convert.hf_io import (UnsafeCheckpointError, load_hf_config,  # noqa: F401
                                   resolve_hf_dir)
from vmas_jax.convert.registry import exporter, importer
from vmas_jax.convert.saved import load_converted, save_converted  # noqa: F401


def from_hf(path_or_repo_id: str | os.PathLike, **kwargs) -> tuple[Any, dict]:
  """Import a Hugging Face model directory (or hub id, when online) into vmas_jax.

  Pickled weights (`pytorch_model*.bin`) are read with `torch.load(weights_only=True)`; one
  that needs full unpickling raises `UnsafeCheckpointError` unless `trust_remote_pickle=True`.
  """
  directory = resolve_hf_dir(path_or_repo_id)
  config = load_hf_config(directory)
  return importer(config.get("model_type"), f"{directory}/config.json").import_hf(
      directory, config, **kwargs)


def to_hf(module, variables, out_dir: str | os.PathLike, **kwargs) -> str:
  """Write `module`'s weights as a Hugging Face directory that `from_pretrained` loads."""
  return exporter(type(module).__name__).export_hf(module, variables, out_dir, **kwargs)
