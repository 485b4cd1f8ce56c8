"""A data-driven starting point for codec training: SEANet weights that compute a lapped
transform, and residual codebooks fitted to its coefficients by k-means.

Trained from random weights, an EnCodec spends its first thousands of steps near silence
(a quiet output scores better than a wrong one), which on a CPU is most of the budget.  This
module instead writes weights by hand, so the codec works from step 0:

  basis = lapped_pca_basis(frames [M, 2*hop], dims)     # windowed frames -> [2*hop, D]
  params = lapped_seanet_params(config, basis)           # encoder: PCA coefficients of each
                                                         # 2*hop window; decoder: overlap-add
  codebooks = kmeans_rvq(latents [M, D], K, N, rng)      # [K, N, D]

How the SEANet computes a linear map: every residual block's last conv and every LSTM weight
are zero (each is then the identity: SEANet adds its input back), and each ELU sees its input
scaled down (by `_AUDIO_SCALE` / `_COEF_SCALE`), where ELU(u) = u to within |u| / 2.  The
encoder's first strided convs reshape the waveform into polyphase channels (channel p of a
step holds sample `hop' * step + p`), so its last strided conv sees 2 * hop consecutive samples
per frame and projects them onto the window-weighted basis; the decoder mirrors it: its first
transposed conv writes each frame's 2 * hop windowed samples as polyphase channels (overlap-add
of frames hop apart), and the remaining transposed convs undo the polyphase split.

With the sine window and an orthonormal basis of D < 2 * hop dimensions, the round trip is the
projection of each windowed frame on the basis, overlap-added (exact reconstruction at
D = 2 * hop).  The architecture needs channels for the polyphase split: 2^(i+1) * num_filters
>= the product of the encoder's first i+1 strides for every stage but the last
(`check_lapped_architecture`).
"""

from __future__ import annotations

import jax
import numpy as np

from vmas_jax.models.codec import EncodecConfig

_AUDIO_SCALE = 1e-3  # waveform samples (|x| <= ~1) as they pass ELUs: error <= 5e-4 relative
_COEF_SCALE = 1e-4  # transform coefficients (|c| <= ~sqrt(2 * hop)) as they pass ELUs


def sine_window(length: int) -> np.ndarray:
  """`[length]`: sin(pi (n + 1/2) / length); its square sums to 1 at hop length / 2."""
  return np.sin(np.pi * (np.arange(length) + 0.5) / length)


