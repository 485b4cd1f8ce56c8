"""Per-frame backbone features for the temporal video encoder.

A frame backbone (`CLIPVision`, `Hiera`, or `tiny_vit`) turns each frame into
`tokens_per_frame` vectors: its pooled/CLS embedding followed by an adaptive-average-pooled
g x g grid of its patch states (tokens_per_frame = 1 + g*g).  Frames are processed in
fixed-size chunks with `jax.lax.map`, so memory does not grow with the number of frames.
"""

from __future__ import annotations

import math

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

BACKBONES = ("hiera", "clip_vit", "tiny_vit")


def adaptive_pool_matrix(n_in: int, n_out: int) -> np.ndarray:
  """[n_out, n_in] averaging weights of PyTorch adaptive_avg_pool1d (bins may overlap)."""
  m = np.zeros((n_out, n_in), np.float32)
  for i in range(n_out):
    lo, hi = (i * n_in) // n_out, -((-(i + 1) * n_in) // n_out)
    m[i, lo:hi] = 1.0 / (hi - lo)
  return m


def pool_tokens(cls: jax.Array, grid: jax.Array, tokens_per_frame: int) -> jax.Array:
  """cls [N, D], grid [N, h, w, D] -> [N, tokens_per_frame, D] = [cls, pooled g x g grid]."""
  g = math.isqrt(tokens_per_frame - 1)
  if g * g != tokens_per_frame - 1:
    raise ValueError(f"tokens_per_frame must be 1 + a square (1, 2, 5, 10, 17, ...), "
                     f"got {tokens_per_frame}")
  parts = [cls[:, None]]
  if g:
    ph = jnp.asarray(adaptive_pool_matrix(grid.shape[1], g))
    pw = jnp.asarray(adaptive_pool_matrix(grid.shape[2], g))
    pooled = jnp.einsum("ih,jw,nhwd->nijd", ph, pw, grid.astype(jnp.float32))
    parts.append(pooled.reshape(grid.shape[0], g * g, -1).astype(cls.dtype))
  return jnp.concatenate(parts, axis=1)


def backbone_image_size(backbone) -> tuple[int, int]:
  s = backbone.image_size
  return (s, s) if isinstance(s, int) else tuple(s)


def normalize_frames(frames: jax.Array, backbone, dtype=jnp.float32) -> jax.Array:
  """uint8 frames [N, H, W, 3] -> pixels [N, h, w, 3] at the backbone's size and statistics."""
  x = frames.astype(jnp.float32) / 255.0
  size = backbone_image_size(backbone)
  if x.shape[1:3] != size:
    x = jax.image.resize(x, (x.shape[0], *size, 3), "bilinear", antialias=True)
  mean = jnp.asarray(backbone.mean, jnp.float32)
  std = jnp.asarray(backbone.std, jnp.float32)
  return ((x - mean) / std).astype(dtype)


def frame_features(backbone: nn.Module, params, frames: jax.Array, tokens_per_frame: int,
                   chunk_size: int, remat: bool = False) -> jax.Array:
  """frames [N, H, W, 3] uint8 -> features [N, tokens_per_frame, D_f], `chunk_size` at a time.

  `remat` recomputes each chunk's activations in the backward pass, so training an unfrozen
  backbone also keeps memory flat in N.
  """
  n = frames.shape[0]
  c = max(1, min(chunk_size, n))
  pad = (-n) % c
  x = jnp.pad(frames, ((0, pad),) + ((0, 0),) * (frames.ndim - 1))
  x = x.reshape(-1, c, *frames.shape[1:])

  def one_chunk(chunk):
    pixels = normalize_frames(chunk, backbone, backbone.dtype)
    cls, grid = backbone.apply({"params": params}, pixels, method="frame_tokens")
    return pool_tokens(cls, grid, tokens_per_frame)

  if remat:
    one_chunk = jax.checkpoint(one_chunk)
  y = jax.lax.map(one_chunk, x)  # [n_chunks, c, P, D]
  return y.reshape(-1, *y.shape[2:])[:n]
