"""Shared building blocks whose parameters carry logical axis names.

Every model in the package (codec excepted: its convs are tiny and replicated) is built from
these layers, so one table of logical-axis rules (see `vmas_jax.sharding`) shards all of them.

Logical axis names used for parameters:
  embed   model width              mlp    feed-forward hidden width
  heads   attention heads          kv     per-head width
  vocab   token vocabulary         codebooks  codec codebook streams
  norm    norm scale/bias (never sharded)
"""

from __future__ import annotations

import math
from typing import Any, Callable, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from vmas_jax import remat
from vmas_jax.kernels import rows_matmul

Dtype = Any
Array = jax.Array

default_kernel_init = nn.initializers.normal(stddev=0.02)


def _tuple(x):
  return tuple(x) if isinstance(x, (tuple, list)) else (x,)


class Dense(nn.Module):
  """Linear map over the last `len(in_axes)` dims into `features` with named axes.

  kernel: [*in_features, *features] named `in_axes + out_axes`.  matmul_impl "rows" runs
  products of at most `rows_matmul.MAX_ROWS` rows (a decoding step) through the CPU rows
  kernel (`vmas_jax.kernels.rows_matmul`); "xla" (default) is always the einsum.
  """
  features: int | Sequence[int]
  in_axes: tuple[str, ...] = ("embed",)
  out_axes: tuple[str, ...] = ("mlp",)
  use_bias: bool = True
  dtype: Dtype = jnp.float32
  param_dtype: Dtype = jnp.float32
  kernel_init: Callable = default_kernel_init
  bias_init: Callable = nn.initializers.zeros_init()
  matmul_impl: str = "xla"

  @nn.compact
  def __call__(self, x: Array) -> Array:
    features = _tuple(self.features)
    n_in = len(self.in_axes)
    in_shape = x.shape[-n_in:]
    kernel = self.param(
        "kernel",
        nn.with_logical_partitioning(self.kernel_init, self.in_axes + self.out_axes),
        in_shape + features, self.param_dtype)
    x = x.astype(self.dtype)
    kernel = kernel.astype(self.dtype)
    batch = "".join(chr(ord("a") + i) for i in range(x.ndim - n_in))
    ins = "".join(chr(ord("m") + i) for i in range(n_in))
    outs = "".join(chr(ord("t") + i) for i in range(len(features)))
    rows = math.prod(x.shape[:-n_in])
    if self.matmul_impl == "rows" and rows <= rows_matmul.MAX_ROWS:
      y = rows_matmul.matmul(x.reshape(1, rows, -1), kernel.reshape(1, math.prod(in_shape), -1))
      y = y.reshape(x.shape[:-n_in] + features).astype(self.dtype)
    else:
      y = jnp.einsum(f"{batch}{ins},{ins}{outs}->{batch}{outs}", x, kernel)
    if self.use_bias:
      bias = self.param("bias", nn.with_logical_partitioning(self.bias_init, self.out_axes),
                        features, self.param_dtype)
      y = y + bias.astype(self.dtype)
    return y


class LayerNorm(nn.Module):
  """LayerNorm computed in fp32 (stable under bf16), output cast to `dtype`."""
  epsilon: float = 1e-5
  use_bias: bool = True
  use_scale: bool = True
  dtype: Dtype = jnp.float32
  param_dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, x: Array) -> Array:
    d = x.shape[-1]
    xf = x.astype(jnp.float32)
    mean = xf.mean(-1, keepdims=True)
    var = jnp.square(xf - mean).mean(-1, keepdims=True)
    y = (xf - mean) * jax.lax.rsqrt(var + self.epsilon)
    if self.use_scale:
      scale = self.param("scale", nn.with_logical_partitioning(nn.initializers.ones_init(), ("norm",)),
                         (d,), self.param_dtype)
      y = y * scale.astype(jnp.float32)
    if self.use_bias:
      bias = self.param("bias", nn.with_logical_partitioning(nn.initializers.zeros_init(), ("norm",)),
                        (d,), self.param_dtype)
      y = y + bias.astype(jnp.float32)
    return y.astype(self.dtype)


class Embed(nn.Module):
  """Token embedding table [num_embeddings, features] named (`vocab`, `embed`)."""
  num_embeddings: int
  features: int
  dtype: Dtype = jnp.float32
  param_dtype: Dtype = jnp.float32
  embedding_init: Callable = default_kernel_init

  @nn.compact
  def __call__(self, ids: Array) -> Array:
    table = self.param("embedding",
                       nn.with_logical_partitioning(self.embedding_init, ("vocab", "embed")),
                       (self.num_embeddings, self.features), self.param_dtype)
    return jnp.take(table, ids, axis=0).astype(self.dtype)


