"""CLAP's log-mel front end: transformers' `ClapFeatureExtractor` for non-fusion models
(truncation "rand_trunc": Slaney mel filters), made deterministic for evaluation.

  wav at 48 kHz -> windows of max_seconds (10 s): [N, max_seconds * sr]
  each window -> |STFT|^2 (centred, reflect-padded, periodic Hann, 1024-pt, hop 480)
  -> Slaney mel (64 bands, fmin-fmax) -> dB (10 log10, floor 1e-10) -> [N, frames, 64]

The extractor crops a random 10 s from a longer clip; here a clip is cut into non-overlapping
10 s windows (the tail shorter than a window is dropped, as musicnn and VGGish do), and a clip
shorter than one window is repeated and zero-padded to fill one, as the extractor does.
"""

from __future__ import annotations

import dataclasses
import functools

import numpy as np


@dataclasses.dataclass(frozen=True)
class ClapFrontEnd:
  sample_rate: int = 48000
  n_mels: int = 64
  fft_size: int = 1024
  hop: int = 480
  max_seconds: float = 10
  fmin: float = 0.0
  fmax: float = 14000.0
  top_db: float | None = None
  padding: str = "repeatpad"  # or "repeat", "pad" (ClapFeatureExtractor's choices)

  @property
  def window_samples(self) -> int:
    return int(self.max_seconds * self.sample_rate)

  @functools.cached_property
  def mel_filters(self) -> np.ndarray:
    """[fft_size // 2 + 1, n_mels] float64 (Slaney scale and area normalisation)."""
    import librosa
    return librosa.filters.mel(sr=self.sample_rate, n_fft=self.fft_size, n_mels=self.n_mels,
                               fmin=self.fmin, fmax=self.fmax, htk=False, norm="slaney",
                               dtype=np.float64).T

  def fill(self, wav: np.ndarray) -> np.ndarray:
    """A clip shorter than a window -> exactly one window, padded as the extractor does."""
    n = self.window_samples
    if self.padding == "repeat":
      wav = np.tile(wav, n // len(wav) + 1)[:n]
    elif self.padding == "repeatpad":
      wav = np.tile(wav, n // len(wav))
    return np.pad(wav, (0, n - len(wav)))

  def log_mel(self, wav: np.ndarray) -> np.ndarray:
    """One window [T] -> [frames, n_mels] float32 dB (frames = T // hop + 1)."""
    half = self.fft_size // 2
    x = np.pad(np.asarray(wav, np.float64), (half, half), mode="reflect")
    n = 1 + (len(x) - self.fft_size) // self.hop
    frames = np.lib.stride_tricks.sliding_window_view(x, self.fft_size)[::self.hop][:n]
    window = np.hanning(self.fft_size + 1)[:-1]  # periodic Hann
    power = np.abs(np.fft.rfft(frames * window)) ** 2
    db = 10.0 * np.log10(np.maximum(power @ self.mel_filters, 1e-10))
    if self.top_db is not None:
      db = np.maximum(db, db.max() - self.top_db)
    return db.astype(np.float32)

  def windows(self, wav: np.ndarray) -> np.ndarray:
    """A mono clip [T] at `sample_rate` -> log-mel windows [N, frames, n_mels] float32."""
    wav = np.asarray(wav, np.float64)
    if wav.size == 0:
      raise ValueError("no audio samples")
    n = self.window_samples
    if len(wav) < n:
      return self.log_mel(self.fill(wav))[None]
    return np.stack([self.log_mel(wav[i * n:(i + 1) * n]) for i in range(len(wav) // n)])
