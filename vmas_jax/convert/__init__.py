"""Weight conversion between Hugging Face / audiocraft PyTorch checkpoints and vmas_jax.

`from_hf(path_or_repo_id) -> (module, variables)` reads `config.json`, picks the importer
for its `model_type`, and returns a Flax module plus plain (unboxed) variables such that
`module.apply(variables, ...)` matches the reference model.  `to_hf(module, variables, out)`
goes the other way for model types that support export.
"""

from __future__ import annotations

import importlib
import os
from typing import Any

from vmas_jax.convert.hf_io import load_hf_config, resolve_hf_dir
from vmas_jax.convert.saved import load_converted, save_converted  # noqa: F401

# model_type in config.json -> module under vmas_jax.convert that defines
# `import_hf(directory, config) -> (module, variables)`.
_IMPORTERS = {
    "encodec": "vmas_jax.convert.encodec",
    "musicgen": "vmas_jax.convert.musicgen_full",  # text-to-music; decoder alone: musicgen.py
    "musicgen_decoder": "vmas_jax.convert.musicgen",
    "clip": "vmas_jax.convert.clip",
    "clip_vision_model": "vmas_jax.convert.clip",
    "hiera": "vmas_jax.convert.hiera",
    "t5": "vmas_jax.convert.t5",
}

# Flax module class name -> converter module defining `export_hf(module, variables, out_dir)`.
_EXPORTERS = {
    "MusicDecoder": "vmas_jax.convert.musicgen",
}


def from_hf(path_or_repo_id: str | os.PathLike, **kwargs) -> tuple[Any, dict]:
  """Import a Hugging Face model directory (or hub id, when online) into vmas_jax."""
  directory = resolve_hf_dir(path_or_repo_id)
  config = load_hf_config(directory)
  model_type = config.get("model_type")
  if model_type not in _IMPORTERS:
    raise ValueError(f"{directory}/config.json: model_type {model_type!r} is not supported; "
                     f"supported: {sorted(_IMPORTERS)}")
  return importlib.import_module(_IMPORTERS[model_type]).import_hf(directory, config, **kwargs)


def to_hf(module, variables, out_dir: str | os.PathLike, **kwargs) -> str:
  """Write `module`'s weights as a Hugging Face directory that `from_pretrained` loads."""
  name = type(module).__name__
  if name not in _EXPORTERS:
    raise ValueError(f"export to Hugging Face is not supported for {name}; "
                     f"supported: {sorted(_EXPORTERS)}")
  return importlib.import_module(_EXPORTERS[name]).export_hf(module, variables, out_dir, **kwargs)
