"""CLIP vision tower (HF `CLIPVisionModel`) in Flax Linen with logically named parameters.

pixels [B, H, W, 3] (normalized with `CLIPVision.mean`/`std`) ->
  last_hidden [B, 1 + (H/p)*(W/p), D]  (encoder output, CLS first; no final norm, as HF)
  pooled      [B, D]                   (post_layernorm of the CLS token, as HF pooler_output)
"""

from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from vmas_jax.layers import LayerNorm, MLP, MultiHeadAttention, default_kernel_init

Dtype = Any

# OpenAI CLIP preprocessing statistics (CLIPImageProcessor defaults).
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)


class CLIPEncoderLayer(nn.Module):
  """Pre-LN block: x + attn(ln1(x)); x + mlp(ln2(x))."""
  num_heads: int
  mlp_dim: int
  act: str = "quick_gelu"
  eps: float = 1e-5
  dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, x):
    d = x.shape[-1]
    h = LayerNorm(self.eps, dtype=self.dtype, name="layer_norm1")(x)
    x = x + MultiHeadAttention(self.num_heads, d // self.num_heads, dtype=self.dtype,
                               name="self_attn")(h)
    h = LayerNorm(self.eps, dtype=self.dtype, name="layer_norm2")(x)
    return x + MLP(self.mlp_dim, self.act, dtype=self.dtype, name="mlp")(h)


class CLIPVision(nn.Module):
  """ViT with a class token, learned absolute positions and pre/post LayerNorms."""
  image_size: int = 224
  patch_size: int = 16
  hidden_size: int = 768
  num_layers: int = 12
  num_heads: int = 12
  mlp_dim: int = 3072
  act: str = "quick_gelu"
  eps: float = 1e-5
  dtype: Dtype = jnp.float32

  mean = CLIP_MEAN
  std = CLIP_STD

  @property
  def grid_size(self) -> tuple[int, int]:
    g = self.image_size // self.patch_size
    return g, g

  @property
  def feature_dim(self) -> int:
    return self.hidden_size

  @nn.compact
  def __call__(self, pixels: jax.Array):
    """pixels [B, H, W, 3] -> (last_hidden [B, N+1, D], pooled [B, D])."""
    b, h, w, _ = pixels.shape
    if (h, w) != (self.image_size, self.image_size):
      raise ValueError(f"CLIPVision expects {self.image_size}x{self.image_size} pixels, got {h}x{w}")
    d = self.hidden_size
    patches = nn.Conv(d, (self.patch_size, self.patch_size), strides=self.patch_size,
                      padding="VALID", use_bias=False, dtype=self.dtype,
                      kernel_init=nn.with_logical_partitioning(
                          default_kernel_init, (None, None, "conv_in", "embed")),
                      name="patch_embedding")(pixels.astype(self.dtype))
    patches = patches.reshape(b, -1, d)
    cls = self.param("class_embedding",
                     nn.with_logical_partitioning(default_kernel_init, ("embed",)), (d,))
    pos = self.param("position_embedding",
                     nn.with_logical_partitioning(default_kernel_init, ("length", "embed")),
                     (patches.shape[1] + 1, d))
    x = jnp.concatenate([jnp.broadcast_to(cls.astype(self.dtype), (b, 1, d)), patches], axis=1)
    x = x + pos.astype(self.dtype)
    x = LayerNorm(self.eps, dtype=self.dtype, name="pre_layrnorm")(x)
    for i in range(self.num_layers):
      x = CLIPEncoderLayer(self.num_heads, self.mlp_dim, self.act, self.eps, self.dtype,
                           name=f"layers_{i}")(x)
    pooled = LayerNorm(self.eps, dtype=self.dtype, name="post_layernorm")(x[:, 0])
    return x, pooled

  def frame_tokens(self, pixels: jax.Array):
    """pixels [B, H, W, 3] -> (cls [B, D] = pooled, grid [B, h, w, D] of patch states)."""
    last, pooled = self(pixels)
    gh, gw = self.grid_size
    return pooled, last[:, 1:].reshape(last.shape[0], gh, gw, last.shape[-1])
