"""Video and music beat curves at the codec frame rate (DESIGN §2.4). Pure numpy + librosa.

Video: novelty 1 - cos(f_t, f_{t-1}) of per-frame embeddings plus motion energy (mean
absolute difference of low-resolution gray frames), each normalized, smoothed and resampled
to `frame_rate` (50 Hz for EnCodec 32 kHz).  Normalization divides by max(peak, floor), so a
still video stays near zero and yields no beats instead of amplified noise.

Music: librosa onset strength with hop = sr / frame_rate (640 at 32 kHz) and librosa beat
tracking on that envelope, so the curve lines up frame-for-frame with the codec tokens.
"""

from __future__ import annotations

import numpy as np

# Change levels that count as "full scale" at the least: cosine distance between frame
# embeddings, and mean absolute pixel change (0..1) between low-res frames.
NOVELTY_FLOOR = 0.05
MOTION_FLOOR = 0.05


def low_res_gray(frames: np.ndarray, size: int = 32) -> np.ndarray:
  """uint8 frames [T, H, W, 3] -> float32 [T, size, size] gray in [0, 1] (block means)."""
  f = np.asarray(frames, np.float32).mean(-1) / 255.0
  t, h, w = f.shape
  if h >= size and w >= size:
    by, bx = h // size, w // size
    return f[:, :by * size, :bx * size].reshape(t, size, by, size, bx).mean((2, 4))
  ys = (np.arange(size) * h) // size
  xs = (np.arange(size) * w) // size
  return f[:, ys][:, :, xs]


def motion_energy(frames_lowres: np.ndarray) -> np.ndarray:
  """[T, h, w] (or [T, h, w, C]) in [0, 1] -> [T] mean |x_t - x_{t-1}|, 0 for the first."""
  x = np.asarray(frames_lowres, np.float32)
  d = np.abs(np.diff(x, axis=0)).reshape(x.shape[0] - 1, -1).mean(-1) if len(x) > 1 else []
  return np.concatenate([[0.0], d]).astype(np.float32)


def embedding_novelty(frame_embeds: np.ndarray) -> np.ndarray:
  """[T, D] -> [T] 1 - cos(f_t, f_{t-1}), 0 for the first frame."""
  f = np.asarray(frame_embeds, np.float64)
  f = f / np.maximum(np.linalg.norm(f, axis=-1, keepdims=True), 1e-8)
  cos = np.sum(f[1:] * f[:-1], axis=-1)
  return np.concatenate([[0.0], np.clip(1.0 - cos, 0.0, 2.0)]).astype(np.float32)


def _gaussian_smooth(x: np.ndarray, sigma: float) -> np.ndarray:
  """Mass-preserving Gaussian smoothing (edges padded with their value)."""
  if sigma <= 0:
    return x
  r = int(np.ceil(3 * sigma))
  k = np.exp(-0.5 * (np.arange(-r, r + 1) / sigma) ** 2)
  return np.convolve(np.pad(x, r, mode="edge"), k / k.sum(), mode="valid")


def video_beat_curve(frame_embeds, motion, times, num_frames: int, frame_rate: float = 50,
                     smooth_seconds: float = 0.02) -> np.ndarray:
  """Video accent curve float32 [num_frames] in [0, 1] on the codec frame grid.

  frame_embeds [T, D] (or None), motion: low-res frames [T, h, w] or motion energy [T]
  (or None), times [T] seconds of each video frame.  Grid point j is time j / frame_rate;
  the sparse video samples are linearly interpolated onto it, then smoothed.
  """
  times = np.asarray(times, np.float64)
  parts = []
  if frame_embeds is not None:
    n = embedding_novelty(frame_embeds)
    parts.append(n / max(float(n.max(initial=0.0)), NOVELTY_FLOOR))
  if motion is not None:
    m = np.asarray(motion, np.float32)
    m = motion_energy(m) if m.ndim > 1 else m
    parts.append(m / max(float(m.max(initial=0.0)), MOTION_FLOOR))
  if not parts:
    raise ValueError("video_beat_curve needs frame_embeds, motion, or both")
  raw = np.clip(np.mean(parts, axis=0), 0.0, 1.0)
  if len(times) < 2:  # one frame has no change to measure
    return np.zeros(num_frames, np.float32)
  grid = np.arange(num_frames) / frame_rate
  curve = np.interp(grid, times, raw, left=0.0, right=0.0)
  curve = _gaussian_smooth(curve, smooth_seconds * frame_rate)
  return np.clip(curve, 0.0, 1.0).astype(np.float32)


