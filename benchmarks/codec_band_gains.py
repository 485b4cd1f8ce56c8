"""Band energies and the bundled codec's extra melody onsets: an oracle, and a numpy study of
a gain-shape codec that sends them.

  .venv/bin/python benchmarks/codec_band_gains.py [--audio DIR --max-files 16]

Scores onset F1 and pitch on the held-out melodies of `vmas bench codec-quality` (seeds
1000-1003), and with --audio log-mel L1 and onset F1 on real excerpts (10 s from 30 s in).

1. Oracle.  The bundled codec's round trip with the energy of each of N sub-bands below
   4 kHz (log-spaced from 40 Hz; STFT with the codec's frames: sine window 1280, hop 640)
   reset frame by frame to the original's.  It asks whether steady band energies are what
   the onset detector needs.
2. Study (numpy; no SEANet computes it yet).  The band below 4 kHz as MDCT coefficients (sine
   window 1280, hop 640: 160 bins of 25 Hz), cut into `--bands` log-spaced bands, each sent
   as a log-gain (natural log of the band's norm, plus `--floor`) and a unit-norm shape;
   4 noise bands from 4 to 16 kHz as in the bundled codec.  The 4 x 2048 codebooks form a
   product quantiser, which a residual VQ runs unchanged when each codebook is zero outside
   its own dims:
   - codebooks 1-2: the log-gains (19 at --bands 16), residual k-means.  With `--lam`, leaky DPCM: the
     encoder sends d_t = g_t - lam g_{t-1} of its own (unquantised) gains and the decoder
     integrates g_t = lam g_{t-1} + d_t, so the VQ's error reaches the gains low-passed
     (slow wander rather than frame-to-frame jitter);
   - codebooks 3-4: the shapes of two groups of bands (about equal bins each), spherical
     k-means: each codeword is unit-norm in every band, so a decoded band has exactly the
     energy its gain says, whatever shape the VQ picked.  The nearest codeword of a band's
     raw coefficients is then the most correlated one, weighted by each band's norm.
   Bands above `--tonal-hz` get no shape codebook and are noise of their level.
   The codebooks are fitted on `--segments` 1-second segments of the training generator.

~3 minutes on a 2-core CPU, ~5 with --audio.  README, "Audio codec", quotes its output.
"""

from __future__ import annotations

import argparse

import numpy as np

from vmas_jax.train.codec_lapped_init import kmeans_rvq, nearest

SR, HOP, WIN, SPLIT_BIN, SIZE = 32000, 640, 1280, 160, 2048


def mdct_basis() -> np.ndarray:
  """`[HOP, WIN]` MDCT rows with the sine window, scaled so that analysis, synthesis with
  the transpose and overlap-add at HOP reconstruct exactly (Princen-Bradley)."""
  n, k = np.arange(WIN), np.arange(HOP)
  win = np.sin(np.pi * (n + 0.5) / WIN)
  return np.sqrt(2 / HOP) * win * np.cos(np.pi / HOP * (n[None] + 0.5 + HOP / 2)
                                         * (k[:, None] + 0.5))


BASIS = mdct_basis()


def mdct(x: np.ndarray) -> np.ndarray:
  """`[T]` -> `[ceil(T / HOP) + 1, HOP]`."""
  x = np.pad(x, (HOP, HOP + (-len(x)) % HOP))
  return np.lib.stride_tricks.sliding_window_view(x, WIN)[::HOP] @ BASIS.T


def imdct(coef: np.ndarray, length: int) -> np.ndarray:
  frames = coef @ BASIS
  out = np.zeros((len(coef) + 1) * HOP)
  for i, f in enumerate(frames):
    out[i * HOP:i * HOP + WIN] += f
  return out[HOP:HOP + length]


def band_edges(bands: int, min_bins: int = 1) -> list[tuple[int, int]]:
  """MDCT bin ranges: `bands` log-spaced below 4 kHz (fewer where rounding merges them or
  a band would be narrower than `min_bins`), then 4 log-spaced from 4 to 16 kHz."""
  edges = np.unique(np.round(np.geomspace(1, SPLIT_BIN, bands + 1)).astype(int))
  low = [0]
  for edge in edges[1:]:
    if edge - low[-1] >= min_bins or edge == SPLIT_BIN:
      low.append(int(edge))
  low = np.asarray(low)
  high = np.round(np.geomspace(SPLIT_BIN, HOP, 5)).astype(int)
  return list(zip(low[:-1], low[1:])) + list(zip(high[:-1], high[1:]))


