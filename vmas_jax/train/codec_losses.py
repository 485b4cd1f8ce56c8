"""Reconstruction losses of codec training: waveform L1 and multi-resolution mel spectra.

  mel = mel_spectrogram(wav[B, T], sample_rate, n_fft, hop, n_mels)   # power mel [B, N, M]
  loss, parts = reconstruction_losses(x, y, loss_config, sample_rate)
  stft = multi_stft_loss(x, y, scales)   # linear-frequency log magnitude + convergence
  flux = flux_loss(x, y, sample_rate)    # onset envelopes (spectral flux) differ

Spectra are of Hann-windowed frames (centred, reflect padding), normalised by the window's
energy so that every resolution has the same scale; the mel filters are librosa's (Slaney).
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

Array = jax.Array


@functools.lru_cache(maxsize=None)
def _mel_basis(sample_rate: int, n_fft: int, n_mels: int) -> np.ndarray:
  import librosa
  return librosa.filters.mel(sr=sample_rate, n_fft=n_fft, n_mels=n_mels).T.astype(np.float32)


def stft(wav: Array, n_fft: int, hop: int, normalized: bool = True) -> Array:
  """`[B, T]` -> complex STFT `[B, 1 + T // hop, n_fft // 2 + 1]`; `hop` divides `n_fft`.

  Frames are cut by reshaping into hop-long chunks and concatenating n_fft / hop neighbours
  (no gather, whose gradient would be a slow scatter); `normalized` divides by the window's
  energy (else the scale is librosa's).
  """
  if n_fft % hop:
    raise ValueError(f"hop {hop} must divide n_fft {n_fft}")
  pad = n_fft // 2
  x = jnp.pad(wav.astype(jnp.float32), ((0, 0), (pad, pad)), mode="reflect")
  n = 1 + (x.shape[1] - n_fft) // hop
  r = n_fft // hop
  x = x[:, :(n + r - 1) * hop]  # the samples that the n frames cover
  chunks = x.reshape(x.shape[0], n + r - 1, hop)
  frames = jnp.concatenate([chunks[:, j:j + n] for j in range(r)], axis=-1)
  window = np.hanning(n_fft + 1)[:-1].astype(np.float32)  # periodic Hann
  if normalized:
    window = window / np.sqrt(np.sum(window ** 2))
  return jnp.fft.rfft(frames * window, axis=-1)


def power_spectrogram(wav: Array, n_fft: int, hop: int, normalized: bool = True) -> Array:
  """`[B, T]` -> |STFT|^2 `[B, 1 + T // hop, n_fft // 2 + 1]` (fp32; see `stft`)."""
  spec = stft(wav, n_fft, hop, normalized)
  return jnp.real(spec) ** 2 + jnp.imag(spec) ** 2


def mel_spectrogram(wav: Array, sample_rate: int, n_fft: int, hop: int, n_mels: int,
                    normalized: bool = True) -> Array:
  """`[B, T]` -> mel power spectrogram `[B, frames, n_mels]`."""
  return power_spectrogram(wav, n_fft, hop, normalized) @ _mel_basis(sample_rate, n_fft, n_mels)


def _floored(px: Array, py: Array, eps: float, floor_db: float) -> tuple[Array, Array]:
  """Magnitudes sqrt(power + floor) of target and estimate powers `[B, F, N]`.

  The floor is eps^2, or with `floor_db` < 0 the larger of eps^2 and the target's loudest bin
  `floor_db` dB down (per example): log distances then ignore what lies far below the
  music, so a faint noise floor under the right notes costs less than silence does."""
  floor = eps ** 2
  if floor_db < 0:
    peak = jnp.max(px, axis=(1, 2), keepdims=True)
    floor = jnp.maximum(floor, peak * 10.0 ** (floor_db / 10))
  return jnp.sqrt(px + floor), jnp.sqrt(py + floor)


def multi_mel_loss(x: Array, y: Array, sample_rate: int, scales, n_mels: int,
                   eps: float = 1e-5, floor_db: float = 0.0) -> Array:
  """Mean over `scales` (FFT sizes, hop = n_fft / 4) of L1(log mel) + L1(mel magnitude);
  `eps`, `floor_db`: the floor of the magnitudes (`_floored`)."""
  total = 0.0
  for n_fft in scales:
    bands = min(n_mels, n_fft // 8)  # small FFTs cannot fill many mel bands
    ax, ay = _floored(mel_spectrogram(x, sample_rate, n_fft, n_fft // 4, bands),
                      mel_spectrogram(y, sample_rate, n_fft, n_fft // 4, bands), eps, floor_db)
    total = total + jnp.mean(jnp.abs(jnp.log(ax) - jnp.log(ay))) + jnp.mean(jnp.abs(ax - ay))
  return total / len(scales)


def multi_stft_loss(x: Array, y: Array, scales, eps: float = 1e-5, floor_db: float = 0.0) -> Array:
  """Mean over `scales` (hop = n_fft / 4) of L1(log |STFT|) + spectral convergence
  (|| |X| - |Y| ||_F / || |X| ||_F).  Linear frequency bins: at n_fft 4096 a bin is 7.8 Hz,
  so, unlike 64 mel bands, this pins the pitch of low notes."""
  total = 0.0
  for n_fft in scales:
    ax, ay = _floored(power_spectrogram(x, n_fft, n_fft // 4),
                      power_spectrogram(y, n_fft, n_fft // 4), eps, floor_db)
    converge = jnp.sqrt(jnp.sum((ax - ay) ** 2)) / jnp.sqrt(jnp.sum(ax ** 2))
    total = total + jnp.mean(jnp.abs(jnp.log(ax) - jnp.log(ay))) + converge
  return total / len(scales)


def log_mel_l1(x: Array, y: Array, sample_rate: int) -> Array:
  """Monitoring scalar close to `vmas bench codec-quality`'s log-mel L1 (64 bands, n_fft
  2048, librosa's power scale, log(S + 1e-5)), at hop 512 instead of 320."""
  mx = mel_spectrogram(x, sample_rate, 2048, 512, 64, normalized=False)
  my = mel_spectrogram(y, sample_rate, 2048, 512, 64, normalized=False)
  return jnp.mean(jnp.abs(jnp.log(mx + 1e-5) - jnp.log(my + 1e-5)))


def onset_envelope(wav: Array, sample_rate: int, n_fft: int = 2048, hop: int = 512,
                   n_mels: int = 128, top_db: float = 80.0) -> Array:
  """`[B, T]` -> spectral flux `[B, frames - 1]`, as librosa's onset strength computes it:
  the mean over mel bands of the rise of the dB mel spectrum from one frame to the next, the
  spectrum floored `top_db` below each example's loudest bin."""
  db = 10.0 * jnp.log10(jnp.maximum(
      mel_spectrogram(wav, sample_rate, n_fft, hop, n_mels, normalized=False), 1e-10))
  db = jnp.maximum(db, jnp.max(db, axis=(1, 2), keepdims=True) - top_db)
  return jnp.mean(jax.nn.relu(db[:, 1:] - db[:, :-1]), axis=-1)


def flux_loss(x: Array, y: Array, sample_rate: int) -> Array:
  """L1 between the onset envelopes (`onset_envelope`) of `x` and `y`, relative to the mean
  of `x`'s.  A codec whose error changes from frame to frame raises the flux between the
  notes, which onset detection reads as extra onsets."""
  ex, ey = onset_envelope(x, sample_rate), onset_envelope(y, sample_rate)
  return jnp.mean(jnp.abs(ex - ey)) / (jnp.mean(ex) + 1e-3)


def reconstruction_losses(x: Array, y: Array, loss_config, sample_rate: int):
  """Weighted time L1 + multi-resolution mel (+ linear STFT when `stft_weight`) loss of
  reconstruction `y` against `x` `[B, T]`.

  Returns (total, {"l1": ..., "mel": ..., "stft": ...}).
  """
  y = y[:, :x.shape[1]]
  floor = loss_config.rms_floor
  if floor:  # per-example loudness normalisation: quiet segments count as much as loud ones
    scale = 1.0 / jnp.maximum(jnp.sqrt(jnp.mean(jnp.square(x), axis=1, keepdims=True)), floor)
    x, y = x * scale, y * scale
  l1 = jnp.mean(jnp.abs(x - y))
  eps = loss_config.log_eps
  floor_db = loss_config.log_floor_db
  mel = multi_mel_loss(x, y, sample_rate, tuple(loss_config.mel_scales), loss_config.mel_bands,
                       eps, floor_db)
  total = loss_config.l1_weight * l1 + loss_config.mel_weight * mel
  parts = {"l1": l1, "mel": mel}
  if loss_config.stft_weight:
    parts["stft"] = multi_stft_loss(x, y, tuple(loss_config.stft_scales), eps, floor_db)
    total = total + loss_config.stft_weight * parts["stft"]
  if loss_config.flux_weight:
    parts["flux"] = flux_loss(x, y, sample_rate)
    total = total + loss_config.flux_weight * parts["flux"]
  return total, parts
