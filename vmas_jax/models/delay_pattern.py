"""MusicGen's delay interleaving of K codebook streams.

Codebook k is shifted right by k+1 token positions, so the decoder predicts codebook k of
frame f after it has seen codebooks < k of that frame.  Position 0 of every stream is the
BOS token.  Empty slots (the BOS column, the ramp at the start and the tail at the end) hold
the special id (= V, the extra embedding row).  For K=3, F=3 frames a..c:

    pos:   0  1  2  3  4  5
    k=0:   S a0 b0 c0  S  S
    k=1:   S  S a1 b1 c1  S
    k=2:   S  S  S a2 b2 c2          tokens[B, K, F + K]

This is the layout HF `MusicgenForCausalLM.build_delay_pattern_mask` builds for
`max_length = F + K` (bos = pad = V), so `generate` and training agree with the reference.
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np


def _code_index(num_codebooks: int, length: int):
  """[K, S] int: frame index held by each token slot (out of [0, S-K) in empty slots)."""
  k = np.arange(num_codebooks)[:, None]
  j = np.arange(length)[None, :]
  return j - k - 1


def valid_mask(num_codebooks: int, length: int) -> np.ndarray:
  """[K, S] bool: True where a token slot of a delayed sequence of length S holds a code.

  For a training sequence `tokens[:, :, :-1] -> tokens[:, :, 1:]`, mask the loss with
  `valid_mask(K, S)[:, 1:]` (S = F + K).
  """
  f = _code_index(num_codebooks, length)
  return (f >= 0) & (f < length - num_codebooks)


def build(codes, special: int):
  """codes [B, K, F] int -> tokens [B, K, F + K] with codebook k delayed by k+1 slots."""
  codes = jnp.asarray(codes)
  b, k, f = codes.shape
  idx = _code_index(k, f + k)
  valid = valid_mask(k, f + k)
  gathered = jnp.take_along_axis(codes, jnp.broadcast_to(np.clip(idx, 0, f - 1), (b, k, f + k)),
                                 axis=2)
  return jnp.where(valid, gathered, jnp.asarray(special, codes.dtype))


def undo(tokens):
  """tokens [B, K, S] (delayed) -> codes [B, K, S - K]; inverse of `build`."""
  tokens = jnp.asarray(tokens)
  b, k, s = tokens.shape
  f = s - k
  if f < 0:
    raise ValueError(f"delayed sequence of length {s} is shorter than its {k} codebooks")
  # frame f of codebook k sits at position f + k + 1
  pos = np.arange(f)[None, :] + np.arange(k)[:, None] + 1
  return jnp.take_along_axis(tokens, jnp.broadcast_to(pos, (b, k, f)), axis=2)