def windowed_frames(wav: np.ndarray, hop: int) -> np.ndarray:
  """`[T]` -> `[F, 2 * hop]` sine-windowed frames hop apart, frame f centred on sample
  hop * f + hop / 2 (the frames the lapped encoder reads; zero beyond the ends)."""
  w = 2 * hop
  x = np.pad(np.asarray(wav, np.float64), (hop // 2, w))
  n = -(-len(wav) // hop)
  idx = np.arange(w)[None] + hop * np.arange(n)[:, None]
  return x[idx] * sine_window(w)


def lapped_pca_basis(frames: np.ndarray, dims: int) -> np.ndarray:
  """Orthonormal basis `[2 * hop, dims]` of the `dims` principal directions of windowed
  frames `[M, 2 * hop]` (uncentred: the directions that keep the most energy)."""
  frames = np.asarray(frames, np.float64)
  cov = frames.T @ frames / len(frames)
  _, vecs = np.linalg.eigh(cov)  # ascending eigenvalues
  basis = vecs[:, ::-1][:, :dims]
  # a deterministic sign per direction (eigh's is arbitrary)
  basis = basis * np.where(basis[np.abs(basis).argmax(0), np.arange(dims)] < 0, -1.0, 1.0)
  return basis


def check_lapped_architecture(config: EncodecConfig, dims: int) -> None:
  """Raises ValueError naming the field when `config` cannot hold the lapped transform."""
  strides = list(reversed(config.upsampling_ratios))
  phases, width = 1, config.num_filters
  for i, r in enumerate(strides[:-1]):
    phases, width = phases * r, width * 2
    if width < phases:
      raise ValueError(
          f"lapped init: encoder stage {i} (stride {r}) has {width} channels, fewer than the "
          f"{phases} polyphase channels it must carry; raise codec.num_filters to at least "
          f"{-(-phases // 2 ** (i + 1))}")
  if dims > config.hidden_size or dims > width * 2:
    raise ValueError(f"lapped init: {dims} basis dimensions do not fit hidden_size "
                     f"{config.hidden_size} / the last stage's {width * 2} channels")
  if config.residual_kernel_size % 2 == 0 or config.kernel_size % 2 == 0 \
      or config.last_kernel_size % 2 == 0:
    raise ValueError("lapped init: kernel sizes must be odd (a centre tap is the identity)")
  if config.use_causal_conv or config.use_conv_shortcut:
    raise ValueError("lapped init: needs use_causal_conv=False and use_conv_shortcut=False")


def _left_pad(stride: int) -> int:
  """Left padding of a non-causal strided conv (and left trim of a transposed conv) with
  kernel 2 * stride, as `codec_layers` (and the reference) compute it."""
  return stride - stride // 2


def lapped_seanet_params(config: EncodecConfig, basis: np.ndarray, shapes) -> dict:
  """Encoder and decoder params (numpy, the tree of `shapes` without codebooks) computing
  latent = basis^T (window * frame) and its overlap-add inverse; see the module docstring.

  `shapes`: the `params` tree of `jax.eval_shape` of `EncodecModel(config).init`.
  """
  hop = config.hop_length
  dims = basis.shape[1]
  check_lapped_architecture(config, dims)
  analysis = (sine_window(2 * hop)[:, None] * basis)  # [2 hop, D]
  params = jax.tree.map(lambda s: np.zeros(s.shape, np.float32), shapes)
  enc, dec = params["encoder"], params["decoder"]
  strides = list(reversed(config.upsampling_ratios))

  def centre(kernel, pairs, gain):
    k = kernel.shape[0] // 2
    for i, o in pairs:
      kernel[k, i, o] = gain

  # -- encoder: x -> polyphase channels (stages 0..n-2) -> coefficients (last stage)
  centre(enc["conv_in"]["kernel"], [(0, 0)], _AUDIO_SCALE)
  phases = 1
  for i, r in enumerate(strides[:-1]):
    kernel = enc[f"down{i}_conv"]["kernel"]  # [2r, C_in, C_out]
    for m in range(r):
      for c in range(phases):
        kernel[_left_pad(r) + m, c, m * phases + c] = 1.0
    phases *= r
  r = strides[-1]
  kernel = enc[f"down{len(strides) - 1}_conv"]["kernel"]  # [2r, phases, C_out]
  # kernel tap k reads the block of `phases` samples k * phases .. within the 2*hop window
  kernel[:, :phases, :dims] = (analysis.reshape(2 * r, phases, dims)
                               * (_COEF_SCALE / _AUDIO_SCALE))
  centre(enc["conv_out"]["kernel"], [(d, d) for d in range(dims)], 1.0 / _COEF_SCALE)

  # -- decoder: coefficients -> windowed frames as polyphase channels (overlap-add) -> samples
  ratios = list(config.upsampling_ratios)
  centre(dec["conv_in"]["kernel"], [(d, d) for d in range(dims)], _COEF_SCALE)
  phases = hop // ratios[0]
  kernel = dec["up0_conv"]["kernel"]  # [2 r0, C_in, C_out]: tap k writes block k of the window
  kernel[:, :dims, :phases] = (analysis.reshape(2 * ratios[0], phases, dims).transpose(0, 2, 1)
                               * (_AUDIO_SCALE / _COEF_SCALE))
  for i, r in enumerate(ratios[1:], start=1):
    kernel = dec[f"up{i}_conv"]["kernel"]
    out_phases = phases // r
    for m in range(r):
      for q in range(out_phases):
        kernel[_left_pad(r) + m, m * out_phases + q, q] = 1.0
    phases = out_phases
  centre(dec["conv_out"]["kernel"], [(0, 0)], 1.0 / _AUDIO_SCALE)
  return params


def kmeans_rvq(latents: np.ndarray, num_quantizers: int, codebook_size: int,
               rng: np.random.Generator, iters: int = 15) -> np.ndarray:
  """Residual codebooks `[K, N, D]` by k-means (k-means++ seeding, `iters` Lloyd rounds,
  empty clusters re-seeded from random points) on `latents [M, D]`, stage k on the residuals
  of stages < k."""
  residual = np.asarray(latents, np.float32)
  books = []
  for _ in range(num_quantizers):
    book = _kmeans_pp(residual, codebook_size, rng)
    for _ in range(iters):
      assign = nearest(residual, book)
      counts = np.bincount(assign, minlength=codebook_size)
      sums = np.zeros_like(book)
      np.add.at(sums, assign, residual)
      alive = counts > 0
      book[alive] = sums[alive] / counts[alive, None]
      book[~alive] = residual[rng.choice(len(residual), int((~alive).sum()))]
    residual = residual - book[nearest(residual, book)]
    books.append(book.copy())
  return np.stack(books).astype(np.float32)


def _kmeans_pp(x: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
  """k-means++ seeds `[k, D]`: each next seed drawn with probability ~ squared distance to
  the nearest seed so far (repeats allowed when `x` has fewer distinct points than k)."""
  seeds = np.empty((k, x.shape[1]), np.float32)
  seeds[0] = x[rng.integers(len(x))]
  dist = ((x - seeds[0]) ** 2).sum(1)
  for i in range(1, k):
    total = dist.sum()
    j = rng.choice(len(x), p=dist / total) if total > 0 else rng.integers(len(x))
    seeds[i] = x[j]
    dist = np.minimum(dist, ((x - seeds[i]) ** 2).sum(1))
  return seeds


def nearest(x: np.ndarray, book: np.ndarray, chunk: int = 16384) -> np.ndarray:
  """Index of each row of `x [M, D]`'s nearest entry of `book [N, D]` (squared distance)."""
  out = []
  norms = (book ** 2).sum(1)
  for i in range(0, len(x), chunk):
    out.append((norms - 2 * x[i:i + chunk] @ book.T).argmin(1))
  return np.concatenate(out)


def lapped_codec_variables(config: EncodecConfig, segments, dims: int, seed: int = 0,
                           kmeans_iters: int = 15) -> dict:
  """`{"params": {encoder, decoder, codebooks}}` of a lapped-transform codec fitted to
  `segments` (an iterable of float32 waveforms `[T]` or batches `[B, T]`): the PCA basis of
  their windowed frames, then residual k-means of their coefficients."""
  import flax.linen as nn
  import jax.numpy as jnp

  from vmas_jax.models.codec import EncodecModel

  hop = config.hop_length
  frames = [windowed_frames(w, hop) for seg in segments for w in np.atleast_2d(seg)]
  frames = np.concatenate(frames)
  frames = frames[np.abs(frames).max(1) > 0]  # digital silence says nothing about the basis
  basis = lapped_pca_basis(frames, dims)
  module = EncodecModel(config)
  shapes = jax.eval_shape(lambda: nn.meta.unbox(module.init(jax.random.PRNGKey(0),
                                                            jnp.zeros((1, hop)))))["params"]
  params = lapped_seanet_params(config, basis, {k: v for k, v in shapes.items()
                                                if k != "codebooks"})
  latents = np.zeros((len(frames), config.hidden_size), np.float32)
  latents[:, :dims] = frames @ basis
  params["codebooks"] = kmeans_rvq(latents, config.num_quantizers, config.codebook_size,
                                   np.random.default_rng(seed), kmeans_iters)
  return {"params": params}
