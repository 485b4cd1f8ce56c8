"""`VMASOutput`: what `VMAS.__call__` returns, read by the loss (`vmas_jax.losses`),
validation and best-of-N reranking.  A pytree (`flax.struct.dataclass`), so it passes through
`jax.jit`; a new output is one more field with a default (None: "this model does not make it").

B batch, K codebooks, F codec frames, S = F + K - 1 decoder positions, V vocabulary, D model
width, C contrastive width.
"""

from __future__ import annotations

import flax.struct
import jax


@flax.struct.dataclass
class VMASOutput:
  targets: jax.Array                  # int32 [B, K, S]: the delayed codes to predict
  target_mask: jax.Array              # bool [K, S] or [B, K, S]: slots that are scored
  music_embed: jax.Array              # float32 [B, C], L2-normalised
  video_embed: jax.Array              # float32 [B, C], L2-normalised
  log_temperature: jax.Array          # float32 []: the contrastive temperature's log
  beat_logits: jax.Array              # float32 [B, F]: music beat prediction per frame
  logits: jax.Array | None = None     # [B, K, S, V]; None with loss.chunked_logits, where
  hidden: jax.Array | None = None     # [B, S, D] the decoder's last hidden states and
  lm_heads: jax.Array | None = None   # [K, D, V] its output heads give them one codebook at a time
