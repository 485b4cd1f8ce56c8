import jax
import jax.numpy as jnp
import flax.linen as nn
import numpy as np

from vmas_jax import layers


def test_dense_named_axes_and_values():
  m = layers.Dense((2, 3), ("embed",), ("heads", "kv"))
  x = jax.random.normal(jax.random.key(0), (2, 5, 4))
  v = m.init(jax.random.key(1), x)
  spec = nn.get_partition_spec(v)["params"]["kernel"]
  assert tuple(spec) == ("embed", "heads", "kv")
  p = nn.unbox(v)["params"]
  y = m.apply({"params": p}, x)
  ref = np.einsum("bsd,dhk->bshk", x, p["kernel"]) + p["bias"]
  np.testing.assert_allclose(y, ref, atol=1e-5)


def test_layernorm_matches_numpy():
  x = np.random.RandomState(0).randn(3, 7).astype(np.float32) * 3 + 1
  v = layers.LayerNorm().init(jax.random.key(0), x)
  y = layers.LayerNorm().apply(v, x)
  ref = (x - x.mean(-1, keepdims=True)) / np.sqrt(x.var(-1, keepdims=True) + 1e-5)
  np.testing.assert_allclose(y, ref, atol=1e-5)


def test_attention_causal_mask_blocks_future():
  m = layers.MultiHeadAttention(num_heads=2, head_dim=4)
  x = jax.random.normal(jax.random.key(0), (1, 6, 8))
  v = m.init(jax.random.key(1), x)
  mask = layers.causal_mask(6)
  y1 = m.apply(v, x, mask=mask)
  x2 = x.at[:, 4:].set(100.0)  # change the future only
  y2 = m.apply(v, x2, mask=mask)
  np.testing.assert_allclose(y1[:, :4], y2[:, :4], atol=1e-5)
  assert not np.allclose(y1[:, 4:], y2[:, 4:])


def test_sinusoidal_musicgen_spacing():
  e = layers.sinusoidal_embedding(jnp.array([0.0, 3.0]), 8)
  half = 4
  freqs = np.exp(-np.log(10000.0) * np.arange(half) / (half - 1))
  ref = np.concatenate([np.cos(3 * freqs), np.sin(3 * freqs)])
  np.testing.assert_allclose(e[1], ref, atol=1e-6)
  np.testing.assert_allclose(e[0], np.r_[np.ones(4), np.zeros(4)], atol=1e-6)
