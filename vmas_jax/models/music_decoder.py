"""MusicGen-compatible music decoder with an explicit KV cache for sampling.

Pre-LN Transformer over K delayed codebook streams: the K token embeddings are summed,
sinusoidal positions added (HF MusicGen: no embedding scale is applied, even with
`scale_embedding`), then per layer causal self-attention, cross-attention to a memory
[B, M, d_model], and a GELU FFN; no biases in linear layers; a final LayerNorm and K heads.

Parameter layout (`scan_layers=True`): `layers/...` with a leading `layers` axis; with
`scan_layers=False`: `layers_0/...`, `layers_1/...`.  `stack_layers`/`unstack_layers` convert.

The KV cache, for `decode` (which runs the unrolled layout), is a plain pytree with one entry
per layer (see `empty_cache`):
  {"layers": [{"k", "v": [B, H, T, Dh] self-attention keys/values,
               "ck", "cv": [B, H, M, Dh] cross-attention keys/values (set on prefill)}] * L,
   "memory_mask": [B, M] bool,
   "video_mask": [B, M] bool (only with `video_gate`)}
Heads come before positions, so attention reads them without a per-step transpose; each
layer's arrays are separate because a slice of a stacked [L, ...] buffer is a copy on XLA CPU.

Text + video (`video_gate`): the memory holds text and video tokens side by side;
`video_mask` marks the video ones.  Each layer's cross-attention normalises the two groups
separately (two softmaxes over the same projected keys/values) and adds the video part
through `tanh(encoder_attn_gate)`, a per-layer scalar initialised to zero: a MusicGen decoder
then starts out exactly text-conditional MusicGen, whatever the video tokens hold, and the
gate's gradient (the video part's output) is nonzero from the first step.  One joint softmax
could not do this: zero video tokens still take softmax mass from the text tokens.
"""

from __future__ import annotations

import dataclasses
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from vmas_jax import layers, remat
from vmas_jax.kernels import rows_matmul

_DECODER_FIELDS = ("num_layers", "d_model", "num_heads", "ffn_dim", "num_codebooks", "vocab_size",
                   "max_positions", "dropout", "activation", "layer_norm_eps", "dtype",
                   "param_dtype", "scan_layers", "remat_policy", "attention_impl")


@dataclasses.dataclass(frozen=True)
class DecoderConfig:
  num_layers: int = 2
  d_model: int = 64
  num_heads: int = 4
  ffn_dim: int = 128
  num_codebooks: int = 4
  vocab_size: int = 2048
  max_positions: int = 2048
  dropout: float = 0.0
  activation: str = "gelu"
  layer_norm_eps: float = 1e-5
  dtype: str = "float32"
  param_dtype: str = "float32"
  scan_layers: bool = True
  remat_policy: str = "none"  # see `remat.POLICIES`
  attention_impl: str = "auto"  # einsum | xla | cudnn | auto (`layers.dot_product_attention`)
  video_gate: bool = False  # text + video memory: gated video cross-attention (module doc)
  matmul_impl: str = "xla"  # xla | rows: decoding steps' products on the CPU rows kernel

  def __post_init__(self):
    if self.d_model % self.num_heads:
      raise ValueError(f"d_model {self.d_model} is not divisible by num_heads {self.num_heads}")
    if self.remat_policy not in remat.POLICIES:
      raise ValueError(f"remat_policy {self.remat_policy!r}; expected one of "
                       f"{sorted(remat.POLICIES)}")
    if self.attention_impl not in layers.ATTENTION_IMPLS:
      raise ValueError(f"attention_impl {self.attention_impl!r}; expected one of "
                       f"{layers.ATTENTION_IMPLS}")
    if self.matmul_impl not in ("xla", "rows"):
      raise ValueError(f"matmul_impl {self.matmul_impl!r}; expected 'xla' or 'rows'")

  @property
  def head_dim(self) -> int:
    return self.d_model // self.num_heads

  @property
  def special_token(self) -> int:
    """Id of the BOS / empty-delay-slot token (the extra embedding row)."""
    return self.vocab_size

  @classmethod
  def from_config(cls, cfg, **overrides) -> "DecoderConfig":
    """From the `config.decoder` section of `vmas_jax.config_defaults.base_config`."""
    values = {f: cfg[f] for f in _DECODER_FIELDS if f in cfg}
    values.update(overrides)
    return cls(**values)

  @classmethod
  def from_hf_config(cls, hf: dict, **overrides) -> "DecoderConfig":
    """From a HF `MusicgenDecoderConfig` dict (or a `MusicgenConfig` dict, via its decoder)."""
    if hf.get("model_type") == "musicgen":
      hf = hf["decoder"]
    if hf.get("audio_channels", 1) != 1:
      raise ValueError("stereo MusicGen (audio_channels=2) is not supported")
    values = dict(num_layers=hf["num_hidden_layers"], d_model=hf["hidden_size"],
                  num_heads=hf["num_attention_heads"], ffn_dim=hf["ffn_dim"],
                  num_codebooks=hf["num_codebooks"], vocab_size=hf["vocab_size"],
                  max_positions=hf.get("max_position_embeddings", 2048),
                  activation=hf.get("activation_function", "gelu"))
    values.update(overrides)
    return cls(**values)


