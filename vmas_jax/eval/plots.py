"""PNG plots for inspecting generated music against its video."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def plot_beats(path, video_curve, music_curve, frame_rate: float, *, video_beats=(),
               music_beats=(), wav=None, sample_rate: int | None = None, title: str = "") -> Path:
  """Video beat curve vs. music onset curve (and the spectrogram when `wav` is given)."""
  import matplotlib
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt

  rows = 2 if wav is not None else 1
  fig, axes = plt.subplots(rows, 1, figsize=(10, 2.6 * rows), squeeze=False)
  ax = axes[0, 0]
  t = np.arange(len(video_curve)) / frame_rate
  ax.plot(t, video_curve, label="video beat curve", color="tab:blue")
  ax.plot(np.arange(len(music_curve)) / frame_rate, music_curve, label="music onsets",
          color="tab:orange", alpha=0.8)
  for b in video_beats:
    ax.axvline(b, color="tab:blue", ls=":", lw=0.8)
  for b in music_beats:
    ax.axvline(b, color="tab:orange", ls="--", lw=0.8)
  ax.set_xlabel("seconds")
  ax.legend(loc="upper right")
  ax.set_title(title)
  if wav is not None:
    import librosa
    spec = librosa.amplitude_to_db(np.abs(librosa.stft(np.asarray(wav, np.float32), n_fft=1024,
                                                       hop_length=256)), ref=np.max)
    axes[1, 0].imshow(spec, origin="lower", aspect="auto", cmap="magma",
                      extent=[0, len(wav) / sample_rate, 0, sample_rate / 2000])
    axes[1, 0].set_ylabel("kHz")
    axes[1, 0].set_xlabel("seconds")
  fig.tight_layout()
  path = Path(path)
  fig.savefig(path, dpi=100)
  plt.close(fig)
  return path
