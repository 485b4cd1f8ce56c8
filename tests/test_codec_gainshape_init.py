"""The gain-shape codec written into SEANet weights (`vmas_jax.train.codec_gainshape_init`):
the encoder's ELUs rectify band-pass outputs and take a logarithm, the decoder's ELU takes the
exponential, so each band's loudness above the split survives the round trip over 60 dB, and
the waveform below it survives as the PCA transform."""

import dataclasses
import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from vmas_jax.models.codec import EncodecConfig, EncodecModel
from vmas_jax.train import codec_gainshape_init as gs
from vmas_jax.train import codec_lapped_init as lapped

SR = 32000
# The bundled codec's architecture with small codebooks
CONFIG = EncodecConfig(num_filters=10, hidden_size=64, num_lstm_layers=1, kernel_size=3,
                       last_kernel_size=3, codebook_size=32, num_quantizers=2, num_codebooks=2)
DIMS, BANDS = 40, 8


def _band_noise(seconds, lo, hi, seed):
  rng = np.random.default_rng(seed)
  spec = np.fft.rfft(rng.standard_normal(int(seconds * SR)))
  f = np.fft.rfftfreq(int(seconds * SR), 1 / SR)
  spec[(f < lo) | (f > hi)] = 0
  x = np.fft.irfft(spec, int(seconds * SR))
  return x / x.std()


def _music(seconds, seed):
  """Tones below the split with noisy, decaying highs: the kind of frame the codec fits."""
  rng = np.random.default_rng(seed)
  t = np.arange(int(seconds * SR)) / SR
  out = np.zeros_like(t)
  for start in np.arange(0, seconds, 0.25):
    f0 = rng.choice([220.0, 330.0, 440.0, 523.0])
    env = np.exp(-(t - start) * 6) * (t >= start)
    out += 0.2 * env * np.sin(2 * np.pi * f0 * t)
  out += 0.02 * _band_noise(seconds, 1500, 15000, seed) * (1 + np.sin(2 * np.pi * 2 * t))
  return out.astype(np.float32)


@functools.lru_cache(maxsize=1)
def _fitted():
  segments = [np.stack([_music(1.0, s) for s in range(4 * b, 4 * b + 4)]) for b in range(3)]
  variables = gs.gainshape_codec_variables(CONFIG, segments, dims=DIMS, split_hz=1200.0,
                                           bands=BANDS, log_gain=2.0, kmeans_iters=2,
                                           max_frames=4000)
  module = EncodecModel(CONFIG)
  v = jax.tree.map(jnp.asarray, variables)
  latents = jax.jit(lambda w: module.apply(v, w[..., None],
                                           method=lambda m, x: m.encoder(x)))
  synth = jax.jit(lambda z: module.apply(v, z, method=lambda m, x: m.decoder(x))[..., 0])
  return variables, latents, synth


def _band_energy(wav, lo, hi):
  frames = lapped.windowed_frames(wav, CONFIG.hop_length)[5:-5]
  return gs.band_energies(frames, np.array([lo, hi]), SR)[:, 0].mean()


def test_band_loudness_survives_the_round_trip_over_40_db():
  """Band noise at -40, -20 and 0 dB (rms 0.003 to 0.3): the latent's log-amplitude steps by log_gain x
  ln(10) per 20 dB, and the reconstruction's energy in the band follows the original's: the
  same ratio at every level to within 0.3 dB, and within 2 dB of it (the gain from envelope
  to noise amplitude is a median over the fitting audio, not this noise's)."""
  _, latents, synth = _fitted()
  edges = gs.band_edges(1200.0, BANDS, SR)
  lo, hi = edges[4], edges[5]
  noise = _band_noise(2.0, lo * 1.05, hi * 0.95, seed=7)
  levels = [1e-2, 1e-1, 1.0]
  waves = np.stack([0.3 * g * noise for g in levels]).astype(np.float32)
  z = np.asarray(latents(jnp.asarray(waves)))
  log_amp = np.median(z[:, 10:-10, DIMS + 4], axis=1)
  np.testing.assert_allclose(np.diff(log_amp), 2.0 * np.log(10.0), atol=0.1)
  rec = np.asarray(synth(jnp.asarray(z)))[:, :waves.shape[1]]
  ratio_db = [10 * np.log10(_band_energy(r, lo, hi) / _band_energy(w, lo, hi))
              for w, r in zip(waves, rec)]
  print(f"reconstructed / original band energy, dB: {np.round(ratio_db, 2)}")
  assert np.ptp(ratio_db) < 0.3 and np.all(np.abs(ratio_db) < 2.0), ratio_db
  # the other bands stay quiet: noise is written only where the input has it
  far = _band_energy(rec[-1], edges[0], edges[1]) / _band_energy(rec[-1], lo, hi)
  assert far < 1e-2, far


