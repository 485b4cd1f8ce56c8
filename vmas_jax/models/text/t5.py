"""T5 text encoder (HF `T5EncoderModel`) in Flax Linen: MusicGen's text conditioner.

input_ids [B, L] int, attention_mask [B, L] (1/True = token) -> last_hidden [B, L, D].

What sets T5 apart from a textbook Transformer encoder:
- RMS norm: x * rsqrt(mean(x^2) + eps) * scale, no mean subtraction, no bias (fp32 stats);
- attention logits are not scaled by 1/sqrt(d_kv); instead a learned bias per head and
  relative-position bucket (one table, owned by the first layer in HF, shared by all) is added;
- the FFN is `wo(act(wi x))`, or gated `wo(act(wi_0 x) * wi_1 x)` ("gated-gelu", T5 v1.1);
- no position embeddings, no biases anywhere, a final RMS norm.
"""

from __future__ import annotations

import dataclasses
import math

import flax.linen as nn
import jax
import jax.numpy as jnp

from vmas_jax import layers


@dataclasses.dataclass(frozen=True)
class T5Config:
  vocab_size: int = 32128
  d_model: int = 768
  d_kv: int = 64
  d_ff: int = 3072
  num_layers: int = 12
  num_heads: int = 12
  relative_attention_num_buckets: int = 32
  relative_attention_max_distance: int = 128
  layer_norm_eps: float = 1e-6
  feed_forward_proj: str = "relu"  # "ACT" or "gated-ACT" (HF's field)
  dtype: str = "float32"

  def __post_init__(self):
    parts = self.feed_forward_proj.split("-")
    if len(parts) > 2 or (len(parts) == 2 and parts[0] != "gated"):
      raise ValueError(f"feed_forward_proj {self.feed_forward_proj!r}: expected 'ACT' or "
                       "'gated-ACT'")
    layers.activation(self.activation)  # unknown activations fail here, not at apply time

  @property
  def gated(self) -> bool:
    return self.feed_forward_proj.startswith("gated-")

  @property
  def activation(self) -> str:
    act = self.feed_forward_proj.split("-")[-1]
    # HF maps "gated-gelu" to the tanh approximation, for compatibility with T5 v1.1
    return "gelu_new" if self.feed_forward_proj == "gated-gelu" else act

  @classmethod
  def from_hf_config(cls, hf: dict, **overrides) -> "T5Config":
    """From a HF `T5Config` dict (or a `MusicgenConfig` dict, via its text encoder)."""
    if hf.get("model_type") == "musicgen":
      hf = hf["text_encoder"]
    if hf.get("model_type", "t5") != "t5":
      raise ValueError(f"model_type {hf.get('model_type')!r} is not a T5 encoder")
    values = dict(vocab_size=hf["vocab_size"], d_model=hf["d_model"], d_kv=hf["d_kv"],
                  d_ff=hf["d_ff"], num_layers=hf["num_layers"], num_heads=hf["num_heads"],
                  relative_attention_num_buckets=hf.get("relative_attention_num_buckets", 32),
                  relative_attention_max_distance=hf.get("relative_attention_max_distance", 128),
                  layer_norm_eps=hf.get("layer_norm_epsilon", 1e-6),
                  feed_forward_proj=hf.get("feed_forward_proj", "relu"))
    values.update(overrides)
    return cls(**values)


def relative_position_bucket(relative_position, num_buckets: int, max_distance: int):
  """Bidirectional T5 buckets: [...] int (key pos - query pos) -> [...] int in [0, num_buckets).

  Half the buckets for each direction; within one, exact buckets for small distances and
  log-spaced ones up to `max_distance` (farther shares the last bucket).
  """
  half = num_buckets // 2
  bucket = jnp.where(relative_position > 0, half, 0)
  n = jnp.abs(relative_position)
  max_exact = half // 2
  # float32 log as the reference; n = 0 is masked by `is_small` (its log is -inf)
  large = max_exact + (jnp.log(jnp.maximum(n, 1).astype(jnp.float32) / max_exact)
                       / math.log(max_distance / max_exact) * (half - max_exact)).astype(jnp.int32)
  large = jnp.minimum(large, half - 1)
  return bucket + jnp.where(n < max_exact, n, large)


