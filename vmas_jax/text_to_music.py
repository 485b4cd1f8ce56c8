"""MusicGen text-to-music in JAX: prompts in, codes and audio out.

  t2m = TextToMusic.from_pretrained("facebook/musicgen-small")   # or a local directory
  codes = t2m.generate(["calm piano", "upbeat synthwave"], 500, jax.random.key(0))
  wav = t2m.decode(codes)                                         # [B, T] at t2m.sample_rate

Tokenizer (transformers), T5 encoder + `enc_to_dec_proj` + decoder (one `MusicGen` module)
and the codec all come from one full `musicgen` directory.  Sampling is our jitted sampler
(`vmas_jax.sample.Sampler`); classifier-free guidance uses MusicGen's own unconditional
input (a zero memory: the decoder's imported null memory).
"""

from __future__ import annotations

from typing import Sequence

import jax
import jax.numpy as jnp
import numpy as np

from vmas_jax.sample import Sampler
from vmas_jax.models.music_decoder import MusicDecoder
from vmas_jax.models.text.musicgen import MusicGen
from vmas_jax.models.text.tokenizer import load_tokenizer, tokenize


# Prompts are padded to a multiple of this many tokens, so that new prompts seldom change the
# memory's shape (each new shape compiles the sampler again); padding is masked, so results
# do not change.
TEXT_PAD_MULTIPLE = 32


class TextToMusic:
  """A MusicGen model ready to sample: tokenizer, `MusicGen` module + params, codec."""

  def __init__(self, module: MusicGen, variables: dict, tokenizer, codec):
    from vmas_jax.models.codec import jitted_codec
    self.module = module
    self.params = variables["params"]
    self.tokenizer = tokenizer
    self.codec, self.codec_variables = codec
    dec, cc = module.config.decoder, self.codec.config
    if (dec.num_codebooks, dec.vocab_size) != (cc.num_codebooks, cc.codebook_size):
      raise ValueError(f"decoder has {dec.num_codebooks} codebooks of {dec.vocab_size}, the "
                       f"codec {cc.num_codebooks} of {cc.codebook_size}")
    self.decoder = MusicDecoder(dec)
    self.sampler = Sampler(dec, self.params["decoder"])
    self._encode_text = jax.jit(lambda p, ids, mask: module.apply(
        {"params": p}, ids, mask, method="encode_text"))
    self._decode_audio = jitted_codec(cc, self.codec.dtype)[1]

  @classmethod
  def from_pretrained(cls, path_or_repo_id, **decoder_overrides) -> "TextToMusic":
    """From a full HF `musicgen` directory (or hub id, when online), weights read once.

    decoder_overrides: `DecoderConfig` fields, e.g. dtype="bfloat16" to decode in bf16 on GPU.
    """
    from vmas_jax.convert import hf_io, musicgen_full
    directory = hf_io.resolve_hf_dir(path_or_repo_id)
    config = hf_io.load_hf_config(directory)
    if config.get("model_type") != "musicgen":
      raise ValueError(f"{directory}/config.json: model_type {config.get('model_type')!r}; "
                       "text-to-music needs a full 'musicgen' model (text encoder + decoder)")
    sd = hf_io.load_state_dict(directory)
    # unrolled decoder layers: the layout the sampler runs without copying weights per call
    module, variables = musicgen_full.from_state_dict(sd, config, directory, scan_layers=False,
                                                      **decoder_overrides)
    codec = musicgen_full.codec_from_state_dict(sd, config, directory)
    return cls(module, variables, load_tokenizer(directory), codec)

  @property
  def sample_rate(self) -> int:
    return self.codec.config.sample_rate

  @property
  def frame_rate(self) -> int:
    return self.codec.config.frame_rate

  @property
  def max_frames(self) -> int:
    """The most frames one `generate` call can produce (the decoder's positions)."""
    return self.decoder.config.max_positions - self.decoder.config.num_codebooks

  def condition(self, prompts: Sequence[str]):
    """prompts [B] -> memory [B, L, d_model] (zero at padding), mask [B, L] bool."""
    ids, mask = tokenize(self.tokenizer, prompts, pad_to_multiple_of=TEXT_PAD_MULTIPLE)
    return self._encode_text(self.params, jnp.asarray(ids), jnp.asarray(mask))

  def generate(self, prompts: Sequence[str], num_frames: int, rng, *, top_k: int = 250,
               top_p: float = 0.0, temperature: float = 1.0, guidance_scale: float = 3.0,
               prompt_codes=None) -> np.ndarray:
    """Codes int32 [B, K, num_frames] for B prompts ("" is a prompt too: T5's </s> alone).

    Defaults are MusicGen's (top-k 250, guidance 3); top_k=1 is greedy.  prompt_codes
    [B, K, P] are continued from (kept as the first P frames).
    """
    memory, mask = self.condition(prompts)
    return np.asarray(self.sampler.sample(
        memory, mask, num_frames, rng, top_k=top_k, top_p=top_p, temperature=temperature,
        guidance_scale=guidance_scale, prompt_codes=prompt_codes))

  def decode(self, codes) -> np.ndarray:
    """codes [B, K, F] -> wav float32 [B, F * hop]."""
    return np.asarray(self._decode_audio(self.codec_variables, jnp.asarray(codes)))
