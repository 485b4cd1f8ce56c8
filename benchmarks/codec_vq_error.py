"""Where the bundled codec's extra melody onsets come from: its residual VQ error, replaced
or post-processed in several ways, then decoded by its own decoder.

  .venv/bin/python benchmarks/codec_vq_error.py [--melodies 4] [--audio DIR --max-files 8]

Scores onset F1 and pitch accuracy on the held-out melodies of `vmas bench codec-quality`.
With --audio, it also scores log-mel L1 and onset F1 on real excerpts (10 s from 30 s in).
Every variant changes only the waveform (PCA) dims of the latents (96 in the bundled codec);
the high-band loudness dims of a gain-shape codec (4 in the bundled one) stay as the VQ left
them.  `--codec DIR` scores another exported codec; its training.json says how many of its
latent dims are loudness.

  exact         the encoder's latents, unquantised
  vq            the round trip as shipped
  noise X       exact latents plus Gaussian noise X dB below each frame's energy
  matched       exact latents plus Gaussian noise as large as that frame's VQ error
  signs         exact latents plus the VQ error with each coefficient's sign drawn at random
  mask X        vq plus one fixed latent vector (a steady noise), X dB below the frame's
                energy, shaped like the latents' spread (sqrt of each dim's rms).  The level
                comes from the exact latents: a codec would have to send it.
  smooth        vq, then a 3-frame linear smoother (the decoder's conv_in could hold it),
                fitted by ridge regression from quantised to exact latents of
                `random_segment` audio (seed 123) and --tones decaying harmonic tones
  smooth+sines  the same, also asked to pass --sines steady sines (40 Hz-4 kHz) unchanged
  dither X      subtractive dither: the VQ quantises exact + d and the decoder gets the
                result - d, d Gaussian X dB below the frame's energy.  The VQ's error is then
                nearly independent of the signal.  The level comes from the exact latents
                (a codec would send it) and both sides draw the same d
  dither osc X  the same with d from 48 sinusoids of fixed random frequencies (1 to pi
                radians per frame) and phases, projected on the dims by a fixed random
                matrix: a dither that LSTMs could generate, running freely from the first
                frame in the encoder and in the decoder alike

~1.5 minutes on a 2-core CPU, ~4 with --audio.  README, "Audio codec", quotes its output.
"""

from __future__ import annotations

import argparse

import numpy as np


def loudness_dims(codec_dir: str) -> int:
  """How many latent dims of an exported codec are high-band loudness: `init.bands` of a
  gain-shape fit (its training.json), else 0."""
  import json
  from pathlib import Path
  meta = Path(codec_dir) / "training.json"
  if not meta.is_file():
    return 0
  init = json.loads(meta.read_text()).get("config", {}).get("init", {})
  return int(init.get("bands", 0)) if init.get("kind") == "gainshape" else 0