class DecoderBlock(nn.Module):
  """One pre-LN layer.  h [B, S, D] -> h [B, S, D]; returns (h, updated layer cache | None)."""
  config: DecoderConfig

  @nn.compact
  def __call__(self, h, cache, memory, memory_mask, index, deterministic, video_mask=None):
    cfg = self.config
    kw = dict(dtype=jnp.dtype(cfg.dtype), param_dtype=jnp.dtype(cfg.param_dtype))
    norm = lambda name: layers.LayerNorm(cfg.layer_norm_eps, name=name, **kw)
    attn = lambda name: layers.MultiHeadAttention(cfg.num_heads, cfg.head_dim, use_bias=False,
                                                  attention_impl=cfg.attention_impl, name=name,
                                                  matmul_impl=cfg.matmul_impl, **kw)

    def residual(x):
      return nn.Dropout(cfg.dropout)(x, deterministic=deterministic) if cfg.dropout else x

    s = h.shape[1]
    heads_first = lambda x: jnp.swapaxes(x, 1, 2)  # [B, S, H, Dh] -> [B, H, S, Dh]

    # causal self-attention, against the cache when there is one
    sa = attn("self_attn")
    x = norm("self_attn_layer_norm")(h)
    q, k, v = sa.project_qkv(x)
    mask = None
    if cache is not None:
      put = lambda buf, x: jax.lax.dynamic_update_slice(buf, heads_first(x).astype(buf.dtype),
                                                        (0, 0, index, 0))
      cache = dict(cache, k=put(cache["k"], k), v=put(cache["v"], v))
      k, v = cache["k"], cache["v"]
      mask = layers.causal_mask(s, k.shape[2], offset=index)
    h = h + residual(sa.attend_out(q, k.astype(q.dtype), v.astype(q.dtype), mask,
                                   kv_heads_first=cache is not None, causal=cache is None))
    # cross-attention to the memory; K/V are projected when memory is given (training,
    # prefill) and read from the cache otherwise
    ca = attn("encoder_attn")
    x = norm("encoder_attn_layer_norm")(h)
    if memory is not None:
      ck, cv = ca.project_kv(memory)
      if cache is not None:  # prefill: stored for every later step
        dtype = cache["k"].dtype
        cache = dict(cache, ck=heads_first(ck).astype(dtype), cv=heads_first(cv).astype(dtype))
        ck, cv = cache["ck"], cache["cv"]
    else:
      ck, cv = cache["ck"], cache["cv"]
    cmask = None if memory_mask is None else memory_mask[:, None, None, :]
    q, ck, cv = ca.project_q(x), ck.astype(x.dtype), cv.astype(x.dtype)
    attend = lambda m: ca.attend_out(q, ck, cv, m, kv_heads_first=cache is not None)
    if cfg.video_gate:
      gate = self.param("encoder_attn_gate", nn.with_logical_partitioning(
          nn.initializers.zeros_init(), ()), (), jnp.dtype(cfg.param_dtype))
      out = attend(cmask) if video_mask is None else _gated_cross_attention(
          attend, cmask, video_mask, gate)
    else:
      out = attend(cmask)
    h = h + residual(out)
    # feed-forward
    x = norm("final_layer_norm")(h)
    h = h + residual(layers.MLP(cfg.ffn_dim, cfg.activation, use_bias=False, name="mlp",
                                matmul_impl=cfg.matmul_impl, **kw)(x))
    h = nn.with_logical_constraint(h, ("batch", "length", "embed"))
    return h, cache


