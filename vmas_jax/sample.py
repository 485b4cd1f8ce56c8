"""Jitted autoregressive sampler for the music decoder.

One `jax.jit` holds: a prefill of the known prefix (BOS + prompt) that also computes the
cross-attention K/V once, then a single `jax.lax.while_loop` over delayed token positions
with a static-shape KV cache.  The delay pattern lives in a grid of "forced" tokens
(special ids and prompt codes; -1 where the model must sample), so each step writes
`where(forced == -1, sampled, forced)`.  With classifier-free guidance the conditional and
unconditional (null memory) rows share one batch of 2B rows; the guided logits are
`uncond + (cond - uncond) * guidance_scale`, as HF MusicGen.

A text + video memory (`video_mask`) is guided with two weights, from three rows
(multi-condition guidance in the InstructPix2Pix form, text first):
  logits = uncond + g_text * (text - uncond) + g_video * (text_video - text)
where `text` drops the video tokens (null memory, no beat offsets) and `uncond` drops both.
g_text = g_video = g is ordinary guidance by g (two rows suffice); 1 / 1 is the plain
conditional row.
"""

from __future__ import annotations

import dataclasses
import functools
import os

import flax
import jax
import jax.numpy as jnp

from vmas_jax.kernels import huge_pages
from vmas_jax.kernels.native import available as kernels_available
from vmas_jax.models import delay_pattern, text_video
from vmas_jax.models.music_decoder import (DecoderConfig, MusicDecoder, empty_cache,
                                           fuse_self_attention, unstack_layers)


@flax.struct.dataclass
class DecodeState:
  pos: jax.Array       # [] int32: next delayed position to write
  tokens: jax.Array    # [B, K, T] int32: delayed tokens so far (-1 = not yet sampled)
  logits: jax.Array    # [R, K, V] fp32: logits for position `pos` (R = B, 2B or 3B rows)
  cache: dict          # KV cache pytree (see music_decoder.empty_cache)


def _from_ordered_bits(u):
  """uint32 [...] -> float32 [...]: the float whose bits, ordered as unsigned integers, are
  `u` (negative floats' magnitude bits reversed, the sign bit flipped), so that counting
  from 0 to 2^32 - 1 walks the floats in increasing order.  The patterns below -inf's (NaN
  bit patterns) map to -inf, so float comparisons keep that order."""
  i = jax.lax.bitcast_convert_type(u ^ jnp.uint32(0x80000000), jnp.int32)
  x = jax.lax.bitcast_convert_type(jnp.where(i < 0, i ^ 0x7FFFFFFF, i), jnp.float32)
  return jnp.where(jnp.isnan(x) & (u < jnp.uint32(0x80000000)), -jnp.inf, x)


def kth_largest_mask(logits, k: int):
  """[..., V] float (no NaN) -> bool [..., V]: True for entries >= the k-th largest (ties
  kept, -0.0 equal to 0.0).

  Builds the k-th largest value's 32 ordered bits one at a time: each pass counts the
  entries at or above the candidate threshold.  Exact, and on XLA CPU far cheaper than
  `lax.top_k` (a comparator sort of V = 2048).  The comparison runs on floats (the candidate
  converted back), which XLA CPU vectorises, unlike the uint32 one (two bits per pass on
  uint32 took 1.5x as long); the counts are a dot with a ones vector (exact for V < 2^24):
  XLA CPU splits a long sum into windowed reductions.
  """
  x = logits.astype(jnp.float32)
  t = jnp.zeros(x.shape[:-1] + (1,), jnp.uint32)
  ones = jnp.ones((x.shape[-1],), jnp.float32)
  for shift in range(31, -1, -1):
    cand = t | jnp.uint32(1 << shift)
    count = (x >= _from_ordered_bits(cand)).astype(jnp.float32) @ ones  # [...]
    t = jnp.where((count >= k)[..., None], cand, t)
  return x >= _from_ordered_bits(t)


