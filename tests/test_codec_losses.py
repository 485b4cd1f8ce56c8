"""Codec reconstruction losses: with a floor far below the music (log_eps 1e-5), a faint noise
floor under the right notes costs more than silence; `log_floor_db` (the floor relative to each
example's loudest bin) puts the right answer first."""

import jax.numpy as jnp
import ml_collections
import numpy as np

from vmas_jax.eval.codec_quality import held_out_notes
from vmas_jax.train import codec_losses


def _config(log_floor_db):
  return ml_collections.ConfigDict(dict(
      l1_weight=0.0, mel_weight=1.0, mel_scales=(512, 2048), mel_bands=64, stft_weight=1.0,
      stft_scales=(1024,), log_eps=1e-5, log_floor_db=log_floor_db, rms_floor=0.0,
      flux_weight=0.0))


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


def test_onset_envelope_is_librosas_onset_strength():
  """The flux loss reads what `vmas bench codec-quality`'s onset detection reads: librosa's
  onset strength, which pads 3 frames in front (lag 1 + its centring of n_fft / 2 hop) and
  trims the end to the spectrogram's length."""
  import librosa
  wav, _ = held_out_notes(1000, 3.0, 32000)
  ours = np.asarray(codec_losses.onset_envelope(jnp.asarray(wav[None]), 32000))[0]
  ref = librosa.onset.onset_strength(y=wav, sr=32000)
  n = len(ref) - 3
  np.testing.assert_allclose(ours[:n], ref[3:], atol=2e-3 * ref.max())


def test_flux_loss_ignores_a_gain_and_charges_frame_to_frame_wobble():
  """A quieter copy has the same onsets (loss ~0); the same notes with a loudness that jumps
  every 20 ms (what a codec's frame-by-frame error does) get flux between the notes."""
  wav, _ = held_out_notes(1001, 3.0, 32000)
  wobble = 1.0 + 0.3 * np.random.default_rng(0).standard_normal(len(wav) // 640 + 1)
  wobbly = wav * np.repeat(wobble, 640)[:len(wav)]
  loss = lambda y: float(codec_losses.flux_loss(jnp.asarray(wav[None]), jnp.asarray(y[None]),
                                                32000))
  assert loss(wav) == 0.0
  assert loss(0.5 * wav) < 0.01
  assert loss(wobbly) > 0.3
