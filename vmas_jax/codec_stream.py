"""Codes that arrive window by window -> audio, decoded in bounded pieces.

  dec = ChunkedDecoder(decode_fn, codec_vars, hop=640)
  for codes in windows:            # int [K, n] each, in order
    write(dec.push(codes))         # float32 samples that are final
  write(dec.flush())

Decoding a whole hour of codes at once needs memory for the whole waveform and for every
activation of the codec's decoder; here each piece is decoded with `context` codec frames of
codes before it (re-warming the LSTM and the convolutions' left receptive field) and its last
`lookahead` frames are held back until the next piece supplies their right neighbours, so
memory is bounded by one piece while the samples match a whole-sequence decode closely
(checked in tests/test_generate_streaming.py).
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np


class ChunkedDecoder:
  """Incremental `decode_fn(variables, codes[1, K, F]) -> wav[1, F * hop]`."""

  def __init__(self, decode_fn, variables, hop: int, context: int = 50, lookahead: int = 50):
    self.decode_fn, self.variables, self.hop = decode_fn, variables, hop
    self.context, self.lookahead = context, lookahead
    self.codes = None    # int [K, n]: the frames from absolute index `start` on
    self.start = 0
    self.emitted = 0     # absolute frame index up to which samples were returned

  def push(self, codes: np.ndarray) -> np.ndarray:
    """Appends codes [K, n]; returns the samples that no later codes can change."""
    codes = np.asarray(codes)
    self.codes = codes if self.codes is None else np.concatenate([self.codes, codes], axis=1)
    return self._emit(self.start + self.codes.shape[1] - self.lookahead)

  def flush(self) -> np.ndarray:
    """The remaining samples (after the last `push`)."""
    if self.codes is None:
      return np.zeros(0, np.float32)
    return self._emit(self.start + self.codes.shape[1])

  def _emit(self, until: int) -> np.ndarray:
    if until <= self.emitted:
      return np.zeros(0, np.float32)
    lo = max(self.start, self.emitted - self.context)
    end = self.start + self.codes.shape[1]
    piece = self.codes[:, lo - self.start:end - self.start]
    wav = np.asarray(self.decode_fn(self.variables, jnp.asarray(piece[None])))[0]
    out = wav[(self.emitted - lo) * self.hop:(until - lo) * self.hop].astype(np.float32)
    self.emitted = until
    keep = max(self.start, until - self.context)  # what the next piece needs as context
    self.codes = self.codes[:, keep - self.start:]
    self.start = keep
    return out