def filter_logits(logits, top_k: int = 0, top_p=None):
  """logits [..., V] -> same with filtered entries at -inf (HF TopK then TopP semantics).

  top_k: static, 0 = off.  top_p: None = off, else a (possibly traced) float in (0, 1].
  """
  if 0 < top_k < logits.shape[-1]:
    logits = jnp.where(kth_largest_mask(logits, top_k), logits, -jnp.inf)
  if top_p is not None:
    srt = jnp.sort(logits, axis=-1)  # ascending
    cum = jnp.cumsum(jax.nn.softmax(srt, axis=-1), axis=-1)
    remove = cum <= 1.0 - top_p
    remove = remove.at[..., -1].set(False)  # keep at least the best token
    # the smallest kept logit is the threshold
    thresh = jnp.min(jnp.where(remove, jnp.inf, srt), axis=-1, keepdims=True)
    logits = jnp.where(logits < thresh, -jnp.inf, logits)
  return logits


def inverse_cdf(probs, u, block: int = 32):
  """probs [..., V] >= 0 (unnormalised), u [...] in (0, 1] -> ids [...] int32.

  The id whose cumulative probability interval holds u * sum(probs), found in two levels
  (block sums, then within the chosen block) instead of a cumulative sum over all of V: XLA
  CPU computes `cumsum` as a windowed reduction, O(V^2) for V = 2048.  Never returns a
  zero-probability id.
  """
  v = probs.shape[-1]
  if v % block:
    block = 1
  lead = probs.shape[:-1]
  blocks = probs.reshape(lead + (v // block, block))
  block_cdf = jnp.cumsum(blocks.sum(-1), axis=-1)  # [..., V/block]
  target = u * block_cdf[..., -1]
  b = jnp.minimum(jnp.sum(block_cdf < target[..., None], axis=-1), v // block - 1)
  before = jnp.take_along_axis(block_cdf, jnp.maximum(b - 1, 0)[..., None], -1)[..., 0]
  before = jnp.where(b > 0, before, 0.0)
  inner = jnp.take_along_axis(blocks, b[..., None, None], -2)[..., 0, :]  # [..., block]
  j = jnp.sum(jnp.cumsum(inner, -1) < (target - before)[..., None], -1)
  # j never lands on a zero entry inside the block (its cumulative sum equals the one
  # before it); only rounding past the block's end can, so clamp to the block's last
  # non-zero entry (block b always holds one: its cumulative sum rose to reach the target)
  last = jnp.max(jnp.where(inner > 0, jnp.arange(block), 0), axis=-1)
  return (b * block + jnp.minimum(j, last)).astype(jnp.int32)


def sample_logits(logits, u, *, top_k: int, top_p, temperature):
  """logits [..., V], u [...] uniform in [0, 1) -> ids [...] int32, by inverse CDF.

  (One uniform per row instead of V Gumbel draws: the random bits dominate a CPU step.)
  """
  logits = filter_logits(logits / temperature, top_k, top_p)
  probs = jnp.exp(logits - jnp.max(logits, axis=-1, keepdims=True))
  u = jnp.maximum(u, jnp.finfo(jnp.float32).tiny)  # u > 0: zero-probability ids never win
  return inverse_cdf(probs, u)


def _forced_grid(batch, k, num_frames, special, prompt_codes):
  """[B, K, F+K]: special ids and prompt codes where known, -1 where the model samples."""
  codes = jnp.full((batch, k, num_frames), -1, jnp.int32)
  if prompt_codes is not None:
    codes = codes.at[:, :, :prompt_codes.shape[-1]].set(prompt_codes.astype(jnp.int32))
  return delay_pattern.build(codes, special)


def _guidance_rows(memory_mask, video_mask, b: int, rows: int):
  """(drop [rows*B] or [rows*B, M] or None, memory mask [rows*B, M]) of the B conditional
  rows and the guidance rows after them: 2 rows add the unconditional; 3 add text-only, then
  unconditional.  With text + video, a row without a text token (blank prompt) reads the
  null memory in place of its text in every row, as the model was trained on blank captions."""
  if video_mask is None:
    if rows == 1:
      return None, memory_mask
    return (jnp.concatenate([jnp.zeros((b,), bool), jnp.ones((b,), bool)]),
            jnp.concatenate([memory_mask, jnp.ones_like(memory_mask)]))
  blank = text_video.drop_tokens(text_video.text_absent(memory_mask, video_mask), None,
                                 video_mask)  # [B, M]
  full = jnp.ones_like(memory_mask)
  drops = {1: [blank], 2: [blank, full], 3: [blank, video_mask | blank, full]}[rows]
  drop = jnp.concatenate(drops)
  return drop, jnp.concatenate([memory_mask] * rows) | drop


def guide(logits, b: int, rows: int, guidance):
  """Guided logits [B, ...] from the rows' logits [rows*B, ...]; guidance [2] = (g_text or
  the one scale, g_video)."""
  if rows == 1:
    return logits
  if rows == 2:
    cond, uncond = logits[:b], logits[b:]
    return uncond + (cond - uncond) * guidance[0]
  both, text, uncond = logits[:b], logits[b:2 * b], logits[2 * b:]
  return uncond + guidance[0] * (text - uncond) + guidance[1] * (both - text)


@functools.lru_cache(maxsize=32)
def _compiled(config: DecoderConfig, num_frames: int, top_k: int, use_top_p: bool, rows: int,
              command_buffers: bool = False):

  # Decoding runs the layers unrolled: a scanned stack would dynamic-slice (copy) every
  # layer's weights out of the stacked arrays at each step; static slices are taken once.
  # On CPU attention stays the plain einsum, which reads the [B, H, T, Dh] cache in place
  # (`jax.nn.dot_product_attention` wants [B, T, H, Dh]: a transpose of it per step).  On one
  # CPU device a step's products of rows*B rows run on the rows kernel
  # (`vmas_jax.kernels.rows_matmul`): one pass over each weight matrix for all rows, on every
  # core, where XLA CPU's dot reads them at about half that speed.
  cpu = jax.default_backend() == "cpu"
  native = cpu and jax.device_count() == 1 and kernels_available()
  impl = "einsum" if cpu else config.attention_impl
  module = MusicDecoder(dataclasses.replace(config, scan_layers=False, remat_policy="none",
                                            attention_impl=impl,
                                            matmul_impl="rows" if native else "xla"))

  def run(variables, memory, memory_mask, video_mask, rng, temperature, top_p, guidance, prompt,
          offsets):
    b, k = memory.shape[0], config.num_codebooks
    t = num_frames + k
    n_prompt = 0 if prompt is None else prompt.shape[-1]
    forced = _forced_grid(b, k, num_frames, config.special_token, prompt)
    tile = lambda x: None if x is None else jnp.concatenate([x] * rows, axis=0)
    mask = jnp.ones(memory.shape[:2], bool) if memory_mask is None else memory_mask
    drop, mask = _guidance_rows(mask, video_mask, b, rows)
    if offsets is not None and rows > 1:
      # rows without the video get no beat conditioning either, as condition dropout trains them
      offsets = jnp.concatenate([offsets] + [jnp.zeros_like(offsets)] * (rows - 1), axis=0)
    cache = empty_cache(config, rows * b, t, mask, video_mask=tile(video_mask))

    # prefill: positions 0..n_prompt are known for every codebook
    n0 = n_prompt + 1
    logits, cache = module.apply(
        variables, tile(forced[:, :, :n0]), cache, 0, tile(memory), drop_condition=drop,
        input_offsets=None if offsets is None else offsets[:, :n0], method=module.decode)

    # every step's uniforms drawn at once: a random draw inside the loop costs more on CPU
    # than the tiny model's forward
    uniforms = jax.random.uniform(rng, (t, b, k))

    def body(s: DecodeState) -> DecodeState:
      lg = guide(s.logits, b, rows, guidance)
      u = jax.lax.dynamic_index_in_dim(uniforms, s.pos, keepdims=False)
      sampled = sample_logits(lg, u, top_k=top_k, top_p=top_p if use_top_p else None,
                              temperature=temperature)
      known = jax.lax.dynamic_slice_in_dim(forced, s.pos, 1, axis=2)[..., 0]
      new = jnp.where(known == -1, sampled, known)  # [B, K]
      tokens = jax.lax.dynamic_update_slice_in_dim(s.tokens, new[..., None], s.pos, axis=2)
      off = None if offsets is None else jax.lax.dynamic_slice_in_dim(offsets, s.pos, 1, axis=1)
      logits, cache = module.apply(variables, tile(new[..., None]), s.cache, s.pos,
                                   input_offsets=off, method=module.decode)
      return DecodeState(pos=s.pos + 1, tokens=tokens, logits=logits[:, :, -1], cache=cache)

    state = DecodeState(pos=jnp.int32(n0), tokens=forced, logits=logits[:, :, -1], cache=cache)
    state = jax.lax.while_loop(lambda s: s.pos < t, body, state)
    return delay_pattern.undo(state.tokens)

  return jax.jit(run, compiler_options=compiler_options(command_buffers))


# What XLA GPU records into CUDA graphs with `command_buffers`: its default kinds plus the
# while loop and conditionals, so the whole decode loop (every step's ~20 kernels per layer)
# is one graph launch instead of thousands of kernel launches.
GPU_COMMAND_BUFFER_KINDS = ("FUSION", "CUBLAS", "CUBLASLT", "CUSTOM_CALL", "CUDNN",
                            "DYNAMIC_SLICE_FUSION", "CONDITIONAL", "WHILE")


def command_buffers_requested() -> bool:
  """`VMAS_GPU_COMMAND_BUFFERS=1` turns on `compiler_options(command_buffers=True)` for every
  sampler that is not told otherwise."""
  return os.environ.get("VMAS_GPU_COMMAND_BUFFERS", "0") == "1"


def compiler_options(command_buffers: bool = False):
  """XLA options for the sampler's jit (None: XLA's defaults).

  CPU: decoding is [2B, D] x [D, N] matvecs streaming all weights each step; XLA's default
  YNNPACK dot fusions run them ~10% slower than its plain dot thunk (`vmas bench decode
  --size small`: 180 -> 160 ms per step on 2 cores).
  GPU with `command_buffers`: the decode while loop is captured as a CUDA graph
  (`GPU_COMMAND_BUFFER_KINDS`).  Opt-in: XLA fixed crashes of while loops under command
  buffers as late as Dec 2025 (openxla/xla#35760), and this project has not yet run it on a
  GPU; `vmas bench decode --command-buffers` measures it against the default.
  """
  backend = jax.default_backend()
  if backend == "cpu":
    return {"xla_cpu_experimental_ynn_fusion_type": ""}
  if backend == "gpu" and command_buffers:
    return {"xla_gpu_enable_command_buffer": ",".join(GPU_COMMAND_BUFFER_KINDS)}
  return None


class Sampler:
  """Samples codes from one music decoder's weights.

    sampler = Sampler(decoder_config, params)      # once per model
    codes = sampler.sample(memory, mask, num_frames, rng, top_k=250, guidance_scale=3.0)

  The weights are held in the layout decoding runs (layers unrolled: a scanned stack would
  slice, i.e. copy, every layer's weights at each step; each self-attention's q, k and v in
  one matrix, `layers.fuse_qkv`) with matrices in the compute dtype
  (decoding is bound by reading weights; norms and the null memory stay fp32), so the
  windows of a long video, and every other call, reuse them without copying.  The compute
  dtype is the config's (bf16 by default) on accelerators and fp32 on CPU, whose bf16
  products are no faster and which runs fp32 ones on the rows kernel; there the matrices
  are also placed on huge pages (`kernels.huge_pages`).
  params: the decoder's variables (`{"params": ...}`) or its params, in the scan layout
  (`layers/...`) or the unrolled one (`layers_i/...`).
  """

  def __init__(self, config: DecoderConfig, params, *, command_buffers: bool | None = None):
    self.command_buffers = (command_buffers_requested() if command_buffers is None
                            else bool(command_buffers))
    params = params["params"] if "params" in params else params
    if "layers" in params:  # scan layout
      params = unstack_layers(params)
    cpu = jax.default_backend() == "cpu"
    if cpu:
      config = dataclasses.replace(config, dtype="float32")
    cdt = jnp.dtype(config.dtype)
    self.config = config
    params = jax.tree.map(lambda x: jnp.asarray(x, cdt if jnp.ndim(x) >= 2 else None), params)
    params = fuse_self_attention(flax.core.unfreeze(params))
    if cpu and jax.device_count() == 1:  # the matrices a step streams, on huge pages
      leaves, tree = jax.tree.flatten(params)
      big = [i for i, x in enumerate(leaves) if x.ndim >= 2]
      for i, x in zip(big, huge_pages.place([leaves[i] for i in big])):
        leaves[i] = x
      params = jax.tree.unflatten(tree, leaves)
    self.variables = {"params": params}

  def sample(self, memory, memory_mask, num_frames: int, rng, *, top_k: int = 250,
             top_p: float = 0.0, temperature: float = 1.0, guidance_scale: float = 1.0,
             prompt_codes=None, input_offsets=None, video_mask=None,
             guidance_video: float | None = None):
    """Codes [B, K, num_frames] int32 conditioned on memory [B, M, D].

    memory_mask: [B, M] bool or None.  guidance_scale > 1 turns on classifier-free guidance
    (unconditional rows use the learned null memory).  prompt_codes [B, K, P]
    (P <= num_frames) are continued from and returned unchanged as the first P frames.
    input_offsets [B, num_frames + K, D] are added to the input embeddings at each delayed
    position of the conditional rows (the unconditional guidance rows get none).
    video_mask [B, M] bool: the memory holds text and video tokens side by side (a decoder
    with `video_gate`); guidance_scale then weighs the text and guidance_video (default: the
    same) the video, as the module docstring says.
    The result depends only on the inputs and `rng`.
    """
    cfg = self.config
    memory = jnp.asarray(memory)
    b = memory.shape[0]
    if memory.ndim != 3 or memory.shape[-1] != cfg.d_model:
      raise ValueError(f"memory must be [B, M, {cfg.d_model}], got {memory.shape}")
    if num_frames + cfg.num_codebooks > cfg.max_positions:
      raise ValueError(f"num_frames {num_frames} + {cfg.num_codebooks} codebooks exceeds "
                       f"max_positions {cfg.max_positions}")
    if temperature <= 0:
      raise ValueError(f"temperature must be > 0, got {temperature}; use top_k=1 for greedy")
    if prompt_codes is not None:
      prompt_codes = jnp.asarray(prompt_codes, jnp.int32)
      if prompt_codes.shape[:2] != (b, cfg.num_codebooks) or prompt_codes.shape[2] > num_frames:
        raise ValueError(f"prompt_codes must be [{b}, {cfg.num_codebooks}, P<={num_frames}], "
                         f"got {prompt_codes.shape}")
    if input_offsets is not None:
      input_offsets = jnp.asarray(input_offsets)
      want = (b, num_frames + cfg.num_codebooks, cfg.d_model)
      if input_offsets.shape != want:
        raise ValueError(f"input_offsets must be {list(want)}, got {input_offsets.shape}")
    if memory_mask is not None:
      memory_mask = jnp.asarray(memory_mask, bool)
    g_video = guidance_scale if guidance_video is None else guidance_video
    rows = 2 if guidance_scale > 1.0 else 1
    if video_mask is not None:
      video_mask = jnp.asarray(video_mask, bool)
      if video_mask.shape != memory.shape[:2]:
        raise ValueError(f"video_mask must be {list(memory.shape[:2])}, got {video_mask.shape}")
      if memory_mask is None:
        memory_mask = jnp.ones(memory.shape[:2], bool)
      rows = 1 if guidance_scale == g_video == 1.0 else 2 if guidance_scale == g_video else 3
    elif guidance_video is not None:
      raise ValueError("guidance_video needs a text + video memory (video_mask)")
    run = _compiled(cfg, int(num_frames), int(top_k), top_p > 0.0, rows, self.command_buffers)
    return run(self.variables, memory, memory_mask, video_mask, rng, jnp.float32(temperature),
               jnp.float32(top_p), jnp.asarray([guidance_scale, g_video], jnp.float32),
               prompt_codes, input_offsets)
