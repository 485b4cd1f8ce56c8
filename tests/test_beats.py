"""Beat curves on signals made here: flashing square, clicks at known times, a still video."""

import numpy as np
import pytest

from media_fixtures import write_video
from vmas_jax import beats
from vmas_jax.data.video_io import read_frames

FPS = 8


def _square_video(flash_frames, n=80, noise=2, seed=0):
  rng = np.random.RandomState(seed)
  frames = []
  for i in range(n):
    img = np.full((64, 64, 3), 40, np.int16) + rng.randint(-noise, noise + 1, (64, 64, 1))
    if i in flash_frames:
      img[16:48, 16:48] = 230
    frames.append(np.clip(img, 0, 255).astype(np.uint8))
  return frames


def _video_curve(frames, times, num_frames=500):
  low = beats.low_res_gray(frames, 16)
  embeds = low.reshape(len(low), -1) + 0.5  # a simple per-frame embedding
  return beats.video_beat_curve(num_frames, embeds=embeds, embed_times=times, motion=low,
                                motion_times=times)


def test_flashing_square_gives_video_beats_within_one_frame(tmp_path):
  flashes = [10, 25, 41, 60]
  path = write_video(tmp_path / "flash.mp4", _square_video(flashes), rate=FPS,
                     options={"crf": "18"})
  frames, times = read_frames(path, fps=FPS, size=32)
  curve = _video_curve(frames, times)
  assert curve.shape == (500,) and curve.dtype == np.float32
  assert 0.0 <= curve.min() and curve.max() <= 1.0
  got = beats.beat_times(curve, 50)
  want = np.asarray(flashes) / FPS
  assert len(got) == len(want), (got, want)
  assert np.abs(got - want).max() <= 1.0 / FPS + 1e-6


def test_still_video_gives_no_beats():
  frames = np.stack(_square_video([], n=40, noise=3))
  times = np.arange(40) / FPS
  curve = _video_curve(frames, times, 250)
  assert curve.max() < 0.3
  assert len(beats.beat_times(curve, 50)) == 0


def test_clicks_give_music_beats_within_20ms():
  sr, dur = 32000, 7.0
  y = np.random.RandomState(0).randn(int(sr * dur)).astype(np.float32) * 1e-3
  clicks = 0.513 + 0.5 * np.arange(12)  # 120 BPM, off the 20 ms grid
  for c in clicks:
    y[int(c * sr):int(c * sr) + 64] += np.hanning(64).astype(np.float32) * 0.9
  curve, bt = beats.music_beat_curve(y, sr, num_frames=350)
  assert curve.shape == (350,) and 0 <= curve.min() and curve.max() == pytest.approx(1.0)
  assert len(bt) >= 10
  assert max(np.abs(clicks - b).min() for b in bt) <= 0.020
  # The onset curve peaks at every click as well.
  onsets = beats.beat_times(curve, 50, threshold=0.3)
  assert len(onsets) == 12 and np.abs(onsets - clicks).max() <= 0.020
  silent, none = beats.music_beat_curve(np.zeros(sr, np.float32), sr, 50)
  assert silent.max() == 0 and len(none) == 0


def test_coarse_embedding_novelty_is_placed_where_fast_motion_shows_the_change():
  # a square jumps (and stays) between the 4 fps backbone samples; motion seen at 24 fps
  flashes = np.array([0.375, 1.125, 2.0, 2.625])
  fast = np.arange(72) / 24
  frames = np.full((72, 64, 64, 3), 40, np.uint8)
  for i, t in enumerate(fast):
    k = int(np.searchsorted(flashes, t + 1e-6))  # jumps so far
    frames[i, 8 * k:8 * k + 16, 8 * k:8 * k + 16] = 230
  low = beats.low_res_gray(frames, 16)
  coarse = np.arange(0, 72, 6)  # 4 fps
  embeds = low[coarse].reshape(len(coarse), -1) + 0.5
  novelty_only = beats.video_beat_curve(150, embeds=embeds, embed_times=fast[coarse])
  both = beats.video_beat_curve(150, embeds=embeds, embed_times=fast[coarse], motion=low,
                                motion_times=fast)
  late = beats.beat_times(novelty_only, 50)
  assert len(late) == 4 and np.abs(late - flashes).max() > 0.1  # up to a 4 fps period late
  got = beats.beat_times(both, 50)
  assert len(got) == 4 and np.abs(got - flashes).max() <= 1 / 24 + 1e-6


def test_beat_target_and_peak_picking():
  y = beats.beat_target([0.1, 0.5, 2.0], num_frames=50)
  assert np.flatnonzero(y).tolist() == [5, 25] and y.sum() == 2
  soft = beats.beat_target([0.5], 50, sigma_frames=2.0)
  assert soft.argmax() == 25 and soft.max() == pytest.approx(1.0) and soft[29] < 0.2
  c = np.zeros(100)
  c[[20, 23, 60]] = [0.9, 1.0, 0.25]  # 20 and 23 are closer than min_interval; 60 is low
  np.testing.assert_allclose(beats.beat_times(c, 50), [23 / 50])


def test_motion_and_novelty_helpers():
  x = np.zeros((3, 4, 4), np.float32)
  x[2] = 1.0
  np.testing.assert_allclose(beats.motion_energy(x), [0, 0, 1])
  e = np.array([[1.0, 0], [1, 0], [0, 1]])
  np.testing.assert_allclose(beats.embedding_novelty(e), [0, 0, 1], atol=1e-6)
  frames = np.zeros((2, 64, 48, 3), np.uint8)
  frames[1, :32] = 255
  g = beats.low_res_gray(frames, 8)
  assert g.shape == (2, 8, 8) and g[1, :4].min() == 1.0 and g[1, 4:].max() == 0.0