class RMSNorm(nn.Module):
  """T5's layer norm: scale only, statistics in fp32, output in `dtype`."""
  epsilon: float
  dtype: str = "float32"

  @nn.compact
  def __call__(self, x):
    scale = self.param("scale", nn.with_logical_partitioning(nn.initializers.ones_init(),
                                                             ("norm",)), (x.shape[-1],))
    xf = x.astype(jnp.float32)
    y = xf * jax.lax.rsqrt(jnp.mean(xf * xf, axis=-1, keepdims=True) + self.epsilon)
    return (y * scale).astype(jnp.dtype(self.dtype))


class T5Block(nn.Module):
  """x + attn(norm(x)) with position bias, then x + ffn(norm(x)).  x [B, L, D] -> [B, L, D]."""
  config: T5Config

  @nn.compact
  def __call__(self, x, position_bias, mask):
    cfg = self.config
    kw = dict(use_bias=False, dtype=jnp.dtype(cfg.dtype))
    hd = (cfg.num_heads, cfg.d_kv)
    h = RMSNorm(cfg.layer_norm_eps, cfg.dtype, name="attn_norm")(x)
    q, k, v = (layers.Dense(hd, ("embed",), ("heads", "kv"), name=n, **kw)(h) for n in "qkv")
    logits = jnp.einsum("bqhd,bkhd->bhqk", q, k, preferred_element_type=jnp.float32)
    logits = jnp.where(mask, logits + position_bias, jnp.finfo(jnp.float32).min)
    probs = jax.nn.softmax(logits, axis=-1).astype(v.dtype)
    att = jnp.einsum("bhqk,bkhd->bqhd", probs, v)
    x = x + layers.Dense(cfg.d_model, ("heads", "kv"), ("embed",), name="o", **kw)(att)

    h = RMSNorm(cfg.layer_norm_eps, cfg.dtype, name="ffn_norm")(x)
    act = layers.activation(cfg.activation)
    dense = lambda name: layers.Dense(cfg.d_ff, ("embed",), ("mlp",), name=name, **kw)
    h = act(dense("wi_0")(h)) * dense("wi_1")(h) if cfg.gated else act(dense("wi")(h))
    return x + layers.Dense(cfg.d_model, ("mlp",), ("embed",), name="wo", **kw)(h)


class T5Encoder(nn.Module):
  """Token embedding, `num_layers` blocks sharing one relative-position bias, final norm."""
  config: T5Config

  @nn.compact
  def __call__(self, input_ids, attention_mask=None):
    """input_ids [B, L] int, attention_mask [B, L] (nonzero = token) -> [B, L, D]."""
    cfg = self.config
    if input_ids.ndim != 2:
      raise ValueError(f"input_ids must be [B, L], got {input_ids.shape}")
    x = layers.Embed(cfg.vocab_size, cfg.d_model, dtype=jnp.dtype(cfg.dtype),
                     name="shared")(input_ids)
    table = self.param("relative_attention_bias", nn.with_logical_partitioning(
        layers.default_kernel_init, (None, "heads")),
        (cfg.relative_attention_num_buckets, cfg.num_heads))
    pos = jnp.arange(input_ids.shape[1])
    buckets = relative_position_bucket(pos[None, :] - pos[:, None],
                                       cfg.relative_attention_num_buckets,
                                       cfg.relative_attention_max_distance)
    position_bias = jnp.transpose(table[buckets], (2, 0, 1))[None]  # [1, H, L, L]
    if attention_mask is None:
      attention_mask = jnp.ones(input_ids.shape, bool)
    mask = (attention_mask != 0)[:, None, None, :]  # keys only, as the reference
    for i in range(cfg.num_layers):
      x = T5Block(cfg, name=f"block_{i}")(x, position_bias, mask)
    return RMSNorm(cfg.layer_norm_eps, cfg.dtype, name="final_layer_norm")(x)
