"""Codec reconstruction losses: with a floor far below the music (log_eps 1e-5), a faint noise
floor under the right notes costs more than silence; `log_floor_db` (the floor relative to each
example's loudest bin) puts the right answer first."""

import ml_collections
import numpy as np

from vmas_jax.train import codec_losses


def _config(log_floor_db):
  return ml_collections.ConfigDict(dict(
      l1_weight=0.0, mel_weight=1.0, mel_scales=(512, 2048), mel_bands=64, stft_weight=1.0,
      stft_scales=(1024,), log_eps=1e-5, log_floor_db=log_floor_db, rms_floor=0.0))


def _losses(log_floor_db):
  sr = 32000
  t = np.arange(sr // 2) / sr
  notes = 0.3 * np.sin(2 * np.pi * np.array([[220.0], [440.0]]) * t) * (t < 0.3)
  x = notes.astype(np.float32)
  noise = np.random.default_rng(0).standard_normal(x.shape).astype(np.float32)
  cands = {"silence": 0 * x, "half": 0.5 * x, "noise floor": x + 1e-3 * noise}
  return {k: float(codec_losses.reconstruction_losses(x, y, _config(log_floor_db), sr)[0])
          for k, y in cands.items()}


def test_absolute_floor_prefers_silence_to_a_faint_noise_floor():
  loss = _losses(0.0)
  assert loss["noise floor"] > loss["silence"], loss


def test_relative_floor_ranks_the_faint_noise_floor_first():
  loss = _losses(-60.0)
  assert loss["noise floor"] < loss["half"] < loss["silence"], loss
