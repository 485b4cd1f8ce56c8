"""A training run's music decoder as a Hugging Face `MusicgenForCausalLM` directory.

  vmas convert --from-run RUN --out OUT [--step N]

LoRA adapters are merged into plain weights first, so the result loads with
`MusicgenForCausalLM.from_pretrained(OUT)` (and back with `vmas_jax.convert.from_hf(OUT)`).
"""

from __future__ import annotations

import os

import jax
import numpy as np

from vmas_jax.convert import to_hf
from vmas_jax.generate import load_run_config
from vmas_jax.models.music_decoder import DecoderConfig, MusicDecoder
from vmas_jax.train.checkpoint import load_checkpoint
from vmas_jax.train.finetune import merged_params


def export_decoder(workdir, out_dir: str | os.PathLike, step: int | None = None) -> str:
  config = load_run_config(workdir)
  params = merged_params(load_checkpoint(workdir, step)["params"], config)
  decoder = jax.tree.map(np.asarray, params["decoder"])
  return to_hf(MusicDecoder(DecoderConfig.from_config(config.decoder)), {"params": decoder},
               out_dir)
