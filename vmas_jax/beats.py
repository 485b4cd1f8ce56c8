"""Video and music beat curves at the codec frame rate. Pure numpy + librosa.

Video: novelty 1 - cos(f_t, f_{t-1}) of per-frame embeddings (at the backbone's rate) plus
motion energy (mean absolute difference of low-resolution gray frames, at its own rate of
>= 24 fps: the backbone's few fps would blur beats), each normalized, put on the
`frame_rate` grid (50 Hz for EnCodec 32 kHz) and smoothed.  Normalization divides by max(peak, floor), so a
still video stays near zero and yields no beats instead of amplified noise.

Music: librosa onset strength with hop = sr / frame_rate (640 at 32 kHz) and librosa beat
tracking on that envelope, so the curve lines up frame-for-frame with the codec tokens.
"""

from __future__ import annotations

import numpy as np

# Change levels that count as "full scale" at the least: cosine distance between frame
# embeddings, and mean absolute pixel change (0..1) between low-res frames.
NOVELTY_FLOOR = 0.05
MOTION_FLOOR = 0.01


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


def _novelty_on_grid(novelty, times, grid, motion_grid):
  """Place each novelty value [T] (a change between samples k-1 and k) on the fine grid.

  Where the fine motion curve moves inside (t_{k-1}, t_k], the novelty takes the shape of
  the motion there (peak n_k where motion peaks), so a change seen only at the coarse
  backbone rate is put where the fast motion shows it happened; elsewhere it is a spike
  at t_k, the first sample that shows the change.
  """
  out = np.zeros(len(grid), np.float64)
  step = grid[1] - grid[0] if len(grid) > 1 else 1.0
  for k in np.flatnonzero(novelty[1:] > 0) + 1:
    lo = np.searchsorted(grid, times[k - 1] + 1e-9, side="left")
    hi = np.searchsorted(grid, times[k] + 1e-9, side="right")
    seg = motion_grid[lo:hi] if motion_grid is not None else np.zeros(0)
    if seg.size and seg.max() >= MOTION_FLOOR:
      out[lo:hi] = np.maximum(out[lo:hi], novelty[k] * seg / seg.max())
    else:
      j = int(np.clip(np.round(times[k] / step), 0, len(grid) - 1))
      out[j] = max(out[j], novelty[k])
  return out


def video_beat_curve(num_frames: int, frame_rate: float = 50, *, embeds=None,
                     embed_times=None, motion=None, motion_times=None,
                     smooth_seconds: float = 0.02) -> np.ndarray:
  """Video accent curve float32 [num_frames] in [0, 1] on the codec frame grid.

  embeds [T_e, D] frame embeddings at embed_times [T_e] (the backbone rate), and/or motion:
  low-res frames [T_m, h, w] or motion energy [T_m] at motion_times [T_m] (its own, faster
  rate).  Grid point j is time j / frame_rate.  Motion is interpolated onto the grid;
  embedding novelty is placed by `_novelty_on_grid`; the two are averaged and smoothed.  A
  part whose peak stays under its floor (it sees no change: a still scene, or a backbone
  blind to what moves) is left out of the average while the other part sees change, so it
  does not halve the other's peaks; when some part sees change the curve is rescaled to
  peak 1 (undoing what interpolation and smoothing shaved off the peaks).
  """
  if embeds is None and motion is None:
    raise ValueError("video_beat_curve needs embeds, motion, or both")
  grid = np.arange(num_frames) / frame_rate
  parts, active, motion_grid = [], [], None
  if motion is not None:
    t = np.asarray(motion_times, np.float64)
    m = np.asarray(motion, np.float32)
    m = motion_energy(m) if m.ndim > 1 else m
    active.append(float(m.max(initial=0.0)) >= MOTION_FLOOR)
    m = m / max(float(m.max(initial=0.0)), MOTION_FLOOR)
    motion_grid = (np.interp(grid, t, m, left=0.0, right=0.0) if len(t) >= 2
                   else np.zeros(num_frames))  # one frame has no change to measure
    parts.append(motion_grid)
  if embeds is not None:
    t = np.asarray(embed_times, np.float64)
    n = embedding_novelty(embeds) if len(t) >= 2 else np.zeros(len(t), np.float32)
    active.append(float(n.max(initial=0.0)) >= NOVELTY_FLOOR)
    n = n / max(float(n.max(initial=0.0)), NOVELTY_FLOOR)
    parts.append(_novelty_on_grid(n, t, grid, motion_grid))
  if any(active):
    parts = [p for p, a in zip(parts, active) if a]
  curve = _gaussian_smooth(np.mean(parts, axis=0), smooth_seconds * frame_rate)
  if any(active) and curve.max(initial=0.0) > 0:
    curve = curve / curve.max()
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
