"""Gradient steps on the bundled codec's decoder LSTM alone, with the onset-envelope (flux)
loss: how far a trained decoder moves melody onsets, and what it costs in pitch.

  .venv/bin/python benchmarks/codec_decoder_lstm.py --corpus /tmp/codec_corpus \\
      --audio DIR --max-files 16 [--flux 0,5,15] [--ac 0] [--steps 1000]

The fit leaves the decoder's LSTM at zero (an identity through its skip), and its waveform
channels at ~1e-5, so that the ELUs after it stay linear.  Plain steps on those weights blow
the decoder up (README, "Audio codec").  Here the LSTM is trained in coordinates scaled to
the fit, and folded back into ordinary SEANet LSTM weights for every forward pass, so what is
scored is an `EncodecModel` decoder:

- input weights are divided by each input channel's rms, so the gates see O(1) inputs;
- units on waveform channels have constant output gates, sigmoid(log(oscale * rms)): each
  writes at most oscale times its channel's rms.  A learned output gate there can open to 1
  and write O(1) into a 1e-5 channel (tried: the loss jumps by 1000x within 300 steps);
- units on the loudness and constant channels stay shut (output-gate bias -40);
- units on the channels that `up0_conv` does not read are free memory, O(1) and ungated.

The encoder and codebooks stay as fitted.  Each run starts from the fit (the LSTM's output
exactly zero), takes --steps Adam steps on batches of precomputed codes (1-s segments: 40 %
the synthetic generator's, 60 % from --corpus if given) against the codec's time L1 +
multi-resolution mel + linear STFT losses plus --flux times `codec_losses.flux_loss` (and
--ac times an L1 distance between the frames' normalised autocorrelations, the periodicity
pitch trackers read), then scores as `codec_vq_error.py` does.  ~6 minutes per run on a
2-core CPU, ~2 to score.  README, "Audio codec", quotes its output.
"""

from __future__ import annotations

import argparse
import time

import numpy as np


