"""The attention switch: einsum and `jax.nn.dot_product_attention` agree (values and grads).

cuDNN runs only on NVIDIA GPUs; on CPU the "xla" path of `jax.nn.dot_product_attention` is
compared with the plain einsum, in fp32, for the decoder (causal self-attention, masked
cross-attention, the KV-cache path) and the temporal video encoder.
"""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from random_params import init_variables
from vmas_jax import layers
from vmas_jax.models.music_decoder import DecoderConfig, MusicDecoder, empty_cache, unstack_layers
from vmas_jax.models.video_encoder import TemporalVideoEncoder

TINY = DecoderConfig(num_layers=2, d_model=32, num_heads=4, ffn_dim=48, vocab_size=40,
                     max_positions=64, attention_impl="einsum")
TOL = dict(atol=2e-5, rtol=2e-5)


def _close(a, b):
  jax.tree.map(lambda x, y: np.testing.assert_allclose(x, y, **TOL), a, b)


def _decoder_inputs(b=2, s=9, m=6):
  rs = np.random.RandomState(0)
  tokens = jnp.asarray(rs.randint(0, TINY.vocab_size + 1, (b, 4, s)))
  memory = jnp.asarray(rs.randn(b, m, TINY.d_model).astype(np.float32))
  mask = jnp.asarray(rs.rand(b, m) > 0.4).at[:, 0].set(True)
  assert not bool(mask.all())  # the memory mask must matter
  return tokens, memory, mask


def test_auto_resolves_by_backend_and_dtype():
  assert layers.resolve_attention_impl("auto", jnp.float32) == "xla"
  want_bf16 = "cudnn" if jax.default_backend() == "gpu" else "xla"
  assert layers.resolve_attention_impl("auto", jnp.bfloat16) == want_bf16
  assert layers.resolve_attention_impl("einsum", jnp.bfloat16) == "einsum"
  with pytest.raises(ValueError, match="attention_impl"):
    layers.resolve_attention_impl("flash", jnp.float32)
  with pytest.raises(ValueError, match="attention_impl"):
    DecoderConfig(attention_impl="flash")


def test_decoder_xla_attention_equals_einsum_values_and_grads():
  tokens, memory, mask = _decoder_inputs()
  variables = init_variables(MusicDecoder(TINY), seed=1, norm_noise=0.2)
  mods = [MusicDecoder(dataclasses.replace(TINY, attention_impl=i)) for i in ("einsum", "xla")]

  @jax.jit
  def run(params):
    def loss(m, p, mem):
      return jnp.mean(jnp.tanh(m.apply({"params": p}, tokens, mem, mask)))
    return [(m.apply({"params": params}, tokens, memory, mask),
             jax.grad(loss, argnums=(1, 2))(m, params, memory)) for m in mods]

  (out_e, grad_e), (out_x, grad_x) = run(variables["params"])
  assert float(jnp.abs(grad_e[1]).max()) > 0  # gradients reach the memory through the mask
  _close(out_e, out_x)
  _close(grad_e, grad_x)


def test_decoder_cache_path_xla_equals_einsum():
  tokens, memory, mask = _decoder_inputs()
  variables = init_variables(MusicDecoder(TINY), seed=2)
  outs = []
  for impl in ("einsum", "xla"):
    module = MusicDecoder(dataclasses.replace(TINY, scan_layers=False, attention_impl=impl))
    params = {"params": unstack_layers(variables["params"])}
    step = jax.jit(lambda c, t, i, mem: module.apply(params, t, c, i, mem, method=module.decode))
    cache = empty_cache(TINY, 2, 12, mask)
    logits, cache = step(cache, tokens[:, :, :4], 0, memory)  # prefill
    steps = [logits]
    for i in range(4, 9):
      logits, cache = step(cache, tokens[:, :, i:i + 1], i, None)
      steps.append(logits)
    outs.append(jnp.concatenate(steps, axis=2))
  _close(outs[0], outs[1])


def test_temporal_encoder_xla_attention_equals_einsum_values_and_grads():
  kw = dict(frame_backbone=None, feature_dim=8, out_dim=12, embed_dim=6, use_features=True,
            num_layers=1, dim=16, num_heads=2, mlp_dim=24)
  encs = [TemporalVideoEncoder(**kw, attention_impl=i) for i in ("einsum", "xla")]
  rs = np.random.RandomState(3)
  feats = jnp.asarray(rs.randn(2, 5, 5, 8).astype(np.float32))
  times = jnp.tile(jnp.arange(5.0) / 4, (2, 1))
  frame_mask = jnp.array([[True] * 5, [True, True, True, False, False]])
  variables = encs[0].init(jax.random.key(0), feats, times, frame_mask)

  def loss(params, x, enc):
    out = enc.apply(params, x, times, frame_mask)
    return jnp.mean(jnp.tanh(out["tokens"])) + jnp.mean(out["global_embed"] ** 2), out

  grad = jax.jit(jax.grad(loss, argnums=(0, 1), has_aux=True), static_argnums=2)
  (grad_e, out_e), (grad_x, out_x) = [grad(variables, feats, e) for e in encs]
  _close(out_e, out_x)
  _close(grad_e, grad_x)
  assert float(jnp.abs(grad_e[1][1, 3:]).max()) == 0  # padded frames get no gradient