def unit_bands(c: np.ndarray, bands, rng: np.random.Generator) -> np.ndarray:
  """`c` with every band scaled to unit norm (a random direction where it is zero)."""
  c = c.copy()
  for a, b in bands:
    norm = np.linalg.norm(c[:, a:b], axis=1, keepdims=True)
    fill = rng.normal(size=c[:, a:b].shape)
    fill /= np.linalg.norm(fill, axis=1, keepdims=True)
    c[:, a:b] = np.where(norm > 1e-9, c[:, a:b] / np.maximum(norm, 1e-12), fill)
  return c


def spherical_kmeans(x: np.ndarray, bands, rng: np.random.Generator, iters: int) -> np.ndarray:
  """`[SIZE, D]` codewords unit-norm in each band of `bands` (ranges into D), maximising the
  summed correlation sum_b <x_b, c_b> of each point with its codeword."""
  book = unit_bands(x[rng.choice(len(x), SIZE, replace=len(x) < SIZE)], bands, rng)
  for _ in range(iters):
    assign = nearest(x, book)
    sums = np.zeros_like(book)
    np.add.at(sums, assign, x)
    alive = np.bincount(assign, minlength=SIZE) > 0
    book[alive] = unit_bands(sums[alive], bands, rng)
    book[~alive] = unit_bands(x[rng.choice(len(x), int((~alive).sum()))], bands, rng)
  return book


class GainShape:
  """The study's codec: `fit_gains` / `fit_shapes` on training waveforms (each optional: the
  part left unfitted is sent exactly), then `roundtrip(wav)`."""

  def __init__(self, bands: int, tonal_hz: float, lam: float, floor: float, min_bins: int = 1):
    self.bands = band_edges(bands, min_bins)
    self.low = [ab for ab in self.bands if ab[1] <= SPLIT_BIN]
    self.tonal = [ab for ab in self.low if ab[1] * SR / 2 / HOP <= tonal_hz + 1e-6]
    self.lam, self.floor = lam, floor
    self.gain_books, self.groups = None, None
    self.noise = np.random.default_rng(1).choice([-1.0, 1.0], size=HOP)

  def fit_gains(self, coefs, iters: int, seed: int = 0):
    sent = np.concatenate([self._sent_gains(self._gains(c)) for c in coefs])
    self.gain_books = kmeans_rvq(sent, 2, SIZE, np.random.default_rng(seed), iters)

  def fit_shapes(self, coefs, iters: int, seed: int = 0):
    """Two groups of tonal bands, split at half their bins, one spherical codebook each."""
    rng, x = np.random.default_rng(seed), np.concatenate(coefs)
    half = (self.tonal[-1][1] if self.tonal else 0) // 2
    self.groups = []
    for group in ([ab for ab in self.tonal if ab[0] < half],
                  [ab for ab in self.tonal if ab[0] >= half]):
      if group:
        start, stop = group[0][0], group[-1][1]
        local = [(a - start, b - start) for a, b in group]
        self.groups.append((start, stop, spherical_kmeans(x[:, start:stop], local, rng, iters)))

  def _gains(self, coef):
    return np.stack([np.log(np.linalg.norm(coef[:, a:b], axis=1) + self.floor)
                     for a, b in self.bands], 1)

  def _sent_gains(self, g):  # leaky DPCM: what the encoder sends
    prev = np.concatenate([np.full_like(g[:1], np.log(self.floor)), g[:-1]])
    return g - self.lam * prev

  def _integrate(self, d):  # what the decoder makes of it
    out, prev = np.empty_like(d), np.full(d.shape[1], np.log(self.floor))
    for t in range(len(d)):
      prev = self.lam * prev + d[t]
      out[t] = prev
    return out

  def roundtrip(self, wav: np.ndarray) -> np.ndarray:
    coef = mdct(wav)
    gains = self._gains(coef)
    if self.gain_books is not None:
      residual, sent = self._sent_gains(gains), 0.0
      for book in self.gain_books:
        picked = book[nearest(residual, book)]
        sent, residual = sent + picked, residual - picked
      gains = self._integrate(sent)
    out = np.zeros_like(coef)
    if self.groups is not None:
      for start, stop, book in self.groups:
        out[:, start:stop] = book[nearest(coef[:, start:stop], book)]
      tonal = set(self.tonal)
    else:
      out[:, :SPLIT_BIN] = unit_bands(coef[:, :SPLIT_BIN], self.low, np.random.default_rng(0))
      tonal = set(self.low)
    for j, (a, b) in enumerate(self.bands):
      if (a, b) not in tonal:
        out[:, a:b] = self.noise[a:b] / np.linalg.norm(self.noise[a:b])
      out[:, a:b] *= np.maximum(np.exp(gains[:, j]) - self.floor, 0.0)[:, None]
    return imdct(out, len(wav)).astype(np.float32)