ACTIVATIONS: dict[str, Callable[[Array], Array]] = {
    "gelu": lambda x: nn.gelu(x, approximate=False),
    "gelu_new": lambda x: nn.gelu(x, approximate=True),
    "gelu_pytorch_tanh": lambda x: nn.gelu(x, approximate=True),
    "quick_gelu": lambda x: x * jax.nn.sigmoid(1.702 * x),
    "relu": nn.relu,
    "silu": nn.silu,
}


def activation(name: str) -> Callable[[Array], Array]:
  try:
    return ACTIVATIONS[name]
  except KeyError:
    raise ValueError(f"unknown activation {name!r}; known: {sorted(ACTIVATIONS)}") from None


class MLP(nn.Module):
  """fc1 -> activation -> fc2.  x[..., D] -> [..., D]."""
  hidden: int
  act: str = "gelu"
  use_bias: bool = True
  dtype: Dtype = jnp.float32
  param_dtype: Dtype = jnp.float32
  matmul_impl: str = "xla"  # see `Dense`

  @nn.compact
  def __call__(self, x: Array) -> Array:
    d = x.shape[-1]
    kw = dict(use_bias=self.use_bias, dtype=self.dtype, param_dtype=self.param_dtype,
              matmul_impl=self.matmul_impl)
    h = remat.tag(Dense(self.hidden, ("embed",), ("mlp",), name="fc1", **kw)(x), remat.MLP_HIDDEN)
    h = activation(self.act)(h)
    h = nn.with_logical_constraint(h, ("batch", "length", "mlp")) if h.ndim == 3 else h
    return Dense(d, ("mlp",), ("embed",), name="fc2", **kw)(h)


ATTENTION_IMPLS = ("einsum", "xla", "cudnn", "auto")


def resolve_attention_impl(impl: str, dtype) -> str:
  """The attention implementation to run: "auto" -> "cudnn" on NVIDIA GPUs in bf16/fp16 (its
  flash kernels take only those), else "xla"."""
  if impl not in ATTENTION_IMPLS:
    raise ValueError(f"attention_impl {impl!r}; expected one of {ATTENTION_IMPLS}")
  if impl != "auto":
    return impl
  half = jnp.dtype(dtype) in (jnp.dtype(jnp.bfloat16), jnp.dtype(jnp.float16))
  return "cudnn" if half and jax.default_backend() == "gpu" else "xla"


def dot_product_attention(q: Array, k: Array, v: Array, mask: Array | None = None,
                          scale: float | None = None, kv_heads_first: bool = False,
                          causal: bool = False, impl: str = "einsum") -> Array:
  """Softmax attention with fp32 logits.

  q: [B, S, H, Dh], k/v: [B, M, H, Dh] (or [B, H, M, Dh] with kv_heads_first, the layout
  of a KV cache: the einsum path then reads it without transposing), mask: broadcastable to
  [B, H, S, M] (True = attend); causal: query i also sees only keys <= i (S == M).
  impl: "einsum" (plain einsum + softmax), "xla" / "cudnn" (`jax.nn.dot_product_attention`:
  cuDNN flash attention on NVIDIA GPUs), "auto" (see `resolve_attention_impl`).
  Returns [B, S, H, Dh] in q's dtype.
  """
  impl = resolve_attention_impl(impl, q.dtype)
  scale = q.shape[-1] ** -0.5 if scale is None else scale
  if impl != "einsum":
    if kv_heads_first:
      k, v = jnp.swapaxes(k, 1, 2), jnp.swapaxes(v, 1, 2)
    if mask is not None:
      mask = jnp.broadcast_to(mask, mask.shape[:2] + (q.shape[1], k.shape[1]))
    return jax.nn.dot_product_attention(q, k, v, mask=mask, scale=scale, is_causal=causal,
                                        implementation=impl)
  if causal:
    tri = causal_mask(q.shape[1], k.shape[2 if kv_heads_first else 1])
    mask = tri if mask is None else mask & tri
  kv = "bhmd" if kv_heads_first else "bmhd"
  logits = jnp.einsum(f"bshd,{kv}->bhsm", q, k, preferred_element_type=jnp.float32) * scale
  if mask is not None:
    logits = jnp.where(mask, logits, jnp.finfo(jnp.float32).min)
  probs = jax.nn.softmax(logits, axis=-1).astype(v.dtype)
  return jnp.einsum(f"bhsm,{kv}->bshd", probs, v)


def causal_mask(s: int, m: int | None = None, offset: int = 0) -> Array:
  """[1, 1, S, M] bool; query i (at absolute position offset+i) sees keys <= its position."""
  m = s if m is None else m
  q = jnp.arange(s)[:, None] + offset
  kpos = jnp.arange(m)[None, :]
  return (kpos <= q)[None, None]


