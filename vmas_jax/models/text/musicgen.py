"""MusicGen text-to-music (HF `MusicgenForConditionalGeneration`, minus its codec) in Flax.

  memory, mask = module.apply(variables, input_ids, attention_mask, method="encode_text")
  logits = module.apply(variables, input_ids, attention_mask, tokens)

Text: T5 encoder -> `enc_to_dec_proj` (a Dense with bias, present only when the T5 width
differs from the decoder's, as HF) -> states zeroed where the attention mask is 0 -> the
decoder's cross-attention memory [B, L, d_model], masked by the attention mask.

MusicGen's unconditional input (classifier-free guidance, HF and audiocraft alike) is a
memory of zeros: with no biases in the cross-attention K/V projections the cross-attention
then adds nothing.  The decoder's `null_memory` of an imported model is therefore zero, and
the sampler's guidance rows (null memory, full mask) reproduce MusicGen's.
"""

from __future__ import annotations

import dataclasses

import flax.linen as nn

from vmas_jax import layers
from vmas_jax.models.music_decoder import DecoderConfig, MusicDecoder
from vmas_jax.models.text.t5 import T5Config, T5Encoder


@dataclasses.dataclass(frozen=True)
class MusicGenConfig:
  text: T5Config
  decoder: DecoderConfig

  @property
  def project(self) -> bool:
    """Whether text states go through `enc_to_dec_proj` (widths differ)."""
    return self.text.d_model != self.decoder.d_model

  @classmethod
  def from_hf_config(cls, hf: dict, **decoder_overrides) -> "MusicGenConfig":
    """From a HF `MusicgenConfig` dict (model_type `musicgen`)."""
    if hf.get("model_type") != "musicgen":
      raise ValueError(f"model_type {hf.get('model_type')!r}: expected a full 'musicgen' config")
    cross = hf["decoder"].get("cross_attention_hidden_size")
    if cross is not None and cross != hf["decoder"]["hidden_size"]:
      raise ValueError(f"cross_attention_hidden_size={cross} (!= hidden_size) is not supported")
    return cls(text=T5Config.from_hf_config(hf),
               decoder=DecoderConfig.from_hf_config(hf, **decoder_overrides))


class MusicGen(nn.Module):
  """Text encoder + projection + K-codebook music decoder."""
  config: MusicGenConfig

  def setup(self):
    cfg = self.config
    self.text_encoder = T5Encoder(cfg.text)
    if cfg.project:
      # input axis unnamed: the T5 width must not claim the mesh axis the output's `embed` uses
      self.enc_to_dec_proj = layers.Dense(cfg.decoder.d_model, (None,), ("embed",))
    self.decoder = MusicDecoder(cfg.decoder)

  def encode_text(self, input_ids, attention_mask):
    """input_ids [B, L] int, attention_mask [B, L] -> memory [B, L, d_model], mask [B, L] bool."""
    h = self.text_encoder(input_ids, attention_mask)
    if self.config.project:
      h = self.enc_to_dec_proj(h)
    mask = attention_mask != 0
    return h * mask[..., None].astype(h.dtype), mask

  def __call__(self, input_ids, attention_mask, tokens):
    """tokens [B, K, S] (delayed, BOS first) -> logits [B, K, S, V] fp32, as HF's
    `MusicgenForConditionalGeneration(input_ids, attention_mask,
    decoder_input_ids=tokens.reshape(B * K, S)).logits`."""
    memory, mask = self.encode_text(input_ids, attention_mask)
    return self.decoder(tokens, memory, mask)