def test_low_band_waveform_survives_and_high_band_is_noise_of_the_right_loudness():
  """A tone below the split comes back as the same waveform (the PCA transform, here
  unquantised); the high band's loudness per band comes back, its waveform does not."""
  _, latents, synth = _fitted()
  wav = _music(2.0, seed=99)
  rec = np.asarray(synth(latents(jnp.asarray(wav[None]))))[0, :len(wav)]

  def lowpass(x, fc=900.0):
    spec = np.fft.rfft(x)
    spec[np.fft.rfftfreq(len(x), 1 / SR) > fc] = 0
    return np.fft.irfft(spec, len(x))

  core = slice(SR // 4, -SR // 4)
  err = lowpass(rec)[core] - lowpass(wav)[core]
  snr = 10 * np.log10(np.sum(lowpass(wav)[core] ** 2) / np.sum(err ** 2))
  assert snr > 15, snr
  edges = gs.band_edges(1200.0, BANDS, SR)
  for lo, hi in zip(edges[1:-2], edges[2:-1]):
    ratio_db = 10 * np.log10(_band_energy(rec, lo, hi) / _band_energy(wav, lo, hi))
    assert abs(ratio_db) < 3.0, (lo, hi, ratio_db)


def test_log_ramps_fit_the_logarithm_of_the_uncored_amplitude():
  """The ELU ramps on the cored envelope give ln(phases / pi x amplitude) within 0.05 from
  -60 dBFS to full scale, and a silent band (envelope 0) reads as the floor."""
  phases, threshold, floor = 8, 1e-4, 2e-4
  knots = np.geomspace(floor, 2.0, 14)
  w, off = gs.log_ramps(knots, 4.0, floor, 4.0, phases, threshold)

  def latent(a):
    z = 4.0 * (np.asarray(a)[:, None] / knots - 1)
    return np.where(z > 0, z + 1, np.exp(np.minimum(z, 0))) @ w + off

  amp = np.geomspace(1e-3, 1.0, 500)
  got = latent(gs.cored_envelope(amp, phases, threshold))
  assert np.max(np.abs(got - np.log(phases / np.pi * amp))) < 0.05
  assert abs(latent([0.0])[0] - np.log(floor)) < 0.05
  # the coring's bias the fit undoes: -1.3 dB at -60 dBFS
  assert gs.cored_envelope(np.array([1e-3]), phases, threshold)[0] < 0.86 * phases / np.pi * 1e-3


def test_architectures_without_room_are_refused():
  with pytest.raises(ValueError, match="hidden channels"):
    gs.GainShapeLayout(CONFIG, DIMS, 16)
  with pytest.raises(ValueError, match="log knots"):
    gs.GainShapeLayout(dataclasses.replace(CONFIG, hidden_size=128), 100, 8)
  with pytest.raises(ValueError, match="hidden_size"):
    gs.GainShapeLayout(CONFIG, 60, 8)


@pytest.mark.parametrize("overrides,message", [
    (["--config.total_steps=5"], "set --config.total_steps=0"),
    (["--config.init.kind=foo"], "init.kind='foo': expected random | lapped | gainshape"),
    (["--config.init.bands=12"], "fewer than 8 log knots x 12 bands"),
    (["--config.init.kind=lapped", "--config.init.dims=500"], "500 basis dimensions"),
])
def test_bad_init_settings_are_refused_in_one_line_before_any_work(tmp_path, capsys,
                                                                   overrides, message):
  """`vmas codec train` checks `init` against the architecture before reading any data: exit
  status 2, one line naming the setting, no traceback, no workdir."""
  from vmas_jax import cli
  assert cli.main(["codec", "train", "--config", "codec_bundled", "--workdir",
                   str(tmp_path / "w"), *overrides]) == 2
  err = capsys.readouterr().err
  assert err.startswith("vmas codec train: ") and message in err and "Traceback" not in err
  assert not (tmp_path / "w").exists()
