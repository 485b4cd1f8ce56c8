"""Defaults of codec-training configs (`vmas_jax/configs/codec_*.py` call `codec_base_config()`).

`config.codec` holds `EncodecConfig` fields (the architecture); everything else is training.
"""

from __future__ import annotations

import ml_collections

from vmas_jax.models.codec import EncodecConfig
from vmas_jax.sharding import DEFAULT_RULES


def codec_base_config() -> ml_collections.ConfigDict:
  c = ml_collections.ConfigDict()
  c.name = "codec"
  c.seed = 0
  c.total_steps = 2000  # the learning-rate schedule spans this
  c.stop_step = 0  # >0: stop (and save) here; later runs with other settings resume from it
  c.checkpoint_every = 250
  c.keep_checkpoints = 2
  c.log_every = 10
  c.nan_policy = "stop"  # stop | skip (see vmas_jax.train.harness.check_finite)
  c.tensorboard = True
  c.mesh_shape = (-1, 1, 1)
  c.weight_norm = False  # train conv kernels as direction x length (SEANet's weight norm)
  c.logical_axis_rules = [tuple(r) for r in DEFAULT_RULES]

  # -- architecture: EncodecConfig fields; hop = prod(upsampling_ratios) = 640 -> 50 Hz
  c.codec = ml_collections.ConfigDict(dict(
      sample_rate=32000, num_filters=8, hidden_size=64, upsampling_ratios=(8, 5, 4, 4),
      num_residual_layers=1, num_lstm_layers=2, use_conv_shortcut=False, kernel_size=7,
      last_kernel_size=7,
      codebook_size=2048, num_quantizers=4, num_codebooks=4))

  # -- starting point: "random" (numpy draws, codebooks seeded from the first batch) or
  #    "lapped" (vmas_jax.train.codec_lapped_init: the SEANet computes the `dims`-dimensional
  #    PCA transform of 2 * hop windows of `batches` batches of the input (drawn with seed
  #    data.seed + 1, so the training stream is unchanged), codebooks by residual k-means of
  #    its coefficients); a run that starts fresh saves the result as its step 0
  #    or "gainshape" (vmas_jax.train.codec_gainshape_init: `dims` PCA dimensions of the band
  #    below `split_hz`, and the loudness of `bands` log-spaced bands above it, decoded as
  #    noise; latent = log_gain x ln(amplitude): its weight against the PCA dims in the VQ;
  #    dims=0 fills the latents: hidden_size - bands)
  c.init = ml_collections.ConfigDict(dict(kind="random", dims=0, batches=150,
                                          kmeans_iters=15, split_hz=4000.0, bands=4,
                                          log_gain=1.0))

  # -- residual VQ (EMA codebooks)
  c.vq = ml_collections.ConfigDict(dict(decay=0.99, dead_code_fraction=0.1,
                                        commitment_weight=1.0))

  # -- reconstruction losses: time L1, mel L1 (log and linear) and linear-frequency STFT
  #    (log magnitude + spectral convergence; it pins pitch) at several FFT sizes
  c.loss = ml_collections.ConfigDict(dict(
      l1_weight=1.0, mel_weight=1.0, mel_scales=(64, 128, 256, 512, 1024, 2048), mel_bands=64,
      stft_weight=1.0, stft_scales=(512, 1024, 2048, 4096),
      # floor of the log magnitudes (normalised spectra): a floor far below the music lets the
      # many near-silent bins outweigh the few loud ones, and silence becomes the cheap answer
      # for a sparse (tonal) spectrum
      log_eps=1e-5,
      # <0: the floor also rises to each example's loudest bin this many dB down, so that a
      # faint noise floor under the right notes costs less than silence (0: off)
      log_floor_db=0.0,
      # >0: each example (and its reconstruction) is divided by max(rms(example), rms_floor)
      # before the losses, so that quiet segments weigh as much as loud ones
      rms_floor=0.0,
      # >0: + flux_weight * L1 of the onset envelopes (`codec_losses.flux_loss`): quantisation
      # error that changes from frame to frame reads as extra onsets
      flux_weight=0.0))

  # -- adversarial training (vmas_jax.train.codec_disc): a multi-scale STFT discriminator
  #    (FFT sizes `scales`, `filters` channels) trained with Adam at `learning_rate` (the
  #    optimiser's b1, b2 and clipping); from `start_step` on the codec also gets
  #    adv_weight * hinge + feat_weight * feature matching
  c.disc = ml_collections.ConfigDict(dict(
      enabled=False, scales=(1024, 512, 256), filters=16, learning_rate=3e-4, start_step=0,
      adv_weight=3.0, feat_weight=3.0))

  # -- optimiser (AdamW of vmas_jax.train.state.make_optimizer); param_scale > 0: each tensor's
  #    steps scale with its RMS (at least param_scale), the learning rate becomes relative --
  #    what gradient steps from the lapped fit need
  c.optim = ml_collections.ConfigDict(dict(
      learning_rate=5e-4, b1=0.5, b2=0.9, weight_decay=0.0, grad_clip=1.0, warmup_steps=50,
      min_lr_ratio=0.1, param_scale=0.0))

  # -- input: random segments of an audio folder / CSV and of synthetic music
  c.data = ml_collections.ConfigDict(dict(
      audio="", segment_seconds=1.0, synthetic_fraction=0.5, seed=0, global_batch_size=8))
  return c


def encodec_config(config) -> EncodecConfig:
  """The `EncodecConfig` of a codec-training config."""
  fields = dict(config.codec)
  fields["upsampling_ratios"] = tuple(fields["upsampling_ratios"])
  return EncodecConfig(**fields)
