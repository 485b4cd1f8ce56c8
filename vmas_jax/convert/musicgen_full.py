"""Full HF `MusicgenForConditionalGeneration` directories (model_type `musicgen`): the text
encoder, `enc_to_dec_proj` and decoder as one `MusicGen` module, and the codec beside them.

  module, variables = import_hf(directory, config)   # via vmas_jax.convert.from_hf
  # the model and its codec from one read of the weights:
  sd = hf_io.load_state_dict(directory)
  module, variables = from_state_dict(sd, config, directory)
  codec, codec_variables = codec_from_state_dict(sd, config, directory)

Weights live under `text_encoder.` (T5, see convert/t5.py), `enc_to_dec_proj.`, `decoder.`
(see convert/musicgen.py) and `audio_encoder.` (EnCodec, see convert/encodec.py).
For the decoder alone use `vmas_jax.convert.musicgen.decoder_from_hf`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from vmas_jax.convert import encodec, hf_io, musicgen, t5
from vmas_jax.models.music_decoder import stack_layers
from vmas_jax.models.text.musicgen import MusicGen, MusicGenConfig
from vmas_jax.models.text.t5 import T5Encoder


def module_from_hf_config(config: dict, **decoder_overrides) -> MusicGen:
  return MusicGen(MusicGenConfig.from_hf_config(config, **decoder_overrides))


def import_hf(directory: Path, config: dict, **decoder_overrides) -> tuple[MusicGen, dict]:
  """A full MusicGen directory -> (MusicGen, variables); the codec is left out."""
  return from_state_dict(hf_io.load_state_dict(directory), config, directory, **decoder_overrides)


def from_state_dict(sd: dict, config: dict, source, **decoder_overrides):
  """(MusicGen, variables) from a full model's state dict; takes the decoder weights out of
  `sd`.  `source` names the weights in errors."""
  module = module_from_hf_config(config, **decoder_overrides)
  cfg = module.config
  try:
    text = t5.params_from_state_dict(T5Encoder(cfg.text), sd, "text_encoder.")["params"]
    proj = ({"kernel": np.asarray(sd["enc_to_dec_proj.weight"], np.float32).T,
             "bias": np.asarray(sd["enc_to_dec_proj.bias"], np.float32)} if cfg.project else None)
  except KeyError as e:
    raise ValueError(f"{source}: weight {e.args[0]!r} missing") from None
  decoder = musicgen.decoder_params(sd, cfg.decoder, config, source)
  if cfg.decoder.scan_layers:
    decoder = stack_layers(decoder, cfg.decoder.num_layers)
  params = {"text_encoder": text, "decoder": decoder}
  if proj is not None:
    params["enc_to_dec_proj"] = proj
  return module, {"params": params}


def codec_from_state_dict(sd: dict, config: dict, source):
  """The EnCodec model stored under `audio_encoder.` -> (EncodecModel, variables)."""
  module = encodec.module_from_hf_config(config["audio_encoder"])
  state = {k[len("audio_encoder."):]: v for k, v in sd.items() if k.startswith("audio_encoder.")}
  try:
    params = encodec.params_from_hf_state(state, module.config)
  except (KeyError, ValueError) as e:
    raise ValueError(f"{source}: audio encoder: {e}") from None
  encodec.check_shapes(module, params, f"{source} (audio encoder)")
  return module, {"params": params}
