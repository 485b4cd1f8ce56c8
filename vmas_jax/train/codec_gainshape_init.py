"""A gain-shape codec written into SEANet weights: the waveform below `split_hz` as PCA
coefficients, and above it only each band's loudness, sent as log-amplitudes and decoded as
noise of that loudness.

Why: 4 x 11 bits a 20 ms frame cannot carry the whole spectrum's shape, and a transform codec
that tries (`codec_lapped_init`) spreads its quantisation noise over every band, so loudness
wobbles from frame to frame (extra onsets), quiet bands fill with noise and the highs come out
too quiet (log-mel error).  In the top octaves a listener, and a mel spectrogram, mostly hear
each band's loudness; sending the low band's waveform and the high bands' loudness keeps the
highs at the right level.  The split trades pitch for loudness: harmonics above it become
noise (README, "Audio codec").

  variables = gainshape_codec_variables(config, segments, dims=96, split_hz=4000, bands=4)

How the SEANet computes it (the rest of the network is the lapped transform's identity
paths; see `codec_lapped_init`):
- Envelope detection, encoder stage before the last strided conv (polyphase channels, one
  block of `P` samples per step): the residual block's first conv reads 3 blocks (3 P samples)
  and computes, for each band, `phases` quadrature band-pass outputs y_j (modulated at the
  band's centre with phase offsets 2 pi j / phases, under a Kaiser window).  Its ELU sees
  u = scale (y_j - `_THRESHOLD`) with scale = `_RECTIFY_SCALE`, and (ELU(u) + 1) / scale =
  max(y_j - threshold, 0) to within 1 / scale; summed over j that is ~(phases / pi) x the
  band's amplitude envelope.  The 1x1 conv adds the sum, times `_ENVELOPE_GAIN`, onto one
  polyphase channel per band (the "envelope channels"): their waveform content is swamped,
  and the analysis ignores those channels.
- Analysis, the last strided conv: the PCA coefficients of the window through an estimator
  that reads only the other channels (least squares on the fitting data: the low band is
  oversampled, so the missing samples are interpolated); and per band, the window-weighted
  mean envelope `a`, at `knots` thresholds t_k: s (a / t_k - 1).
- Logarithm, the ELU before the last conv: ELU(s (a / t_k - 1)) + 1 is a soft ramp at t_k; the
  last conv sums the ramps with least-squares weights into `log_gain` x ln(a / floor).
- Exponential, the decoder's first ELU: it sees ln(a) - C, where ELU(u) + 1 = e^u; a constant
  channel (bias 1) supplies the +1, less the amplitude of a silent band.  The first transposed
  conv writes, per band, a fixed noise atom (unit energy in the band, random phases) times the
  amplitude, beside the PCA synthesis.
"""

from __future__ import annotations

import jax
import numpy as np

from vmas_jax.models.codec import EncodecConfig
from vmas_jax.train import codec_lapped_init as lapped

_RECTIFY_SCALE = 1e7  # band-pass outputs (waveform units) as their ELU sees them
# Band-pass outputs below this (-80 dBFS) are cored to exactly zero.  A loud low tone leaves
# float32 rounding of ~1e-8 and filter leakage of ~1e-5 in a silent band: taken through the
# logarithm, that noise would be latents that differ between implementations (HF parity).
_THRESHOLD = 1e-4
_ENVELOPE_GAIN = 1e5  # envelope sums on the envelope channels, over the waveform's 1e-3
_RAMP_SHARPNESS = 4.0  # s of the log ramps (a smooth ramp: width ~ t_k / s)
_AMP_MAX = 4.0  # the largest envelope the decoder's exponential is exact for (e^u, u < 0)


def band_edges(split_hz: float, bands: int, sample_rate: int) -> np.ndarray:
  """`[bands + 1]` log-spaced band edges from `split_hz` to the Nyquist frequency."""
  return np.geomspace(split_hz, sample_rate / 2 + 1, bands + 1)