class MultiHeadAttention(nn.Module):
  """Multi-head attention with q/k/v/out projections named like the HF reference.

  Projections are exposed as methods (`project_q`, `project_kv`, `attend_out`) so that a
  decoder can run them against an explicit KV cache.
  """
  num_heads: int
  head_dim: int
  use_bias: bool = True
  dtype: Dtype = jnp.float32
  param_dtype: Dtype = jnp.float32
  attention_impl: str = "einsum"  # see `dot_product_attention`
  matmul_impl: str = "xla"  # projections; see `Dense`

  def setup(self):
    kw = dict(use_bias=self.use_bias, dtype=self.dtype, param_dtype=self.param_dtype,
              matmul_impl=self.matmul_impl)
    hd = (self.num_heads, self.head_dim)
    self.q_proj = Dense(hd, ("embed",), ("heads", "kv"), **kw)
    self.k_proj = Dense(hd, ("embed",), ("heads", "kv"), **kw)
    self.v_proj = Dense(hd, ("embed",), ("heads", "kv"), **kw)
    self.out_proj = Dense(self.num_heads * self.head_dim, ("heads", "kv"), ("embed",), **kw)
    # the decoding layout's q, k and v in one matrix (`fuse_qkv`); never initialised
    self.qkv_proj = Dense((3,) + hd, ("embed",), (None, "heads", "kv"), **kw)

  def project_q(self, x: Array) -> Array:
    """x [B, S, D] -> q [B, S, H, Dh]."""
    return remat.tag(self.q_proj(x), remat.QKV)

  def project_kv(self, x: Array) -> tuple[Array, Array]:
    """x [B, M, D] -> (k, v) each [B, M, H, Dh]."""
    return remat.tag(self.k_proj(x), remat.QKV), remat.tag(self.v_proj(x), remat.QKV)

  def project_qkv(self, x: Array) -> tuple[Array, Array, Array]:
    """x [B, S, D] -> (q, k, v) each [B, S, H, Dh].  In the decoding layout (`fuse_qkv`:
    one `qkv_proj` [D, 3, H, Dh] in place of q/k/v_proj) one product reads the three."""
    if self.has_variable("params", "qkv_proj"):
      y = self.qkv_proj(x)  # [B, S, 3, H, Dh]
      return tuple(remat.tag(y[:, :, i], remat.QKV) for i in range(3))
    return (self.project_q(x),) + self.project_kv(x)

  def attend_out(self, q: Array, k: Array, v: Array, mask: Array | None = None,
                 kv_heads_first: bool = False, causal: bool = False) -> Array:
    """Attention then output projection: [B, S, H, Dh] -> [B, S, D_out].

    k/v: [B, M, H, Dh], or [B, H, M, Dh] with kv_heads_first.
    """
    context = dot_product_attention(q, k, v, mask, kv_heads_first=kv_heads_first, causal=causal,
                                    impl=self.attention_impl)
    return self.out_proj(remat.tag(context, remat.CONTEXT))

  def __call__(self, x: Array, context: Array | None = None, mask: Array | None = None) -> Array:
    """x [B, S, D], context [B, M, D] (defaults to x) -> [B, S, D]."""
    k, v = self.project_kv(x if context is None else context)
    return self.attend_out(self.project_q(x), k, v, mask)


def fuse_qkv(params: dict) -> dict:
  """One self-attention module's params in the decoding layout: q_proj, k_proj and v_proj
  (kernels [D, H, Dh]) become one `qkv_proj` (kernel [D, 3, H, Dh], bias [3, H, Dh]) that
  `MultiHeadAttention.project_qkv` reads in one product: one kernel launch and one pass
  over the three matrices per decoding step.  Not for cross-attention, whose keys and
  values come from another input."""
  names = ("q_proj", "k_proj", "v_proj")
  out = {k: v for k, v in params.items() if k not in names}
  stack = lambda key: jnp.stack([params[n][key] for n in names], axis=1 if key == "kernel"
                                else 0)
  out["qkv_proj"] = {key: stack(key) for key in params["q_proj"]}
  return out


def sinusoidal_embedding(positions: Array, dim: int, max_period: float = 10000.0,
                         cos_first: bool = True) -> Array:
  """positions [...] (float, may be fractional, e.g. seconds) -> [..., dim].

  Half the channels are cos, half sin (cos first, as MusicGen), over geometric frequencies
  from 1 down to 1/max_period (the MusicGen spacing: exponent k / (half - 1)).
  """
  half = dim // 2
  freqs = jnp.exp(-jnp.log(max_period) * jnp.arange(half, dtype=jnp.float32) / max(half - 1, 1))
  args = positions.astype(jnp.float32)[..., None] * freqs
  parts = (jnp.cos(args), jnp.sin(args)) if cos_first else (jnp.sin(args), jnp.cos(args))
  return jnp.concatenate(parts, axis=-1)
