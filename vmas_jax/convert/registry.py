"""Which converter module handles which Hugging Face `model_type` / Flax module class."""

from __future__ import annotations

import importlib

# model_type in config.json -> module under vmas_jax.convert that defines
# `import_hf(directory, config) -> (module, variables)` and `module_from_hf_config(config)`.
IMPORTERS = {
    "encodec": "vmas_jax.convert.encodec",
    "musicgen": "vmas_jax.convert.musicgen_full",  # text-to-music; the decoder alone: musicgen.py
    "musicgen_decoder": "vmas_jax.convert.musicgen",
    "clip": "vmas_jax.convert.clip",
    "clip_vision_model": "vmas_jax.convert.clip",
    "hiera": "vmas_jax.convert.hiera",
    "t5": "vmas_jax.convert.t5",
}

# Flax module class name -> converter module defining `export_hf(module, variables, out_dir)`.
EXPORTERS = {
    "EncodecModel": "vmas_jax.convert.encodec",
    "MusicDecoder": "vmas_jax.convert.musicgen",
}


def importer(model_type, where: str):
  """The converter module for `model_type`; `where` names the file in the error."""
  if model_type not in IMPORTERS:
    raise ValueError(f"{where}: model_type {model_type!r} is not supported; "
                     f"supported: {sorted(IMPORTERS)}")
  return importlib.import_module(IMPORTERS[model_type])


def exporter(module_name: str):
  if module_name not in EXPORTERS:
    raise ValueError(f"export to Hugging Face is not supported for {module_name}; "
                     f"supported: {sorted(EXPORTERS)}")
  return importlib.import_module(EXPORTERS[module_name])
