"""VGGish's log-mel front end, as the published model computes it (torchvggish's
`vggish_input.waveform_to_examples` / `mel_features`, the TF original's numerics).

  wav 16 kHz --25 ms periodic-Hann frames, 10 ms hop, |512-pt FFT|--> [F, 257]
  --HTK mel triangles 125-7500 Hz (64 bands, DC bin zeroed)--> log(mel + 0.01) [F, 64]
  --non-overlapping 96-frame examples (0.96 s)--> [N, 96, 64]
"""

from __future__ import annotations

import numpy as np

SAMPLE_RATE = 16000
WINDOW = 400        # 25 ms
HOP = 160           # 10 ms
FFT_SIZE = 512      # the next power of two above WINDOW
N_MELS = 64
MEL_MIN_HZ, MEL_MAX_HZ = 125.0, 7500.0
LOG_OFFSET = 0.01
EXAMPLE_FRAMES = 96


def _hz_to_mel(hz):
  return 1127.0 * np.log(1.0 + np.asarray(hz) / 700.0)  # HTK


def mel_matrix() -> np.ndarray:
  """[257, 64] float64 triangles over the mel scale (spectrogram rows @ matrix = mel)."""
  bins_mel = _hz_to_mel(np.linspace(0.0, SAMPLE_RATE / 2, FFT_SIZE // 2 + 1))
  edges = np.linspace(_hz_to_mel(MEL_MIN_HZ), _hz_to_mel(MEL_MAX_HZ), N_MELS + 2)
  lower, centre, upper = edges[:-2], edges[1:-1], edges[2:]
  rising = (bins_mel[:, None] - lower) / (centre - lower)
  falling = (upper - bins_mel[:, None]) / (upper - centre)
  m = np.maximum(0.0, np.minimum(rising, falling))
  m[0] = 0.0  # the DC bin contributes to no band
  return m


def log_mel(wav: np.ndarray) -> np.ndarray:
  """wav [T] at 16 kHz -> [F, 64] float64; only complete 25 ms frames (no padding)."""
  wav = np.asarray(wav, np.float64)
  if len(wav) < WINDOW:
    raise ValueError(f"{len(wav)} samples: shorter than one {WINDOW}-sample frame")
  n = 1 + (len(wav) - WINDOW) // HOP
  frames = np.lib.stride_tricks.sliding_window_view(wav, WINDOW)[::HOP][:n]
  window = 0.5 - 0.5 * np.cos(2 * np.pi / WINDOW * np.arange(WINDOW))  # periodic Hann
  magnitude = np.abs(np.fft.rfft(frames * window, FFT_SIZE))
  return np.log(magnitude @ mel_matrix() + LOG_OFFSET)


def examples(wav: np.ndarray) -> np.ndarray:
  """wav [T] at 16 kHz -> examples [N, 96, 64] float32, non-overlapping; the tail shorter
  than an example is dropped (as the reference does), and a clip shorter than one example
  is repeated to fill one (the reference would return none)."""
  wav = np.asarray(wav, np.float64)
  if wav.size == 0:
    raise ValueError("no audio samples")
  need = WINDOW + (EXAMPLE_FRAMES - 1) * HOP
  if len(wav) < need:
    wav = np.tile(wav, -(-need // len(wav)))[:need]
  mel = log_mel(wav)
  n = len(mel) // EXAMPLE_FRAMES
  return mel[:n * EXAMPLE_FRAMES].reshape(n, EXAMPLE_FRAMES, N_MELS).astype(np.float32)