def reset_band_energies(ref, est, bands: int, step_db: float = 0.0):
  """`est` with the STFT energy of each of `bands` sub-bands below 4 kHz, per frame, set to
  `ref`'s (optionally rounded to `step_db` steps)."""
  import scipy.signal as ss
  kw = dict(fs=SR, window="cosine", nperseg=WIN, noverlap=WIN - HOP)
  spec_ref = ss.stft(ref, boundary="even", **kw)[2]
  spec = ss.stft(est, boundary="even", **kw)[2]
  freqs = np.fft.rfftfreq(WIN, 1 / SR)
  edges = np.geomspace(40.0, 4000.0, bands + 1)
  edges[0] = 0.0
  for lo, hi in zip(edges[:-1], edges[1:]):
    m = (freqs >= lo) & (freqs < hi)
    want = np.log(np.sqrt((np.abs(spec_ref[m]) ** 2).sum(0) + 1e-12))
    if step_db:
      step = step_db / 20 * np.log(10)
      want = np.round(want / step) * step
    spec[m] *= np.exp(want) / np.sqrt((np.abs(spec[m]) ** 2).sum(0) + 1e-12)
  return ss.istft(spec, boundary=True, **kw)[1][:len(est)].astype(np.float32)


def main():
  p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  p.add_argument("--audio", default=None, help="folder of real music (log-mel, onset F1)")
  p.add_argument("--max-files", type=int, default=16)
  p.add_argument("--melodies", type=int, default=4)
  p.add_argument("--segments", type=int, default=2000)
  p.add_argument("--iters", type=int, default=10)
  p.add_argument("--bands", type=int, default=16)
  p.add_argument("--lam", type=float, default=0.7)
  p.add_argument("--floor", type=float, default=1e-4)
  p.add_argument("--min-band-hz", type=float, default=25.0,
                 help="merge low bands narrower than this (an encoder's band-pass filters "
                      "get longer as bands get narrower)")
  p.add_argument("--seed", type=int, default=123, help="training segments")
  args = p.parse_args()

  from codec_scoring import score_variants  # benchmarks/, the script's own folder

  from vmas_jax.bench.codec_quality import roundtrip_fn
  from vmas_jax.data.synthetic_audio import random_segment

  shipped, _ = roundtrip_fn(None)  # the bundled codec

  rng = np.random.default_rng(args.seed)
  coefs = [mdct(random_segment(rng, 1.0, SR)[0]) for _ in range(args.segments)]
  gain_books, shape_books = {}, {}  # fitted once per DPCM factor / tonal split

  def study(tonal_hz=4000.0, lam=args.lam, gains=True, shapes=True):
    codec = GainShape(args.bands, tonal_hz, lam, args.floor,
                      max(1, int(round(args.min_band_hz / (SR / 2 / HOP)))))
    if gains:
      if lam not in gain_books:
        codec.fit_gains(coefs, args.iters)
        gain_books[lam] = codec.gain_books
      codec.gain_books = gain_books[lam]
    if shapes:
      if tonal_hz not in shape_books:
        codec.fit_shapes(coefs, args.iters)
        shape_books[tonal_hz] = codec.groups
      codec.groups = shape_books[tonal_hz]
    return codec.roundtrip

  variants = {
      "bundled, as shipped": shipped,
      **{f"oracle: bundled, {n} band energies reset":
         (lambda w, n=n: reset_band_energies(w, shipped(w), n)) for n in (4, 8, 16, 32)},
      "oracle: 16 bands, energies rounded to 3 dB":
          lambda w: reset_band_energies(w, shipped(w), 16, 3.0),
      "study: gains and shapes exact": study(gains=False, shapes=False),
      "study: gains VQ (no DPCM), shapes exact": study(lam=0.0, shapes=False),
      f"study: gains VQ DPCM {args.lam}, shapes exact": study(shapes=False),
      "study: gains exact, shapes VQ": study(gains=False),
      f"study: gains VQ DPCM {args.lam}, shapes VQ": study(),
      "study: the same, shapes below 2.6 kHz, noise above": study(tonal_hz=2600.0),
  }

  score_variants(variants, SR, args.melodies, args.audio, args.max_files)

if __name__ == "__main__":
  main()
