"""On an NVIDIA GPU: cuDNN attention in bf16 agrees with the fp32 einsum reference.

Skipped elsewhere (CI has no GPU); `benchmarks/gpu_figures.sh` runs it on a lent one.  The
tolerance is for bf16 operands: relative L2 error ||bf16 - fp32|| / ||fp32|| <= 2e-2 for
values and gradients.  The same comparison on CPU, with XLA's attention in place of cuDNN's,
gives 5.5e-3 (decoder values), 4.9e-3 (its gradients) and 6.3e-3 (encoder): bf16 itself,
with 3x headroom for cuDNN's own summation order.
"""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from random_params import init_variables
from vmas_jax.models.music_decoder import DecoderConfig, MusicDecoder
from vmas_jax.models.video_encoder import TemporalVideoEncoder

pytestmark = pytest.mark.skipif(jax.default_backend() != "gpu", reason="needs an NVIDIA GPU")

REL_TOL = 2e-2
# head dim 64 and lengths past one cuDNN tile (128): the shapes flash attention is built for
CFG = DecoderConfig(num_layers=2, d_model=256, num_heads=4, ffn_dim=512, vocab_size=64,
                    max_positions=512, attention_impl="einsum")


def _rel(a, b) -> float:
  a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
  return float(np.linalg.norm(a - b) / max(np.linalg.norm(b), 1e-30))


def _assert_close(got, want):
  errs = jax.tree.leaves(jax.tree.map(_rel, got, want))
  assert max(errs) <= REL_TOL, f"relative errors up to {max(errs):.2e} (tolerance {REL_TOL})"


def test_decoder_cudnn_bf16_equals_einsum_fp32_values_and_grads():
  rs = np.random.RandomState(0)
  b, s, m = 2, 200, 150
  tokens = jnp.asarray(rs.randint(0, CFG.vocab_size + 1, (b, 4, s)))
  memory = jnp.asarray(rs.randn(b, m, CFG.d_model).astype(np.float32))
  mask = jnp.asarray(rs.rand(b, m) > 0.3).at[:, 0].set(True)
  params = init_variables(MusicDecoder(CFG), seed=1, norm_noise=0.2)["params"]
  ref = MusicDecoder(CFG)
  fast = MusicDecoder(dataclasses.replace(CFG, dtype="bfloat16", attention_impl="cudnn"))

  def run(module):
    def loss(p, mem):
      out = module.apply({"params": p}, tokens, mem, mask).astype(jnp.float32)
      return jnp.mean(jnp.tanh(out)), out
    return jax.jit(jax.grad(loss, argnums=(0, 1), has_aux=True))(params, memory)

  (g_ref, out_ref), (g_fast, out_fast) = run(ref), run(fast)
  _assert_close(out_fast, out_ref)
  _assert_close(g_fast, g_ref)


def test_temporal_encoder_cudnn_bf16_equals_einsum_fp32():
  kw = dict(frame_backbone=None, feature_dim=64, out_dim=128, embed_dim=64, use_features=True,
            num_layers=2, dim=256, num_heads=4, mlp_dim=512)
  ref = TemporalVideoEncoder(**kw, attention_impl="einsum")
  fast = TemporalVideoEncoder(**kw, attention_impl="cudnn", dtype=jnp.bfloat16)
  rs = np.random.RandomState(3)
  feats = jnp.asarray(rs.randn(2, 160, 5, 64).astype(np.float32))  # 5 tokens per frame
  times = jnp.tile(jnp.arange(160.0) / 8, (2, 1))
  frame_mask = jnp.ones((2, 160), bool).at[1, 100:].set(False)
  variables = ref.init(jax.random.key(0), feats, times, frame_mask)
  out_ref = jax.jit(lambda v: ref.apply(v, feats, times, frame_mask))(variables)
  out_fast = jax.jit(lambda v: fast.apply(v, feats, times, frame_mask))(variables)
  _assert_close(jax.tree.map(lambda x: x.astype(jnp.float32), out_fast), out_ref)