def quadrature_filters(edges: np.ndarray, length: int, phases: int,
                       sample_rate: int) -> np.ndarray:
  """`[bands, phases, length]` correlation weights: a Kaiser-windowed band-pass of each band
  (unit passband gain), modulated at its centre with phase offsets 2 pi j / phases."""
  n = np.arange(length) - (length - 1) / 2
  taper = np.kaiser(length, 10.0)  # sidelobes ~100 dB down
  out = np.zeros((len(edges) - 1, phases, length))
  for b, (lo, hi) in enumerate(zip(edges[:-1], edges[1:])):
    centre, half = (lo + hi) / 2, (hi - lo) / 2
    proto = 2 * half / sample_rate * np.sinc(2 * half / sample_rate * n) * taper
    proto /= proto.sum()  # unit gain at the centre frequency after modulation (x 2 below)
    for j in range(phases):
      out[b, j] = 2 * proto * np.cos(2 * np.pi * centre / sample_rate * n + 2 * np.pi * j / phases)
  return out


def cored_envelope(amplitude: np.ndarray, phases: int, threshold: float) -> np.ndarray:
  """The envelope the encoder measures for a steady band of `amplitude`:
  sum_j max(A cos(phi + 2 pi j / phases) - threshold, 0) averaged over phi, i.e.
  phases / pi x (sqrt(A^2 - t^2) - t arccos(t / A)); phases / pi x A at threshold 0."""
  amp = np.maximum(np.asarray(amplitude, np.float64), threshold)
  return phases / np.pi * (np.sqrt(amp ** 2 - threshold ** 2)
                           - threshold * np.arccos(np.minimum(threshold / np.maximum(amp, 1e-30),
                                                              1.0)))


def log_ramps(knots: np.ndarray, sharpness: float, lo: float, hi: float, phases: int = 1,
              threshold: float = 0.0):
  """Least-squares weights `[K]` and offset such that the network's
  sum_k w_k ramp_k(a) + offset, ramp_k(a) = ELU(s (a / t_k - 1)) + 1, of the measured envelope
  a = cored_envelope(A) is ln(phases / pi x A) for envelopes in [lo, hi] (undoing the coring's
  bias at low levels), and ln(lo) below lo (so a silent band reads as `lo`)."""
  amp = np.geomspace(threshold * 1.001 + 1e-12, hi * np.pi / phases * 2, 4000)
  env = cored_envelope(amp, phases, threshold)
  keep = (env >= lo) & (env <= hi)
  a = np.concatenate([np.linspace(0.0, lo, 200, endpoint=False), env[keep]])
  target = np.concatenate([np.full(200, np.log(lo)), np.log(phases / np.pi * amp[keep])])
  z = sharpness * (a[:, None] / knots[None] - 1)
  ramps = np.where(z > 0, z + 1, np.exp(np.minimum(z, 0)))
  design = np.concatenate([ramps, np.ones((len(a), 1))], 1)
  coef, *_ = np.linalg.lstsq(design, target, rcond=None)
  return coef[:-1], coef[-1]


def noise_atoms(edges: np.ndarray, length: int, sample_rate: int, seed: int = 1) -> np.ndarray:
  """`[bands, length]`: random-phase signals spread evenly over each band, scaled so that once
  windowed (sine), overlap-added at hop length / 2 and windowed again for analysis, a frame
  has rfft energy 1 in the band (the decoder's synthesis of a band of loudness sqrt(energy);
  the atom alone has energy 2: each analysis window sees half of it, from two frames)."""
  freqs = np.fft.rfftfreq(length, 1 / sample_rate)
  rng = np.random.default_rng(seed)
  atoms = []
  for lo, hi in zip(edges[:-1], edges[1:]):
    band = (freqs >= lo) & (freqs < hi)
    spec = np.zeros(len(freqs), complex)
    spec[band] = np.exp(2j * np.pi * rng.uniform(size=band.sum())) * np.sqrt(2 / band.sum())
    atoms.append(np.fft.irfft(spec, length))
  return np.stack(atoms)


def band_energies(frames: np.ndarray, edges: np.ndarray, sample_rate: int) -> np.ndarray:
  """Windowed frames `[M, W]` -> `[M, bands]` rfft energy in each band."""
  spec = np.abs(np.fft.rfft(frames, axis=1)) ** 2
  freqs = np.fft.rfftfreq(frames.shape[1], 1 / sample_rate)
  return np.stack([spec[:, (freqs >= lo) & (freqs < hi)].sum(1)
                   for lo, hi in zip(edges[:-1], edges[1:])], 1)


