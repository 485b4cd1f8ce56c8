"""Hiera (HF `HieraModel`, image variant) in Flax Linen with logically named parameters.

Hiera keeps its tokens "unrolled": after the patch embedding the token order is permuted so
that every query-pooling window is contiguous; pooling is then a max over a leading stride
axis, and mask-unit attention is attention within contiguous windows.  After the last
query pool all strides are consumed and the tokens are back in row-major spatial order.

pixels [B, H, W, 3] (normalized with `Hiera.mean`/`std`) ->
  last_hidden [B, (H/s)*(W/s), D]  with s = patch_stride * query_stride**num_query_pool
  pooled      [B, D]               (LayerNorm of the token mean, as HF pooler_output)
"""

from __future__ import annotations

import itertools
import math
from typing import Any, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from vmas_jax.layers import Dense, LayerNorm, MLP, default_kernel_init

Dtype = Any

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def unroll(x: jax.Array, size: Sequence[int], schedule: Sequence[Sequence[int]]) -> jax.Array:
  """x [B, h*w, C] in row-major order -> [B, h*w, C] with each stride window made contiguous.

  For every stride (sy, sx) in `schedule` the (sy, sx) offsets move in front of the remaining
  grid, nested inside the batch; the original batch stays outermost.
  """
  b, _, c = x.shape
  cur = list(size)
  x = x.reshape(b, *cur, c)
  for sy, sx in schedule:
    cur = [cur[0] // sy, cur[1] // sx]
    x = x.reshape(-1, cur[0], sy, cur[1], sx, c).transpose(0, 2, 4, 1, 3, 5)
    x = x.reshape(-1, *cur, c)
  return x.reshape(b, math.prod(size), c)


class MaskUnitAttention(nn.Module):
  """Attention within windows of `window_size` tokens (or global), with optional query pooling.

  Token n of [B, N, D] belongs to window n % num_windows (windows are interleaved, as unroll
  leaves them).
  """
  out_dim: int
  num_heads: int
  query_stride: int = 1
  window_size: int = 0
  use_mask_unit_attn: bool = False
  dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, x):
    b, n, _ = x.shape
    hd = self.out_dim // self.num_heads
    nw = n // (self.query_stride * self.window_size) if self.use_mask_unit_attn else 1
    tpw = n // nw
    qkv = Dense((3, self.num_heads, hd), ("embed",), ("qkv", "heads", "kv"), dtype=self.dtype,
                name="qkv")(x)
    qkv = qkv.reshape(b, tpw, nw, 3, self.num_heads, hd)
    q, k, v = (qkv[:, :, :, i] for i in range(3))  # [B, tpw, nw, H, hd]
    if self.query_stride > 1:
      q = q.reshape(b, self.query_stride, tpw // self.query_stride, nw, self.num_heads, hd).max(1)
    logits = jnp.einsum("bqwhd,bkwhd->bwhqk", q * hd ** -0.5, k,
                        preferred_element_type=jnp.float32)
    probs = jax.nn.softmax(logits, axis=-1).astype(v.dtype)
    out = jnp.einsum("bwhqk,bkwhd->bqwhd", probs, v)  # [B, tpw', nw, H, hd]
    out = out.reshape(b, -1, self.num_heads, hd)
    return Dense(self.out_dim, ("heads", "kv"), ("embed",), dtype=self.dtype, name="proj")(out)


class HieraLayer(nn.Module):
  out_dim: int
  num_heads: int
  mlp_ratio: float = 4.0
  query_stride: int = 1
  window_size: int = 0
  use_mask_unit_attn: bool = False
  act: str = "gelu"
  eps: float = 1e-6
  dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, x):
    b, _, d_in = x.shape
    h = LayerNorm(self.eps, dtype=self.dtype, name="layernorm_before")(x)
    if d_in != self.out_dim:
      # Width change: the residual is projected, then max-pooled like the queries.
      x = Dense(self.out_dim, ("embed",), ("mlp",), dtype=self.dtype, name="proj")(h)
      x = x.reshape(b, self.query_stride, -1, self.out_dim).max(1)
    x = x + MaskUnitAttention(self.out_dim, self.num_heads, self.query_stride, self.window_size,
                              self.use_mask_unit_attn, self.dtype, name="attn")(h)
    h = LayerNorm(self.eps, dtype=self.dtype, name="layernorm_after")(x)
    return x + MLP(int(self.out_dim * self.mlp_ratio), self.act, dtype=self.dtype, name="mlp")(h)