def _gated_cross_attention(attend, cmask, video_mask, gate):
  """attend(text keys) + tanh(gate) * attend(video keys); cmask [B, 1, 1, M] | None, video_mask
  [B, M].  Each group needs a valid key per row (a dropped group is null tokens, valid)."""
  vm = video_mask[:, None, None, :]
  base = True if cmask is None else cmask
  text, video = attend(base & ~vm), attend(base & vm)
  return text + jnp.tanh(gate).astype(video.dtype) * video


def _block_class(cfg: DecoderConfig):
  if cfg.remat_policy == "none":
    return DecoderBlock
  return nn.remat(DecoderBlock, policy=remat.POLICIES[cfg.remat_policy],
                  prevent_cse=not cfg.scan_layers, static_argnums=(6,))


class MusicDecoder(nn.Module):
  """K-codebook Transformer decoder with cross-attention memory (MusicGen layout)."""
  config: DecoderConfig

  def setup(self):
    cfg = self.config
    pdt = jnp.dtype(cfg.param_dtype)
    init = layers.default_kernel_init
    self.embed = self.param(
        "embed", nn.with_logical_partitioning(init, ("codebooks", "vocab", "embed")),
        (cfg.num_codebooks, cfg.vocab_size + 1, cfg.d_model), pdt)
    self.lm_heads = self.param(
        "lm_heads", nn.with_logical_partitioning(init, ("codebooks", "embed", "vocab")),
        (cfg.num_codebooks, cfg.d_model, cfg.vocab_size), pdt)
    # one memory token used in place of the condition (condition dropout / CFG uncond rows)
    self.null_memory = self.param(
        "null_memory", nn.with_logical_partitioning(init, ("embed",)), (cfg.d_model,), pdt)
    self.layer_norm = layers.LayerNorm(cfg.layer_norm_eps, dtype=jnp.dtype(cfg.dtype),
                                       param_dtype=pdt)
    block = _block_class(cfg)
    if cfg.scan_layers:
      stack = nn.scan(block, variable_axes={"params": 0}, split_rngs={"params": True, "dropout": True},
                      in_axes=(0,) + (nn.broadcast,) * 5,
                      length=cfg.num_layers, metadata_params={nn.PARTITION_NAME: "layers"})
      self.layers = stack(cfg, name="layers")
    else:
      self.layers = [block(cfg, name=f"layers_{i}") for i in range(cfg.num_layers)]

  # -- pieces shared by the full forward and the cached step

  def _embed(self, tokens, offset, input_offsets):
    """tokens [B, K, S] -> [B, S, D]: summed codebook embeddings + positions (+ offsets)."""
    cfg = self.config
    if tokens.ndim != 3 or tokens.shape[1] != cfg.num_codebooks:
      raise ValueError(f"tokens must be [B, {cfg.num_codebooks}, S], got {tokens.shape}")
    h = sum(jnp.take(self.embed[k], tokens[:, k], axis=0) for k in range(cfg.num_codebooks))
    pos = jnp.arange(tokens.shape[-1]) + offset
    h = h + layers.sinusoidal_embedding(pos, cfg.d_model)[None]
    if input_offsets is not None:
      h = h + input_offsets.astype(h.dtype)
    return h.astype(jnp.dtype(cfg.dtype))

  def _condition(self, memory, memory_mask, drop_condition):
    """Swap the null memory in where drop_condition says: [B] whole rows, or [B, M] single
    tokens (one condition of a text + video memory); dropped tokens are attended."""
    if memory.ndim != 3 or memory.shape[-1] != self.config.d_model:
      raise ValueError(f"memory must be [B, M, {self.config.d_model}], got {memory.shape}")
    memory = memory.astype(jnp.dtype(self.config.dtype))
    if drop_condition is None:
      return memory, memory_mask
    drop = drop_condition[:, None] if drop_condition.ndim == 1 else drop_condition  # [B, 1|M]
    memory = jnp.where(drop[..., None], self.null_memory.astype(memory.dtype)[None, None], memory)
    if memory_mask is not None:
      memory_mask = memory_mask | drop
    return memory, memory_mask

  def _run_layers(self, h, caches, memory, memory_mask, index, deterministic, video_mask=None):
    """caches: None, or one per layer (unrolled layout); returns (h, the updated caches)."""
    if self.config.scan_layers:
      h, _ = self.layers(h, None, memory, memory_mask, index, deterministic, video_mask)
      return h, None
    out = []
    for i, layer in enumerate(self.layers):
      h, c = layer(h, None if caches is None else caches[i], memory, memory_mask, index,
                   deterministic, video_mask)
      out.append(c)
    return h, None if caches is None else out

  def project_heads(self, h):
    """h [B, S, D] -> logits [B, K, S, V] in fp32."""
    w = self.lm_heads.astype(h.dtype)  # [K, D, V]
    b, s, d = h.shape
    if self.config.matmul_impl == "rows" and b * s <= rows_matmul.MAX_ROWS:
      hk = jnp.broadcast_to(h.reshape(1, b * s, d), (w.shape[0], b * s, d))
      return jnp.swapaxes(rows_matmul.matmul(hk, w).reshape(w.shape[0], b, s, -1), 0, 1)
    # A batched dot over k with h broadcast: the head matrix is read in its stored layout
    # (an einsum with h unbroadcast makes XLA CPU transpose all of [K, D, V] at every
    # decoding step; slicing w[k] per codebook copies it).
    hk = jnp.broadcast_to(h[None], (w.shape[0],) + h.shape)
    logits = jnp.einsum("kbsd,kdv->kbsv", hk, w, preferred_element_type=jnp.float32)
    return jnp.swapaxes(logits, 0, 1)

  # -- public

  def __call__(self, tokens, memory, memory_mask=None, *, input_offsets=None,
               drop_condition=None, deterministic=True, return_hidden=False,
               compute_logits=True, video_mask=None):
    """tokens [B, K, S] int, memory [B, M, D], memory_mask [B, M] bool (True = attend).

    input_offsets [B, S, D] are added to the input embeddings (beat conditioning);
    drop_condition [B] bool replaces those rows' memory by the learned null memory ([B, M]:
    those tokens); video_mask [B, M] bool marks the video tokens (`video_gate` only).
    Returns logits [B, K, S, V] fp32, and hidden [B, S, D] (after the final LN) when
    return_hidden; only hidden without compute_logits (a loss that applies `head_weights`
    itself, chunked, see `losses.ar_loss_from_hidden`).
    """
    memory, memory_mask = self._condition(memory, memory_mask, drop_condition)
    h = self._embed(tokens, 0, input_offsets)
    if self.config.dropout:
      h = nn.Dropout(self.config.dropout)(h, deterministic=deterministic)
    h, _ = self._run_layers(h, None, memory, memory_mask, 0, deterministic, video_mask)
    h = self.layer_norm(h)
    if not compute_logits:
      return h
    logits = self.project_heads(h)
    return (logits, h) if return_hidden else logits

  def head_weights(self):
    """The K output heads [K, D, V] (param dtype): logits[:, k] = hidden @ heads[k]."""
    return self.lm_heads

  def decode(self, tokens, cache, index, memory=None, *, drop_condition=None, input_offsets=None):
    """Cached forward of S new positions starting at absolute position `index`.

    tokens [B, K, S]; cache from `empty_cache` (prefill: pass `memory`, cross K/V are then
    computed and stored) or from a previous `decode`; input_offsets [B, S, D].  Runs the
    unrolled layout (`scan_layers=False`, params from `unstack_layers`).
    Returns (logits [B, K, S, V] fp32, updated cache).
    """
    if self.config.scan_layers:
      raise ValueError("decode runs the unrolled layers: build the decoder with "
                       "scan_layers=False and pass unstack_layers(params)")
    prefilled = "ck" in cache["layers"][0]
    if not prefilled and memory is None:
      raise ValueError("decode: the cache has no cross-attention keys yet; pass `memory`")
    if prefilled and memory is not None:
      raise ValueError("decode: the cache already holds cross-attention keys; pass no `memory`")
    if memory is not None:
      memory, _ = self._condition(memory, None, drop_condition)
    h = self._embed(tokens, index, input_offsets)
    h, caches = self._run_layers(h, cache["layers"], memory, cache["memory_mask"], index, True,
                                 cache.get("video_mask"))
    logits = self.project_heads(self.layer_norm(h))
    return logits, dict(cache, layers=caches)


