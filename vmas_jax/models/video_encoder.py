"""The temporal video encoder: frame backbone -> transformer with factorised self-attention.

frames [B, T, H, W, 3] uint8 (or pre-extracted features [B, T, P, D_f]), times [B, T] in
seconds, frame_mask [B, T] (True = real frame) ->
  tokens       [B, T*P, out_dim]  cross-attention memory for the music decoder
  token_mask   [B, T*P]
  global_embed [B, embed_dim]     masked attention pooling, for the contrastive loss
  frame_embeds [B, T, D_f]        per-frame backbone embedding (features[..., 0, :]), for beats

Each block attends across time for every token slot, then within each frame, then an MLP
(the factorised self-attention of ViViT's model 3, as in scenic; not its factorised encoder,
which runs a spatial and then a temporal transformer).  Time positions are sinusoids of
seconds * time_scale, so variable frame rates and long videos need no re-indexing.
"""

from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from vmas_jax.layers import Dense, LayerNorm, MLP, MultiHeadAttention, sinusoidal_embedding
from vmas_jax.models.frame_features import frame_features

Dtype = Any


class FactorizedBlock(nn.Module):
  """x [B, T, P, D] -> same; time attention per slot, frame attention per step, MLP."""
  num_heads: int
  mlp_dim: int
  dropout: float = 0.0
  dtype: Dtype = jnp.float32
  attention_impl: str = "einsum"  # see `layers.dot_product_attention`

  @nn.compact
  def __call__(self, x, frame_mask, deterministic=True):
    b, t, p, d = x.shape
    hd = d // self.num_heads
    attn = lambda name: MultiHeadAttention(self.num_heads, hd, dtype=self.dtype,
                                           attention_impl=self.attention_impl, name=name)
    drop = nn.Dropout(self.dropout, deterministic=deterministic)
    h = LayerNorm(dtype=self.dtype, name="time_norm")(x)
    h = h.transpose(0, 2, 1, 3).reshape(b * p, t, d)
    mask = jnp.repeat(frame_mask, p, axis=0)[:, None, None, :]  # keys: real frames only
    h = attn("time_attn")(h, mask=mask)
    x = x + drop(h.reshape(b, p, t, d).transpose(0, 2, 1, 3))
    h = LayerNorm(dtype=self.dtype, name="frame_norm")(x).reshape(b * t, p, d)
    h = attn("frame_attn")(h)
    x = x + drop(h.reshape(b, t, p, d))
    h = LayerNorm(dtype=self.dtype, name="mlp_norm")(x)
    return x + drop(MLP(self.mlp_dim, "gelu", dtype=self.dtype, name="mlp")(h))