class Hiera(nn.Module):
  """Defaults are hiera-base-224 (facebook/hiera-base-224-hf)."""
  image_size: tuple[int, int] = (224, 224)
  embed_dim: int = 96
  patch_size: tuple[int, int] = (7, 7)
  patch_stride: tuple[int, int] = (4, 4)
  patch_padding: tuple[int, int] = (3, 3)
  mlp_ratio: float = 4.0
  depths: tuple[int, ...] = (2, 3, 16, 3)
  num_heads: tuple[int, ...] = (1, 2, 4, 8)
  embed_dim_multiplier: float = 2.0
  num_query_pool: int = 3
  query_stride: tuple[int, int] = (2, 2)
  masked_unit_size: tuple[int, int] = (8, 8)
  masked_unit_attention: tuple[bool, ...] = (True, True, False, False)
  act: str = "gelu"
  eps: float = 1e-6
  dtype: Dtype = jnp.float32

  mean = IMAGENET_MEAN
  std = IMAGENET_STD

  @property
  def feature_dim(self) -> int:
    return int(self.embed_dim * self.embed_dim_multiplier ** (len(self.depths) - 1))

  @property
  def grid_size(self) -> tuple[int, int]:
    s = [p * q ** self.num_query_pool for p, q in zip(self.patch_stride, self.query_stride)]
    return self.image_size[0] // s[0], self.image_size[1] // s[1]

  def _layer_plan(self):
    """(out_dim, heads, query_stride, window_size, use_mask_unit_attn) for every layer."""
    ends = list(itertools.accumulate(self.depths))
    pool_layers = set(ends[: self.num_query_pool])
    mu_area, qs_area = math.prod(self.masked_unit_size), math.prod(self.query_stride)
    plan, i = [], 0
    for s, depth in enumerate(self.depths):
      out_dim = int(self.embed_dim * self.embed_dim_multiplier ** s)
      window = int(mu_area * qs_area ** -s)
      prev_mu = self.masked_unit_attention[s - 1 if s > 0 else 0]
      for j in range(depth):
        use_mu = self.masked_unit_attention[s] or (prev_mu and j == 0)
        plan.append((s, j, out_dim, self.num_heads[s], qs_area if i in pool_layers else 1,
                     window, use_mu))
        i += 1
    return plan

  @nn.compact
  def __call__(self, pixels: jax.Array):
    """pixels [B, H, W, 3] -> (last_hidden [B, N, D], pooled [B, D])."""
    b, h, w, _ = pixels.shape
    if (h, w) != tuple(self.image_size):
      raise ValueError(f"Hiera expects {tuple(self.image_size)} pixels, got {(h, w)}")
    pad = [(p, p) for p in self.patch_padding]
    x = nn.Conv(self.embed_dim, tuple(self.patch_size), strides=tuple(self.patch_stride),
                padding=pad, dtype=self.dtype,
                kernel_init=nn.with_logical_partitioning(
                    default_kernel_init, (None, None, "conv_in", "embed")),
                bias_init=nn.with_logical_partitioning(nn.initializers.zeros_init(), ("embed",)),
                name="patch_embed")(pixels.astype(self.dtype))
    size = x.shape[1:3]
    x = x.reshape(b, -1, self.embed_dim)
    pos = self.param("position_embeddings",
                     nn.with_logical_partitioning(default_kernel_init, (None, "length", "embed")),
                     (1, x.shape[1], self.embed_dim))
    x = x + pos.astype(self.dtype)
    x = unroll(x, size, [tuple(self.query_stride)] * (len(self.depths) - 1))
    for s, j, out_dim, heads, qs, window, use_mu in self._layer_plan():
      x = HieraLayer(out_dim, heads, self.mlp_ratio, qs, window, use_mu, self.act, self.eps,
                     self.dtype, name=f"stage{s}_layer{j}")(x)
    pooled = LayerNorm(self.eps, dtype=self.dtype, name="pooler_norm")(x.mean(1))
    return x, pooled

  def frame_tokens(self, pixels: jax.Array):
    """pixels [B, H, W, 3] -> (cls [B, D] = pooled, grid [B, h, w, D])."""
    if self.num_query_pool != len(self.depths) - 1:
      raise ValueError("Hiera.frame_tokens needs num_query_pool == len(depths) - 1 (the final "
                       "tokens are only in spatial order once every unroll stride is pooled)")
    last, pooled = self(pixels)
    return pooled, last.reshape(last.shape[0], *self.grid_size, last.shape[-1])