def main():
  p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  p.add_argument("--flux", default="0,5,15", help="comma list of flux weights, one run each")
  p.add_argument("--steps", type=int, default=1000)
  p.add_argument("--lr", type=float, default=3e-3)
  p.add_argument("--ac", default="0",
                 help="comma list of periodicity-loss weights, one per --flux run (last repeats)")
  p.add_argument("--oscale", type=float, default=2.0)
  p.add_argument("--batch", type=int, default=8)
  p.add_argument("--pool", type=int, default=1200, help="training segments (1 s each)")
  p.add_argument("--corpus", default=None, help="folder of licence-clean training audio")
  p.add_argument("--melodies", type=int, default=4)
  p.add_argument("--audio", default=None, help="folder of real music (log-mel, onset F1)")
  p.add_argument("--max-files", type=int, default=8)
  args = p.parse_args()

  import jax
  import jax.numpy as jnp
  import ml_collections
  import optax

  from codec_scoring import score_variants  # benchmarks/, the script's own folder

  from vmas_jax.build import make_codec
  from vmas_jax.data.synthetic_audio import random_segment
  from vmas_jax.models.codec import BUNDLED_CODEC, rvq_decode, rvq_encode
  from vmas_jax.train import codec_losses
  from vmas_jax.train.codec_config import codec_base_config

  module, variables = make_codec(ml_collections.ConfigDict(dict(hf_path=str(BUNDLED_CODEC))))
  params = variables["params"]
  books, dec = params["codebooks"], params["decoder"]
  sr = module.config.sample_rate

  @jax.jit
  def codes_latents(wav):  # [B, T] -> quantised latents [B, F, hidden]
    z = module.apply(variables, wav[..., None], method=lambda m, x: m.encoder(x))
    return rvq_decode(books, rvq_encode(books, z))

  # -- training segments and their quantised latents
  rng = np.random.default_rng(5)
  corpus = []
  if args.corpus:
    from vmas_jax.data.audio_io import load_audio
    from vmas_jax.data.audio_segments import list_audio
    corpus = [w for w in (load_audio(f, sr) for f in list_audio(args.corpus)) if len(w) > sr]
  pool = []
  for _ in range(args.pool):
    if corpus and rng.random() < 0.6:
      w = corpus[rng.integers(len(corpus))]
      start = rng.integers(0, len(w) - sr)
      pool.append(w[start:start + sr])
    else:
      pool.append(random_segment(rng, 1.0, sr)[0][:sr])
  pool = np.stack(pool).astype(np.float32)
  zpool = np.concatenate([np.asarray(codes_latents(jnp.asarray(pool[i:i + 32])))
                          for i in range(0, len(pool), 32)])

  # -- the LSTM's channels (conv_in's outputs), as the fit laid them out
  kernel, bias = np.asarray(dec["conv_in"]["kernel"]), np.asarray(dec["conv_in"]["bias"])
  width = kernel.shape[-1]
  padded = np.pad(zpool[:64], ((0, 0), (1, 1), (0, 0)), mode="reflect")
  frames = zpool.shape[1]
  act = sum(np.einsum("bfc,cd->bfd", padded[:, k:k + frames], kernel[k])
            for k in range(kernel.shape[0])) + bias
  rms = np.sqrt((act ** 2).mean((0, 1)))
  read = np.abs(np.asarray(dec["up0_conv"]["kernel"])).sum((0, 2)) > 0
  wave = (np.abs(kernel).sum((0, 1)) > 0) & (bias == 0) & read  # waveform coefficients
  free = ~read  # not read by up0_conv: free memory units
  print(f"LSTM channels: {wave.sum()} waveform (rms {rms[wave].min():.1e}-{rms[wave].max():.1e}),"
        f" {(~wave & ~free).sum()} loudness/constant (kept shut), {free.sum()} free", flush=True)

  in_scale = np.where(wave, 1.0 / np.maximum(rms, 1e-30), 1.0).astype(np.float32)
  in_scale[free] = 0.0  # those channels hold zeros
  out_scale = np.where(wave, args.oscale * rms, 1.0).astype(np.float32)
  o_bias = np.zeros(width, np.float32)
  o_bias[wave] = np.log(out_scale[wave])
  o_bias[~wave & ~free] = -40.0
  gate_mask = np.ones(4 * width, np.float32)  # PyTorch gate order i, f, g, o
  gate_mask[3 * width:] = free  # only the free units learn their output gates

  def lstm_weights(theta):
    """Scaled coordinates -> the SEANet LSTM's `kernel_ih_0`, `kernel_hh_0`, `bias_0`."""
    return {"kernel_ih_0": theta["wi"] * in_scale[:, None] * gate_mask,
            "kernel_hh_0": theta["wh"] / out_scale[:, None] * gate_mask,
            "bias_0": theta["b"] * gate_mask + np.concatenate([np.zeros(3 * width), o_bias])}

  def decode(theta, zq):  # [B, F, hidden] -> [B, T]
    d = {**dec, "lstm": lstm_weights(theta)}
    return module.apply({"params": {**params, "decoder": d}}, zq,
                        method=lambda m, x: m.decoder(x))[..., 0]

  def autocorr(w):  # [B, T] -> normalised autocorrelation [B, frames, lags], energy [B, frames]
    # pyin reads pitch from each frame's periodicity; lags up to 420 samples reach 76 Hz
    n, hop = 2048, 512
    f = jnp.stack([w[:, i:i + n] for i in range(0, w.shape[1] - n + 1, hop)], 1)
    f = f * jnp.hanning(n)
    p = jnp.abs(jnp.fft.rfft(f, 2 * n)) ** 2
    r = jnp.fft.irfft(p, 2 * n)[..., :420]
    return r / (r[..., :1] + 1e-8), r[..., 0]

  def train(flux_weight, ac_weight=0.0):
    cfg = codec_base_config().loss
    cfg.flux_weight = flux_weight
    init = np.random.default_rng(1)
    theta = {k: jnp.asarray(init.normal(size=(width, 4 * width)) * 0.02 / np.sqrt(width),
                            jnp.float32) for k in ("wi", "wh")}
    theta["b"] = jnp.zeros(4 * width, jnp.float32)
    tx = optax.chain(optax.clip_by_global_norm(1.0), optax.adam(
        optax.warmup_cosine_decay_schedule(0.0, args.lr, 50, args.steps, args.lr * 0.1)))

    def loss_fn(theta, zq, wav):
      out = decode(theta, zq)
      loss, aux = codec_losses.reconstruction_losses(wav, out, cfg, sr)
      if ac_weight:  # periodicity: energy-weighted L1 of the frames' autocorrelations
        ro, eo = autocorr(wav)
        rr, _ = autocorr(out)
        wgt = eo / (eo.sum(1, keepdims=True) + 1e-8)
        loss = loss + ac_weight * jnp.mean(jnp.sum(wgt * jnp.abs(ro - rr).mean(-1), 1))
      return loss, aux

    @jax.jit
    def step(theta, opt, zq, wav):
      (loss, _), grads = jax.value_and_grad(loss_fn, has_aux=True)(theta, zq, wav)
      updates, opt = tx.update(grads, opt, theta)
      return optax.apply_updates(theta, updates), opt, loss

    opt, batches, t0, losses = tx.init(theta), np.random.default_rng(7), time.time(), []
    for i in range(1, args.steps + 1):
      idx = batches.integers(0, len(pool), args.batch)
      theta, opt, loss = step(theta, opt, jnp.asarray(zpool[idx]), jnp.asarray(pool[idx]))
      losses.append(float(loss))
      if i % 100 == 0:
        print(f"flux {flux_weight}: step {i}, mean loss of the last 100 {np.mean(losses[-100:]):.3f}"
              f" ({time.time() - t0:.0f} s)", flush=True)
    return theta

  @jax.jit
  def round_trip(theta, wav):  # [T] -> [T']
    return decode(theta, codes_latents(wav[None]))[0]

  zero = {"wi": jnp.zeros((width, 4 * width)), "wh": jnp.zeros((width, 4 * width)),
          "b": jnp.zeros(4 * width)}
  runs = {"as fitted (LSTM zero)": zero}
  acs = [float(x) for x in args.ac.split(",")]
  for j, w in enumerate(float(x) for x in args.flux.split(",")):
    a = acs[j] if j < len(acs) else acs[-1]
    runs[f"LSTM trained {args.steps} steps, flux {w:g}, ac {a:g}"] = train(w, a)
  score_variants({name: (lambda wav, t=theta: np.asarray(round_trip(t, jnp.asarray(wav)))[:len(wav)])
                  for name, theta in runs.items()}, sr, args.melodies, args.audio, args.max_files)


if __name__ == "__main__":
  main()
