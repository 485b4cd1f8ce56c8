"""Random EnCodec weights that behave like a codec: codes vary with the input.

`init_codec(config, seed)` draws the SEANet weights on the host with numpy (compiling ~50
`jax.random` initializers costs tens of seconds on a CPU; numpy costs milliseconds) and seeds
the codebooks from the encoder's own latents of a probe signal.  Used by `build.make_codec` when no
pretrained weights are given (tests, the tiny config, benchmarks).
"""

from __future__ import annotations

import functools

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from vmas_jax.models.codec import EncodecConfig, EncodecModel


def init_codec(config: EncodecConfig, seed: int = 0, dtype=jnp.float32) -> tuple[EncodecModel, dict]:
  """Random weights (plain arrays) of `config`, deterministic in `seed`.

  Convs: normal(0, 1/fan_in); LSTM: uniform(+-1/sqrt(H)) as in PyTorch; biases zero.
  Random encoder weights give latents with a large constant offset, so codebooks drawn
  around zero would all pick one entry; the codebooks are instead seeded from the encoder's
  own latents of a probe signal (as k-means init does), so codes vary with the input.
  """
  module = EncodecModel(config, dtype=dtype)
  hop = config.hop_length
  shapes = jax.eval_shape(lambda: nn.meta.unbox(module.init(jax.random.PRNGKey(0),
                                                            jnp.zeros((1, hop)))))
  rng = np.random.default_rng(seed)
  variables = host_params(shapes, rng)
  probe = probe_signal(config.sample_rate, seconds=2.0)
  z = _encoder_latents(config, variables, probe)
  variables["params"]["codebooks"] = codebooks_from_latents(
      np.asarray(z, np.float32).reshape(-1, config.hidden_size), config.num_quantizers,
      config.codebook_size, rng)
  return module, jax.tree.map(jnp.asarray, variables)


def host_params(shapes, rng: np.random.Generator):
  """float32 numpy arrays for a tree of `ShapeDtypeStruct`s (`jax.eval_shape` of an init):
  conv kernels ~ N(0, 1/fan_in), LSTM kernels ~ uniform(+-1/sqrt(H)) as in PyTorch, biases
  and codebooks zero."""

  def draw(path, leaf):
    name = jax.tree_util.keystr(path)
    if "bias" in name or "codebooks" in name:
      return np.zeros(leaf.shape, np.float32)
    if "kernel_ih" in name or "kernel_hh" in name:
      bound = 1.0 / np.sqrt(leaf.shape[1] // 4)
      return rng.uniform(-bound, bound, leaf.shape).astype(np.float32)
    fan_in = int(np.prod(leaf.shape[:-1]))
    return (rng.standard_normal(leaf.shape) / np.sqrt(fan_in)).astype(np.float32)

  return jax.tree_util.tree_map_with_path(draw, shapes)


@functools.partial(jax.jit, static_argnums=0)
def _encoder_latents(config: EncodecConfig, variables, wav):
  """`[B, T]` -> encoder latents `[B, F, D]` (fp32; jitted once per architecture)."""
  return EncodecModel(config).apply(variables, wav[..., None], method=lambda m, x: m.encoder(x))


def probe_signal(sample_rate: int, seconds: float = 2.0):
  """`[1, T]` float32: a chirp, tones and noise bursts of varying loudness (deterministic)."""
  t = np.arange(int(seconds * sample_rate)) / sample_rate
  rng = np.random.default_rng(0)
  chirp = np.sin(2 * np.pi * (100 + 2000 * t / seconds) * t)
  loud = 0.05 + 0.5 * (0.5 + 0.5 * np.sin(2 * np.pi * 1.7 * t))
  wav = loud * (0.6 * chirp + 0.4 * np.sin(2 * np.pi * 440 * t) * (t % 0.5 < 0.25)
                + 0.3 * rng.standard_normal(t.shape) * (t % 0.3 < 0.1))
  return wav[None].astype(np.float32)


def codebooks_from_latents(z, num_quantizers: int, codebook_size: int, rng):
  """Residual codebooks `[K, N, D]` drawn from latent frames `z [M, D]` plus a little noise:
  codebook k samples the residuals left by codebooks < k, so every stage is in range."""
  residual = np.asarray(z, np.float64)
  books = []
  for _ in range(num_quantizers):
    spread = residual.std(0, keepdims=True) + 1e-6
    pick = rng.integers(0, len(residual), codebook_size)
    book = residual[pick] + 0.1 * spread * rng.standard_normal((codebook_size, z.shape[1]))
    d = (residual ** 2).sum(1, keepdims=True) - 2 * residual @ book.T + (book ** 2).sum(1)
    residual = residual - book[d.argmin(1)]
    books.append(book)
  return np.stack(books).astype(np.float32)
