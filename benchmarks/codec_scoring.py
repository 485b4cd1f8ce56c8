"""Scores decoders on the held-out melodies of `vmas bench codec-quality` and on real excerpts,
for the codec studies in this folder (codec_vq_error.py, codec_band_gains.py)."""

from __future__ import annotations

from typing import Callable

import numpy as np


def score_variants(variants: dict[str, Callable[[np.ndarray], np.ndarray]], sr: int,
                   melodies: int = 4, audio: str | None = None, max_files: int = 16) -> None:
  """Print one row per variant (`f(wav [T]) -> wav [T]`): melody onset F1 and pitch on
  seeds 1000.., and with `audio` log-mel L1 and onset F1 on its first `max_files` files,
  10 s from 30 s in (from 0 in files under 40 s)."""
  from vmas_jax.eval import codec_quality as q
  mel = {k: [] for k in variants}
  for i in range(melodies):
    wav, notes = q.held_out_notes(1000 + i, 10.0, sr)
    for k, fn in variants.items():
      out = fn(wav)
      mel[k].append((q.onset_f1(wav, out, sr), q.pitch_accuracy(out, sr, notes)))
  real = {k: [] for k in variants}
  if audio:
    from vmas_jax.data.audio_io import audio_info, load_audio
    from vmas_jax.data.audio_segments import list_audio
    for path in list_audio(audio)[:max_files]:
      start = 30.0 if audio_info(path).duration >= 40.0 else 0.0
      wav = load_audio(path, sr, start=start, duration=10.0)
      for k, fn in variants.items():
        out = fn(wav)
        real[k].append((q.log_mel_l1(wav, out, sr), q.onset_f1(wav, out, sr)))

  width = max(len(k) for k in variants)
  print(f"{'decoded':{width}s} melody onset F1  pitch"
        + ("  real log-mel  real onset F1" if audio else ""))
  for k in variants:
    o, pa = np.mean(mel[k], 0)
    line = f"{k:{width}s} {o:15.3f} {pa:6.3f}"
    if real[k]:
      lm, ro = np.mean(real[k], 0)
      line += f" {lm:13.3f} {ro:14.3f}"
    print(line)
