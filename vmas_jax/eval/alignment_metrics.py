"""Does generated music follow its video?  Figures measured from the audio alone.

For one clip of generated music and the ground truth of its synthetic video (flash times,
tempo, palette colour; `vmas_jax.data.synthetic`):
- beat F1 (+-70 ms), beat hit and beat alignment of the music's onsets against the flashes;
- tempo error: |60 / median inter-onset interval - bpm| / bpm;
- colour -> note: pyin's median pitch of the music, named by the nearest palette note.
Over a set of clips: video -> music retrieval recall@k from a similarity matrix.
"""

from __future__ import annotations

import numpy as np

from vmas_jax import beats
from vmas_jax.data.synthetic import PALETTE
from vmas_jax.eval.beat_metrics import beat_scores

FRAME_RATE = 50
PITCH_SAMPLE_RATE = 8000  # pyin runs on a copy at this rate: the palette tops out at 587 Hz


def onset_times(wav: np.ndarray, sample_rate: int) -> np.ndarray:
  """Onset times (seconds): the peaks of the onset-strength curve (`beats.music_beat_curve`)."""
  num = int(round(len(wav) / sample_rate * FRAME_RATE))
  curve, _ = beats.music_beat_curve(wav, sample_rate, num, FRAME_RATE)
  return beats.beat_times(curve, FRAME_RATE)


def tempo_error(onsets, bpm: float) -> float:
  """Relative error of the tempo read from the median inter-onset interval (1.0 when fewer
  than two onsets)."""
  o = np.sort(np.asarray(onsets, np.float64))
  if len(o) < 2:
    return 1.0
  return float(abs(60.0 / np.median(np.diff(o)) - bpm) / bpm)


def dominant_pitch(wav: np.ndarray, sample_rate: int) -> float:
  """Median pyin f0 (Hz) over voiced frames; nan when nothing is voiced."""
  import librosa
  y = librosa.resample(np.asarray(wav, np.float32), orig_sr=sample_rate,
                       target_sr=PITCH_SAMPLE_RATE)
  f0, voiced, _ = librosa.pyin(y, fmin=150.0, fmax=800.0, sr=PITCH_SAMPLE_RATE,
                               frame_length=1024, hop_length=256)
  f0 = f0[voiced & np.isfinite(f0)]
  return float(np.median(f0)) if f0.size else float("nan")


def nearest_colour(freq: float) -> str | None:
  """The palette colour whose note is nearest to `freq` in cents (None for nan)."""
  if not np.isfinite(freq) or freq <= 0:
    return None
  names = list(PALETTE)
  cents = [abs(1200 * np.log2(freq / PALETTE[n][1])) for n in names]
  return names[int(np.argmin(cents))]


def clip_metrics(wav: np.ndarray, sample_rate: int, truth: dict) -> dict:
  """Every per-clip figure for generated `wav` against `truth` (a synthetic label dict with
  beats, bpm and color)."""
  onsets = onset_times(wav, sample_rate)
  scores = beat_scores(onsets, truth["beats"])
  pitch = dominant_pitch(wav, sample_rate)
  return dict(beat_f1=scores["f_measure"], beat_hit=scores["bhs"],
              beat_alignment=scores["bas"], tempo_error=tempo_error(onsets, truth["bpm"]),
              colour_correct=float(nearest_colour(pitch) == truth["color"]),
              pitch_hz=pitch, onsets=len(onsets))


def recall_at_k(similarity: np.ndarray, k: int) -> float:
  """similarity [N, N] (row i: video i against every music j; j = i is its own music) ->
  share of videos whose own music ranks in the top k (ties counted against it)."""
  s = np.asarray(similarity, np.float64)
  own = np.diag(s)[:, None]
  rank = (s > own).sum(1) + (s == own).sum(1) - 1  # others at least as similar
  return float(np.mean(rank < k))
