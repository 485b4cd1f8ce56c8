"""Audio the evaluation tests make: harmonic tone melodies and drum-like noise bursts."""

import numpy as np


def tones(seconds: float, sr: int = 16000, seed: int = 0, amplitude: float = 0.03) -> np.ndarray:
  """A slow melody of decaying harmonic notes (piano-like), float32 [seconds * sr]."""
  rng = np.random.default_rng(seed)
  n = int(seconds * sr)
  wav = np.zeros(n)
  notes = 261.63 * 2 ** (rng.choice([0, 2, 4, 5, 7, 9, 11, 12], 64) / 12)
  for i, f in enumerate(notes[:int(seconds / 0.5)]):
    s = int(i * 0.5 * sr)
    t = np.arange(n - s) / sr
    wav[s:] += sum(amplitude / h * np.sin(2 * np.pi * f * h * t) for h in (1, 2, 3)) * np.exp(-3 * t)
  return wav.astype(np.float32)


def noise_bursts(seconds: float, sr: int = 16000, seed: int = 0, bpm: float = 120.0
                 ) -> np.ndarray:
  """Drum-like noise bursts on every eighth note, a low thump on each beat, float32."""
  rng = np.random.default_rng(seed)
  n = int(seconds * sr)
  wav = np.zeros(n)
  step = 30.0 / bpm
  for i in range(int(seconds / step)):
    s = int(i * step * sr)
    m = min(int(0.12 * sr), n - s)
    t = np.arange(m) / sr
    burst = rng.standard_normal(m) * np.exp(-40 * t) * (0.08 if i % 2 == 0 else 0.03)
    if i % 2 == 0:
      burst += 0.05 * np.sin(2 * np.pi * 60 * t) * np.exp(-20 * t)
    wav[s:s + m] += burst
  return wav.astype(np.float32)