def main():
  p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  p.add_argument("--melodies", type=int, default=4)
  p.add_argument("--audio", default=None, help="folder of real music (log-mel, onset F1)")
  p.add_argument("--max-files", type=int, default=8)
  p.add_argument("--fit-segments", type=int, default=600)
  p.add_argument("--tones", type=int, default=150)
  p.add_argument("--sines", type=int, default=400)
  p.add_argument("--ridge", type=float, default=1e-3)
  p.add_argument("--codec", default=None,
                 help="an exported codec directory (default: the bundled codec)")
  args = p.parse_args()

  import jax
  import jax.numpy as jnp
  import ml_collections

  from codec_scoring import score_variants  # benchmarks/, the script's own folder

  from vmas_jax.build import make_codec
  from vmas_jax.data.synthetic_audio import random_segment
  from vmas_jax.models.codec import BUNDLED_CODEC, rvq_decode, rvq_encode

  path = args.codec or str(BUNDLED_CODEC)
  module, variables = make_codec(ml_collections.ConfigDict(dict(hf_path=path)))
  sr, dims = module.config.sample_rate, module.config.hidden_size - loudness_dims(path)
  books = variables["params"]["codebooks"]
  encode = jax.jit(lambda w: module.apply(variables, w[None, :, None],
                                          method=lambda m, x: m.encoder(x))[0])
  decode = jax.jit(lambda z: module.apply(variables, z[None],
                                          method=lambda m, x: m.decoder(x))[0, :, 0])
  quant = jax.jit(lambda z: rvq_decode(books, rvq_encode(books, z[None]))[0])

  def latents(wav):
    z = encode(jnp.asarray(wav, jnp.float32))
    return np.asarray(z), np.asarray(quant(z))

  def stack(z):  # [F, D] -> [F, 3 D]: frames f - 1, f, f + 1 (zeros past the ends)
    pad = np.pad(z, ((1, 1), (0, 0)))
    return np.concatenate([pad[:-2], pad[1:-1], pad[2:]], 1)

  # -- fitting audio: the training generator's segments and decaying harmonic tones
  rng = np.random.default_rng(123)
  waves = [random_segment(rng, 2.0, sr)[0] for _ in range(args.fit_segments)]
  t = np.arange(2 * sr) / sr
  for _ in range(args.tones):
    f0 = 40 * 2 ** rng.uniform(0, 6.5)
    tone = sum(np.sin(2 * np.pi * f0 * k * t + rng.uniform(0, 6.3)) / k ** rng.uniform(0.5, 2)
               for k in range(1, 1 + rng.integers(1, 8)) if f0 * k < 4000)
    waves.append((rng.uniform(0.02, 0.5) * tone * np.exp(-t * rng.uniform(0, 3)))
                 .astype(np.float32))
  pairs = [latents(w) for w in waves]
  x = np.concatenate([stack(zq[:, :dims]) for _, zq in pairs]).astype(np.float64)
  y = np.concatenate([z[:, :dims] for z, _ in pairs]).astype(np.float64)
  spread = np.sqrt(np.sqrt((y ** 2).mean(0)))  # sqrt of each dim's rms
  direction = np.random.default_rng(0).normal(size=dims) * spread
  direction /= np.linalg.norm(direction)

  def fit_smoother(x, y):
    gram = x.T @ x
    lam = args.ridge * np.trace(gram) / len(gram)
    ident = np.zeros((3 * dims, dims))
    ident[dims:2 * dims] = np.eye(dims)
    return np.linalg.solve(gram + lam * np.eye(len(gram)), x.T @ y + lam * ident)

  smoother = fit_smoother(x, y)
  sines = [latents(0.2 * np.sin(2 * np.pi * f0 * t[:sr // 2] + rng.uniform(0, 6.3)))[0][2:-2, :dims]
           for f0 in np.geomspace(40, 4000, args.sines)]
  smoother_sines = fit_smoother(np.concatenate([x] + [stack(z)[1:-1] for z in sines]),
                                np.concatenate([y] + [z[1:-1] for z in sines]))

  noise_rng = np.random.default_rng(0)

  def dither(frames: int, kind: str) -> np.ndarray:
    """`[frames, dims]`, mean squared norm 1 per frame."""
    r = np.random.default_rng(2)
    if kind == "gauss":
      return r.normal(size=(frames, dims)) / np.sqrt(dims)
    sines = 48
    freq, phase = r.uniform(1.0, np.pi, sines), r.uniform(0, 2 * np.pi, sines)
    arg = freq * np.arange(frames)[:, None] + phase
    d = np.concatenate([np.cos(arg), np.sin(arg)], 1) @ r.normal(size=(2 * sines, dims))
    return d / np.sqrt((d ** 2).sum(1).mean())

  def variant(name, z, zq):
    """Latents `[F, hidden]` to decode in place of the quantised `zq`."""
    e, eq = z[:, :dims], zq[:, :dims]
    energy = np.linalg.norm(e, axis=1, keepdims=True)
    if name == "exact":
      w = e
    elif name == "vq":
      w = eq
    elif name.startswith("noise"):
      snr = float(name.split()[1])
      w = e + noise_rng.normal(size=e.shape) * energy / np.sqrt(dims) * 10 ** (-snr / 20)
    elif name == "matched":
      n = noise_rng.normal(size=e.shape)
      w = e + n / np.linalg.norm(n, axis=1, keepdims=True) * np.linalg.norm(eq - e, axis=1,
                                                                             keepdims=True)
    elif name == "signs":
      w = e + (eq - e) * noise_rng.choice([-1.0, 1.0], size=e.shape)
    elif name.startswith("mask"):
      w = eq + direction * energy * 10 ** (-float(name.split()[1]) / 20)
    elif name.startswith("dither"):
      d = (dither(len(e), "osc" if "osc" in name else "gauss")
           * energy * 10 ** (-float(name.split()[-1]) / 20))
      dithered = z.copy()
      dithered[:, :dims] = e + d
      zq = np.asarray(quant(jnp.asarray(dithered)))  # the loudness dims as these codes give
      w = zq[:, :dims] - d
    elif name == "smooth":
      w = stack(eq) @ smoother
    elif name == "smooth+sines":
      w = stack(eq) @ smoother_sines
    else:
      raise ValueError(name)
    out = zq.copy()
    out[:, :dims] = w
    return out.astype(np.float32)

  names = ["exact", "vq", "noise 6", "noise 12", "matched", "signs", "mask 12", "mask 15",
           "dither 12", "dither 15", "dither 18", "dither osc 12",
           "smooth", "smooth+sines"]
  cache = {}

  def decoded(name):
    def fn(wav):  # latents computed once per waveform, shared by the variants
      if cache.get("wav") is not wav:
        cache.update(wav=wav, latents=latents(wav))
      return np.asarray(decode(jnp.asarray(variant(name, *cache["latents"]))))[:len(wav)]
    return fn

  score_variants({n: decoded(n) for n in names}, sr, args.melodies, args.audio, args.max_files)

if __name__ == "__main__":
  main()
