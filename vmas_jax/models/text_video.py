"""Text and video side by side in the music decoder's cross-attention memory.

  text, text_mask = TextConditioner(t5_config, d_model)(input_ids, attention_mask)
  memory, mask, video_mask = join_memory(text, text_mask, video, video_mask, type_embed)

Text tokens are MusicGen's (T5 states through `enc_to_dec_proj`, zero at padding), video
tokens the temporal video encoder's; each group gets its own learned type embedding
(`type_embed` [2, D]: text, video; zero-initialised, so MusicGen's text memory is unchanged
at step 0).  `video_mask` tells the decoder which tokens are video: it attends to them in a
separate, gated softmax (`music_decoder`, `video_gate`), so the start is exactly MusicGen.

Condition dropout drops text and video independently (`drop_tokens`): a dropped group's
tokens become the decoder's null memory, so guidance can weigh the two (`sample.Sampler`).
A blank caption or prompt (no text token: `tokenize_fixed` masks it whole) is read as
dropped text in training and generation alike (`text_absent`), so "no prompt" means the
video alone -- a state condition dropout always trains -- not a string the data never had.
"""

from __future__ import annotations

import flax.linen as nn
import jax.numpy as jnp

from vmas_jax import layers
from vmas_jax.models.text.t5 import T5Config, T5Encoder

TEXT, VIDEO = 0, 1  # rows of the type embedding


class TextConditioner(nn.Module):
  """T5 encoder + `enc_to_dec_proj` (when the widths differ), as MusicGen's text path."""
  config: T5Config
  d_model: int

  def setup(self):
    self.text_encoder = T5Encoder(self.config)
    if self.config.d_model != self.d_model:
      self.enc_to_dec_proj = layers.Dense(self.d_model, (None,), ("embed",))

  def __call__(self, input_ids, attention_mask):
    """input_ids [B, L] int, attention_mask [B, L] -> memory [B, L, d_model] (zero at
    padding), mask [B, L] bool."""
    h = self.text_encoder(input_ids, attention_mask)
    if self.config.d_model != self.d_model:
      h = self.enc_to_dec_proj(h)
    mask = attention_mask != 0
    return h * mask[..., None].astype(h.dtype), mask


def join_memory(text, text_mask, video, video_mask, type_embed):
  """text [B, L, D], text_mask [B, L], video [B, M, D], video_mask [B, M], type_embed [2, D]
  -> memory [B, L+M, D], memory mask [B, L+M] bool, video mask [B, L+M] bool."""
  dt = jnp.result_type(text.dtype, video.dtype)
  memory = jnp.concatenate([text.astype(dt) + type_embed[TEXT].astype(dt),
                            video.astype(dt) + type_embed[VIDEO].astype(dt)], axis=1)
  mask = jnp.concatenate([text_mask.astype(bool), video_mask.astype(bool)], axis=1)
  is_video = jnp.zeros(mask.shape, bool).at[:, text.shape[1]:].set(True)
  return memory, mask, is_video


def drop_tokens(drop_text, drop_video, video_mask):
  """drop_text, drop_video [B] bool (None: keep), video_mask [B, M] -> [B, M] bool: the
  memory tokens to replace by the null memory."""
  out = jnp.zeros(video_mask.shape, bool)
  if drop_text is not None:
    out = out | (drop_text[:, None] & ~video_mask)
  if drop_video is not None:
    out = out | (drop_video[:, None] & video_mask)
  return out


def text_absent(memory_mask, video_mask):
  """memory_mask, video_mask [B, M] bool -> [B] bool: rows without a text token (a blank
  prompt), which read the null memory in place of their text, as dropped text does."""
  return ~jnp.any(memory_mask & ~video_mask, axis=-1)