def beat_times(curve: np.ndarray, frame_rate: float = 50, threshold: float = 0.3,
               min_interval: float = 0.1) -> np.ndarray:
  """Peak times (seconds) of a [0, 1] curve: local maxima >= threshold, at least
  `min_interval` apart (higher peaks win).  A flat or low curve gives no beats."""
  c = np.asarray(curve, np.float64)
  if len(c) < 3:
    return np.zeros(0, np.float32)
  left = np.concatenate([[-np.inf], c[:-1]])
  right = np.concatenate([c[1:], [-np.inf]])
  peaks = np.flatnonzero((c > left) & (c >= right) & (c >= threshold))  # first of a plateau
  keep: list[int] = []
  gap = min_interval * frame_rate
  for i in peaks[np.argsort(-c[peaks], kind="stable")]:
    if all(abs(i - j) >= gap for j in keep):
      keep.append(int(i))
  return (np.sort(np.asarray(keep, np.float64)) / frame_rate).astype(np.float32)


def music_beat_curve(wav: np.ndarray, sr: int, num_frames: int, frame_rate: float = 50,
                     n_fft: int | None = None):
  """wav [T] or [C, T] -> onset curve float32 [num_frames] in [0, 1], beat times (seconds).

  Hop = sr / frame_rate, so onset frame j is time j / frame_rate, like codec frame j.
  """
  import librosa
  hop = sr / frame_rate
  if abs(hop - round(hop)) > 1e-6:
    raise ValueError(f"sr={sr} is not a multiple of frame_rate={frame_rate}")
  hop = int(round(hop))
  n_fft = n_fft or 2 * hop  # short window: onsets land within one frame of the event
  y = np.asarray(wav, np.float32)
  y = y.mean(0) if y.ndim == 2 else y.reshape(-1)  # [C, T] -> mono
  if y.size == 0:
    return np.zeros(num_frames, np.float32), np.zeros(0, np.float32)
  env = librosa.onset.onset_strength(y=y, sr=sr, hop_length=hop, n_fft=n_fft, center=True)
  # librosa delays the envelope by n_fft // (2 hop) frames (it assumes onsets are seen when
  # they enter the window); with centred short windows they are seen at their own frame.
  env = env[n_fft // (2 * hop):]
  env = np.pad(env, (0, max(0, num_frames - len(env))))[:num_frames]
  peak = float(env.max(initial=0.0))
  curve = env / peak if peak > 1e-8 else np.zeros_like(env)
  if peak <= 1e-8:
    return curve.astype(np.float32), np.zeros(0, np.float32)
  _, beats = librosa.beat.beat_track(onset_envelope=env, sr=sr, hop_length=hop, units="time")
  return curve.astype(np.float32), np.asarray(beats, np.float32)


def beat_target(times, num_frames: int, frame_rate: float = 50,
                sigma_frames: float = 0.0) -> np.ndarray:
  """Beat times (seconds) -> float32 [num_frames]: 1 at each beat's frame, 0 elsewhere; with
  `sigma_frames` > 0 a Gaussian bump (peak 1) around each beat instead."""
  t = np.asarray(times, np.float64).reshape(-1)
  if sigma_frames > 0:
    if t.size == 0:
      return np.zeros(num_frames, np.float32)
    d = np.arange(num_frames)[:, None] - t[None, :] * frame_rate
    return np.exp(-0.5 * (d / sigma_frames) ** 2).max(-1).astype(np.float32)
  y = np.zeros(num_frames, np.float32)
  idx = np.round(t * frame_rate).astype(int)
  y[idx[(idx >= 0) & (idx < num_frames)]] = 1.0
  return y
