"""Beat alignment of generated music with its video, model-independent.

Video beats come from the motion part of the video beat curve (no learned embeddings, so
runs of different models are scored alike); music beats from librosa beat tracking.
"""

from __future__ import annotations

import numpy as np

from vmas_jax import beats
from vmas_jax.data.audio_io import load_audio
from vmas_jax.conditioning import motion_frames
from vmas_jax.eval.beat_metrics import beat_scores

FRAME_RATE = 50


def video_beats(video_path, seconds: float, fps: float = 24.0) -> np.ndarray:
  """Beat times (seconds) of the first `seconds` of a video, from its motion at `fps`."""
  grey, times = motion_frames(video_path, 0.0, seconds, fps)
  n = int(round(seconds * FRAME_RATE))
  curve = beats.video_beat_curve(n, FRAME_RATE, motion=grey, motion_times=times)
  return beats.beat_times(curve, FRAME_RATE)


def score_pair(video_path, wav_path, sample_rate: int = 32000, fps: float = 24.0) -> dict:
  """BCS, BHS, BAS and beat F-measure of the music in `wav_path` against the video's beats."""
  wav = load_audio(wav_path, sample_rate)
  seconds = len(wav) / sample_rate
  _, music = beats.music_beat_curve(wav, sample_rate, int(round(seconds * FRAME_RATE)),
                                    FRAME_RATE)
  vb = video_beats(video_path, seconds, fps)
  return dict(beat_scores(music, vb), music_beats=len(music), video_beats=len(vb),
              seconds=seconds)