def empty_cache(config: DecoderConfig, batch: int, max_length: int, memory_mask,
                dtype=None, video_mask=None) -> dict:
  """A self-attention cache of `max_length` positions for `decode`'s prefill call (the layout
  in the module docstring; the prefill adds each layer's cross-attention keys/values).

  memory_mask [B, M] bool is stored alongside (rows whose condition is dropped should have
  it all True), and video_mask [B, M] bool when given (`video_gate`).
  """
  dtype = jnp.dtype(config.dtype if dtype is None else dtype)
  zeros = jnp.zeros((batch, config.num_heads, max_length, config.head_dim), dtype)
  cache = dict(layers=[dict(k=zeros, v=zeros) for _ in range(config.num_layers)],
               memory_mask=jnp.asarray(memory_mask, bool))
  if video_mask is not None:
    cache["video_mask"] = jnp.asarray(video_mask, bool)
  return cache


def stack_layers(params: dict, num_layers: int) -> dict:
  """`layers_0..layers_{L-1}` -> `layers` with a leading layer axis (scan layout)."""
  out = {k: v for k, v in params.items() if not k.startswith("layers_")}
  out["layers"] = jax.tree.map(lambda *xs: np.stack([np.asarray(x) for x in xs]),
                               *[params[f"layers_{i}"] for i in range(num_layers)])
  return out


def fuse_self_attention(params: dict) -> dict:
  """Unrolled-layout params (`layers_i/...`) with every layer's self-attention q/k/v in one
  matrix (`layers.fuse_qkv`), the layout `MusicDecoder.decode` reads fastest."""
  out = dict(params)
  for name, layer in params.items():
    if name.startswith("layers_") and "q_proj" in layer.get("self_attn", {}):
      out[name] = dict(layer, self_attn=layers.fuse_qkv(layer["self_attn"]))
  return out


def unstack_layers(params: dict) -> dict:
  """`layers` (scan layout) -> `layers_0..layers_{L-1}` (numpy or jax arrays, kept where
  they are)."""
  out = {k: v for k, v in params.items() if k != "layers"}
  n = jax.tree.leaves(params["layers"])[0].shape[0]
  for i in range(n):
    out[f"layers_{i}"] = jax.tree.map(lambda x: x[i], params["layers"])
  return out