class TemporalVideoEncoder(nn.Module):
  """See the module docstring.  `frame_backbone` may be None only when `use_features`.

  Backbone weights live in params['backbone'] (the backbone's own param tree).
  """
  frame_backbone: Any
  feature_dim: int
  out_dim: int
  embed_dim: int
  tokens_per_frame: int = 5
  chunk_size: int = 16
  freeze_backbone: bool = True
  use_features: bool = False
  # standardise each feature (slot, dim) by statistics of the training data before the
  # feature norm: `feature_shift` / `feature_scale` params (flattened [P * D_f], so no weight
  # decay), set by the training loop from its first batches and never trained.  A frozen
  # backbone's tokens share a large constant part (a random tiny ViT's vary by ~10 % of their
  # mean), which LayerNorm keeps; what tells frames apart is then a small offset on it.
  standardize_features: bool = False
  num_layers: int = 4
  dim: int = 512
  num_heads: int = 8
  mlp_dim: int = 2048
  time_scale: float = 8.0
  dropout: float = 0.0
  dtype: Dtype = jnp.float32
  attention_impl: str = "einsum"  # see `layers.dot_product_attention`

  def _features(self, frames):
    """frames [B, T, H, W, 3] uint8 -> [B, T, P, D_f]; creates params['backbone']."""
    if self.frame_backbone is None:
      raise ValueError("this encoder has no frame backbone (use_features=True); pass features")
    bb = self.frame_backbone.clone(parent=None)
    h, w = (bb.image_size,) * 2 if isinstance(bb.image_size, int) else bb.image_size
    dummy = jnp.zeros((1, h, w, 3), jnp.float32)
    params = self.param("backbone", lambda rng: bb.init(rng, dummy)["params"])
    if self.freeze_backbone:
      params = jax.lax.stop_gradient(params)  # frozen: exactly zero backbone gradients
    b, t = frames.shape[:2]
    feats = frame_features(bb, params, frames.reshape(b * t, *frames.shape[2:]),
                           self.tokens_per_frame, self.chunk_size,
                           remat=not self.freeze_backbone)
    return feats.reshape(b, t, *feats.shape[1:])

  def extract_features(self, frames: jax.Array) -> jax.Array:
    """frames [B, T, H, W, 3] uint8 -> features [B, T, P, D_f] (backbone + token pooling).

    `features[..., 0, :]` is the per-frame embedding (CLS / pooled slot).
    """
    return self(frames, features_only=True)

  @nn.compact
  def __call__(self, frames, times=None, frame_mask=None, *, deterministic: bool = True,
               features_only: bool = False):
    if features_only:
      return self._features(frames)
    if self.use_features:
      feats = frames
      if feats.ndim != 4 or feats.shape[2:] != (self.tokens_per_frame, self.feature_dim):
        raise ValueError(f"features must be [B, T, {self.tokens_per_frame}, {self.feature_dim}],"
                         f" got {feats.shape}")
    else:
      feats = self._features(frames)
    feats = feats.astype(jnp.float32)
    b, t, p, _ = feats.shape
    frame_mask = frame_mask.astype(bool)
    frame_embeds = feats[:, :, 0, :]
    if self.standardize_features:
      size = (p * feats.shape[-1],)
      shift = self.param("feature_shift", nn.with_logical_partitioning(
          nn.initializers.zeros_init(), (None,)), size)
      scale = self.param("feature_scale", nn.with_logical_partitioning(
          nn.initializers.ones_init(), (None,)), size)
      shift, scale = (jax.lax.stop_gradient(v).reshape(p, -1) for v in (shift, scale))
      feats = (feats - shift) / scale

    x = LayerNorm(dtype=self.dtype, name="feature_norm")(feats)
    x = Dense(self.dim, ("embed",), ("mlp",), dtype=self.dtype, name="in_proj")(x)
    slot = self.param("slot_embedding",
                      nn.with_logical_partitioning(nn.initializers.normal(0.02), (None, "mlp")),
                      (p, self.dim))
    pos = sinusoidal_embedding(times.astype(jnp.float32) * self.time_scale, self.dim)
    x = x + pos[:, :, None, :].astype(self.dtype) + slot.astype(self.dtype)
    x = nn.Dropout(self.dropout, deterministic=deterministic)(x)
    for i in range(self.num_layers):
      x = FactorizedBlock(self.num_heads, self.mlp_dim, self.dropout, self.dtype,
                          self.attention_impl, name=f"block_{i}")(x, frame_mask, deterministic)
    x = LayerNorm(dtype=self.dtype, name="final_norm")(x).reshape(b, t * p, self.dim)
    token_mask = jnp.repeat(frame_mask, p, axis=1)

    # Global embedding: one learned query attends over the real tokens.
    query = self.param("pool_query",
                       nn.with_logical_partitioning(nn.initializers.normal(0.02), ("mlp",)),
                       (self.dim,))
    q = jnp.broadcast_to(query.astype(self.dtype), (b, 1, self.dim))
    g = MultiHeadAttention(self.num_heads, self.dim // self.num_heads, dtype=self.dtype,
                           attention_impl=self.attention_impl,
                           name="pool_attn")(q, context=x, mask=token_mask[:, None, None, :])
    g = LayerNorm(dtype=self.dtype, name="pool_norm")(g[:, 0])
    global_embed = Dense(self.embed_dim, ("mlp",), ("embed",), dtype=self.dtype,
                         name="embed_proj")(g)

    tokens = Dense(self.out_dim, ("mlp",), ("embed",), dtype=self.dtype, name="out_proj")(x)
    tokens = jnp.where(token_mask[..., None], tokens, 0).astype(self.dtype)
    tokens = nn.with_logical_constraint(tokens, ("batch", "length", "embed"))
    return dict(tokens=tokens, token_mask=token_mask, global_embed=global_embed,
                frame_embeds=frame_embeds)
