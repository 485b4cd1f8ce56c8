"""Rhythm descriptors for the contrastive embeddings: where a clip's accents fall in time.

A clip's mean-pooled decoder states and its attention-pooled video tokens say *what* plays
and what is shown (a note, a colour), but hardly *when*: two clips of one colour at 75 and
135 bpm embed alike.  `rhythm_descriptor` summarises an accent curve sampled at the codec
frame rate by its Fourier coefficients at tempo frequencies (amplitude and phase, so tempo
and where the beats fall).  The video side reads the video beat curve, the music side its
own beat head's onset prediction; both curves peak on the beats, so the two descriptors of a
matching pair agree, and the contrastive projections learn to use them.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np


def frequencies(min_hz: float, max_hz: float, bins: int) -> np.ndarray:
  """[bins] evenly spaced frequencies in Hz."""
  return np.linspace(float(min_hz), float(max_hz), int(bins))


def rhythm_descriptor(curve, frame_rate: float, hz) -> jax.Array:
  """curve [B, F] (an accent curve at `frame_rate` Hz) -> float32 [B, 2 * len(hz)]: the
  cosine and sine coefficients of the standardised curve at each frequency of `hz`, scaled
  so a unit-variance sinusoid at one of them has magnitude about 1.

  Standardised per row, so the descriptor does not depend on the curve's scale (the video
  beat curve is normalised, the beat head's is a probability); a flat curve gives zeros.
  """
  c = curve.astype(jnp.float32)
  f = c.shape[-1]
  c = c - c.mean(-1, keepdims=True)
  c = c * jax.lax.rsqrt(jnp.maximum((c * c).mean(-1, keepdims=True), 1e-8))
  t = np.arange(f) / float(frame_rate)  # [F] seconds
  phase = 2 * np.pi * np.asarray(hz, np.float64)[None, :] * t[:, None]  # [F, J]
  basis = np.concatenate([np.cos(phase), np.sin(phase)], axis=1) * (np.sqrt(2.0) / f)
  return c @ jnp.asarray(basis, jnp.float32)