class GainShapeLayout:
  """Where everything sits: the polyphase width `P` of the last encoder stage, the envelope
  channels, the band-pass phases (as many as the residual block's hidden channels allow) and
  log knots (as many as the last stage's channels allow, at most 14).  Raises ValueError
  naming the field when `config` cannot hold the design."""

  def __init__(self, config: EncodecConfig, dims: int, bands: int):
    lapped.check_lapped_architecture(config, dims)
    strides = list(reversed(config.upsampling_ratios))
    self.block = int(np.prod(strides[:-1]))  # P samples a step before the last conv
    self.taps = 2 * strides[-1]
    width = config.num_filters * 2 ** (len(strides) - 1)
    hidden = width // config.compress
    if config.num_residual_layers < 1 or hidden < 3 * bands:
      raise ValueError(f"gain-shape init: the last encoder stage's residual block has "
                       f"{hidden} hidden channels, fewer than 3 band-pass phases x {bands} "
                       f"bands; raise codec.num_filters or lower init.bands")
    if config.residual_kernel_size != 3:
      raise ValueError("gain-shape init: needs codec.residual_kernel_size=3")
    knots = min(14, (2 * width - dims) // bands)
    if knots < 8:
      raise ValueError(f"gain-shape init: {dims} dims leave {2 * width - dims} of the last "
                       f"stage's {2 * width} channels, fewer than 8 log knots x {bands} bands")
    if dims + bands > config.hidden_size:
      raise ValueError(f"gain-shape init: {dims} dims + {bands} bands exceed codec.hidden_size "
                       f"{config.hidden_size}")
    self.dims, self.bands, self.phases, self.knots = dims, bands, min(hidden // bands, 8), knots
    # one envelope channel per band, spread over the block
    self.env_channels = (np.arange(bands) * self.block // bands + self.block // (2 * bands))
    allowed = np.ones((self.taps, self.block), bool)
    allowed[:, self.env_channels] = False
    self.allowed = allowed.reshape(-1)  # [2 hop] window samples the analysis may read
    self.floor = 2 * _THRESHOLD  # the quietest envelope told apart


def analysis_estimator(raw: np.ndarray, analysis: np.ndarray, allowed: np.ndarray,
                       ridge: float = 1e-6) -> np.ndarray:
  """`[2 hop, D]` weights, zero off `allowed`, whose products with raw frames `[M, 2 hop]` best
  match (least squares) `raw @ analysis`."""
  sub = raw[:, allowed]
  gram = sub.T @ sub
  gram += ridge * np.trace(gram) / len(gram) * np.eye(len(gram))
  est = np.zeros_like(analysis)
  est[allowed] = np.linalg.solve(gram, sub.T @ (raw @ analysis))
  return est


def gainshape_seanet_params(config: EncodecConfig, layout: GainShapeLayout, basis: np.ndarray,
                            analysis_enc: np.ndarray, analysis_dec: np.ndarray,
                            filters: np.ndarray, knots: np.ndarray, ramp_weights: np.ndarray,
                            ramp_offset: float, log_gain: float, atoms: np.ndarray,
                            shapes, smooth: float = 0.25) -> dict:
  """Encoder and decoder params (numpy) of the gain-shape codec; see the module docstring.

  basis `[2 hop, D]` the low band's PCA basis; analysis_enc / analysis_dec `[2 hop, D]`:
  window-weighted analysis (encoder: the estimator that skips the envelope channels) and
  synthesis; filters `[bands, phases, 3 P]`;
  knots `[K]`; atoms `[bands, 2 hop]` windowed noise synthesis, scaled to amplitude 1 of `a`;
  smooth: the decoder's 3-frame smoothing of the log-amplitudes (needs conv kernel 3).
  """
  dims, nb, P, taps = layout.dims, layout.bands, layout.block, layout.taps
  audio, coef = lapped._AUDIO_SCALE, lapped._COEF_SCALE
  params = lapped.lapped_seanet_params(config, basis, shapes)
  enc, dec = params["encoder"], params["decoder"]
  last = len(config.upsampling_ratios) - 1

  # -- envelope detection in the last stage's residual block
  res = enc[f"down{last}_res0"]
  conv1 = res["conv1"]["kernel"]  # [3, P, P / 2]: tap t reads block t - 1 of 3
  conv1[:] = 0
  for b in range(nb):
    for j in range(layout.phases):
      conv1[:, :, b * layout.phases + j] = (filters[b, j].reshape(3, P)
                                            * (_RECTIFY_SCALE / audio))
  res["conv1"]["bias"][:nb * layout.phases] = -_RECTIFY_SCALE * _THRESHOLD
  conv2 = res["conv2"]["kernel"]  # [1, P / 2, P]
  conv2[:] = 0
  for b in range(nb):
    conv2[0, b * layout.phases:(b + 1) * layout.phases, layout.env_channels[b]] = (
        _ENVELOPE_GAIN / _RECTIFY_SCALE)
    # + 1 per phase: ELU(u) + 1 = e^u -> 0 below the threshold, exactly for u < -17
    res["conv2"]["bias"][layout.env_channels[b]] = layout.phases * _ENVELOPE_GAIN / _RECTIFY_SCALE

  # -- analysis: PCA through the estimator; per band, the mean envelope at each knot
  down = enc[f"down{last}_conv"]["kernel"]  # [taps, P, C]
  down[:] = 0
  down[:, :, :dims] = analysis_enc.reshape(taps, P, dims) * (coef / audio)
  window = lapped.sine_window(P * taps)  # [2 hop]
  block_weight = (window ** 2).reshape(taps, P).sum(1)
  block_weight /= block_weight.sum()
  bias = enc[f"down{last}_conv"]["bias"]
  bias[:] = 0
  for b in range(nb):
    for k, t in enumerate(knots):
      ch = dims + b * layout.knots + k
      down[:, layout.env_channels[b], ch] = block_weight * (_RAMP_SHARPNESS / (_ENVELOPE_GAIN * t))
      bias[ch] = -_RAMP_SHARPNESS

  # -- logarithm: the last conv sums the ramps (ELU + 1) into log_gain * ln(a)
  out = enc["conv_out"]["kernel"]  # [k, C, hidden], centre tap
  centre = out.shape[0] // 2
  out_bias = enc["conv_out"]["bias"]
  for b in range(nb):
    chans = dims + b * layout.knots + np.arange(layout.knots)
    out[centre, chans, dims + b] = log_gain * ramp_weights
    # centred on the floor: a silent band's latent is 0 (small latents keep the VQ's
    # distances precise in float32, so near-ties break alike in every implementation)
    out_bias[dims + b] = log_gain * (ramp_weights.sum() + ramp_offset - np.log(layout.floor))

  # -- decoder: ln(a) - C -> ELU + 1 = a / e^C -> noise atoms beside the PCA synthesis
  c_max = np.log(_AMP_MAX)
  dconv = dec["conv_in"]["kernel"]
  dcentre = dconv.shape[0] // 2
  dbias = dec["conv_in"]["bias"]
  if smooth and dconv.shape[0] < 3:
    raise ValueError("gain-shape init: smoothing needs codec.kernel_size >= 3 (or smooth=0)")
  const = dims + nb
  for b in range(nb):
    # (smooth, 1 - 2 smooth, smooth) over frames f - 1, f, f + 1: quantisation jitter in
    # a band's loudness reads as onsets, and a 3-frame average halves it
    dconv[dcentre, dims + b, dims + b] = (1.0 - 2 * smooth) / log_gain
    if smooth:
      dconv[dcentre - 1, dims + b, dims + b] = dconv[dcentre + 1, dims + b, dims + b] = (
          smooth / log_gain)
    dbias[dims + b] = np.log(layout.floor) - c_max
  dbias[const] = 1.0
  r0 = config.upsampling_ratios[0]
  up = dec["up0_conv"]["kernel"]  # [2 r0, C_in, hop / r0]
  phases0 = config.hop_length // r0
  up[:, :dims, :phases0] = (analysis_dec.reshape(2 * r0, phases0, dims).transpose(0, 2, 1)
                            * (audio / coef))
  cols = (atoms * np.exp(c_max) * audio).reshape(nb, 2 * r0, phases0).transpose(1, 0, 2)
  up[:, dims:dims + nb, :phases0] = cols
  # The constant channel cancels ELU's -1 and takes off the amplitude of a silent band (the
  # logarithm's floor, where every ramp is at e^-s), so that silence decodes to silence.
  floor_amp = np.exp(ramp_offset + ramp_weights.sum() * np.exp(-_RAMP_SHARPNESS))
  up[:, const, :phases0] = cols.sum(1) * (1.0 - floor_amp / np.exp(c_max))
  return params


def gainshape_codec_variables(config: EncodecConfig, segments, dims: int = 96,
                              split_hz: float = 4000.0, bands: int = 4,
                              log_gain: float = 1.0, smooth: float = 0.25,
                              seed: int = 0,
                              kmeans_iters: int = 15, max_frames: int = 60000) -> dict:
  """`{"params": {encoder, decoder, codebooks}}` of the gain-shape codec fitted to `segments`
  (float32 waveforms `[T]` or batches `[B, T]`): the PCA basis of their low band, the
  encoder's estimator, each band's gain from envelope to noise amplitude, then residual
  k-means of the encoder's own latents."""
  import flax.linen as nn
  import jax.numpy as jnp

  from vmas_jax.models.codec import EncodecModel

  hop, sr = config.hop_length, config.sample_rate
  layout = GainShapeLayout(config, dims, bands)
  waves = [np.asarray(w, np.float32) for seg in segments for w in np.atleast_2d(seg)]
  all_frames = np.concatenate([lapped.windowed_frames(w, hop) for w in waves])  # [F, 2 hop]
  rng = np.random.default_rng(seed)
  frames = all_frames[np.abs(all_frames).max(1) > 0]
  if len(frames) > max_frames:
    frames = frames[np.sort(rng.permutation(len(frames))[:max_frames])]
  window = lapped.sine_window(2 * hop)
  spec = np.fft.rfft(frames, axis=1)
  spec[:, np.fft.rfftfreq(2 * hop, 1 / sr) > split_hz] = 0
  basis = lapped.lapped_pca_basis(np.fft.irfft(spec, 2 * hop, axis=1), dims)
  analysis_dec = window[:, None] * basis
  analysis_enc = analysis_estimator(frames / window, analysis_dec, layout.allowed)

  edges = band_edges(split_hz, bands, sr)
  filters = quadrature_filters(edges, 3 * layout.block, layout.phases, sr)
  knot_values = np.geomspace(layout.floor, 2.0, layout.knots)
  ramp_w, ramp_off = log_ramps(knot_values, _RAMP_SHARPNESS, layout.floor, _AMP_MAX,
                               layout.phases, _THRESHOLD)

  module = EncodecModel(config)
  shapes = jax.eval_shape(lambda: nn.meta.unbox(module.init(jax.random.PRNGKey(0),
                                                            jnp.zeros((1, hop)))))["params"]
  shapes = {k: v for k, v in shapes.items() if k != "codebooks"}
  unit_atoms = noise_atoms(edges, 2 * hop, sr) * window

  def build(gains):
    return gainshape_seanet_params(config, layout, basis, analysis_enc, analysis_dec, filters,
                                   knot_values, ramp_w, ramp_off, log_gain,
                                   unit_atoms * gains[:, None], shapes, smooth)

  # Encode the fitting audio once (the encoder does not depend on the gains), then set each
  # band's gain from envelope to noise amplitude: the median of sqrt(energy) / envelope over
  # the frames where the band is audible.
  params = build(np.ones(bands))
  params["codebooks"] = np.zeros((config.num_quantizers, config.codebook_size,
                                  config.hidden_size), np.float32)
  encode = jax.jit(lambda p, w: module.apply({"params": p}, w[None, :, None],
                                             method=lambda m, x: m.encoder(x))[0])
  latents = np.concatenate([np.asarray(encode(params, jnp.asarray(w))) for w in waves])
  energies = band_energies(all_frames, edges, sr)  # frame for frame with the latents
  envelope = layout.floor * np.exp(latents[:, dims:dims + bands] / log_gain)
  gains = np.full(bands, np.nan)
  for b in range(bands):
    ok = envelope[:, b] > 10 * layout.floor  # well above the coring threshold
    if ok.sum() >= 10:
      gains[b] = np.median(np.sqrt(energies[ok, b]) / envelope[ok, b])
  if np.isnan(gains).all():
    raise ValueError(f"gain-shape init: the fitting audio has no band above {split_hz:.0f} Hz "
                     "louder than -60 dBFS; fit on music with highs")
  gains[np.isnan(gains)] = np.nanmedian(gains)  # a band the fitting audio never reached
  params = build(gains)
  sel = latents[np.abs(latents).max(1) > 0]
  if len(sel) > max_frames:
    sel = sel[np.sort(rng.permutation(len(sel))[:max_frames])]
  params["codebooks"] = lapped.kmeans_rvq(sel, config.num_quantizers, config.codebook_size,
                                          rng, kmeans_iters)
  return {"params": params}
