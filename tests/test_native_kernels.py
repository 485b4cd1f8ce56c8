"""The native CPU kernels (`vmas_jax.kernels`): the rows product equals XLA's in values,
derivatives and under vmap; the decoder's decoding step gives the same logits through it
and through the fused q/k/v layout;
without a compiler everything falls back to XLA."""

import dataclasses
import shutil

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from vmas_jax import layers
from vmas_jax.kernels import native, rows_matmul
from vmas_jax.models.music_decoder import (DecoderConfig, MusicDecoder, empty_cache,
                                           fuse_self_attention)

needs_compiler = pytest.mark.skipif(
    not (shutil.which("c++") or shutil.which("g++")), reason="no C++ compiler")


def _operands(g, m, k, n, seed=0):
  rs = np.random.RandomState(seed)
  return (jnp.asarray(rs.randn(g, m, k).astype(np.float32)),
          jnp.asarray(rs.randn(g, k, n).astype(np.float32)))


@needs_compiler
def test_kernel_builds_and_lowers_to_the_ffi_call():
  assert rows_matmul.available()
  x, w = _operands(1, 2, 64, 32)
  text = jax.jit(rows_matmul.matmul).lower(x, w).as_text()
  assert "vmas_rows_matmul" in text
  # more rows than the kernel takes: the XLA product
  x9, _ = _operands(1, rows_matmul.MAX_ROWS + 1, 64, 32)
  assert "vmas_rows_matmul" not in jax.jit(rows_matmul.matmul).lower(x9, w).as_text()


@needs_compiler
@pytest.mark.parametrize("g,k,n", [(1, 77, 130), (3, 40, 9), (1, 512, 640), (3, 512, 256)])
def test_kernel_equals_the_xla_product_for_every_row_count(g, k, n):
  # (1, 512, 640) and (3, 512, 256) are big enough to be split between threads
  for m in range(1, rows_matmul.MAX_ROWS + 1):
    x, w = _operands(g, m, k, n, seed=m)
    got = np.asarray(jax.jit(rows_matmul.matmul)(x, w))
    want = np.einsum("gmk,gkn->gmn", np.asarray(x, np.float64), np.asarray(w, np.float64))
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-4 * np.sqrt(k))


@needs_compiler
def test_kernel_derivatives_and_vmap_equal_the_xla_product():
  x, w = _operands(1, 2, 96, 48)
  loss = lambda f: lambda x, w: jnp.sum(jnp.sin(f(x, w)))
  got = jax.grad(loss(rows_matmul.matmul), argnums=(0, 1))(x, w)
  want = jax.grad(loss(rows_matmul._xla), argnums=(0, 1))(x, w)
  for a, b in zip(got, want):
    np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4)
  xs = jnp.stack([x, 2 * x, -x])
  np.testing.assert_allclose(jax.vmap(rows_matmul.matmul, (0, None))(xs, w),
                             jax.vmap(rows_matmul._xla, (0, None))(xs, w), rtol=1e-5, atol=1e-4)


@needs_compiler
def test_dense_with_named_axes_gives_the_same_output_through_the_kernel():
  x = jnp.asarray(np.random.RandomState(1).randn(2, 1, 4, 8).astype(np.float32))  # [B, S, H, Dh]
  xla = layers.Dense(24, ("heads", "kv"), ("embed",))
  rows = layers.Dense(24, ("heads", "kv"), ("embed",), matmul_impl="rows")
  variables = xla.init(jax.random.key(0), x)
  np.testing.assert_allclose(rows.apply(variables, x), xla.apply(variables, x), rtol=1e-5,
                             atol=1e-5)
  assert "vmas_rows_matmul" in jax.jit(rows.apply).lower(variables, x).as_text()


def test_fused_qkv_layout_gives_the_separate_projections():
  x = jnp.asarray(np.random.RandomState(9).randn(2, 1, 16).astype(np.float32))
  make = lambda impl: layers.MultiHeadAttention(4, 4, use_bias=True, matmul_impl=impl)
  variables = make("xla").init(jax.random.key(0), x)
  variables = jax.tree.map(lambda v: v + 0.1, nn.unbox(variables))  # nonzero biases
  fused = {"params": layers.fuse_qkv(variables["params"])}
  assert set(fused["params"]) == {"qkv_proj", "out_proj"}
  qkv = lambda impl: jax.jit(lambda v, x: make(impl).apply(
      v, x, method=layers.MultiHeadAttention.project_qkv))
  want = qkv("xla")(variables, x)
  impls = ("xla", "rows") if native.available() else ("xla",)
  for impl in impls:
    for got, w in zip(qkv(impl)(fused, x), want):
      np.testing.assert_allclose(got, w, rtol=1e-5, atol=1e-5)
  if native.available():  # one kernel call reads the three matrices
    assert qkv("rows").lower(fused, x).as_text().count("vmas_rows_matmul") == 1


@needs_compiler
def test_decoding_steps_give_the_same_logits_through_the_kernel():
  cfg = DecoderConfig(num_layers=2, d_model=256, num_heads=4, ffn_dim=512, vocab_size=64,
                      scan_layers=False)  # 256 x 512 layers: split between threads
  memory = jnp.asarray(np.random.RandomState(2).randn(1, 5, 256).astype(np.float32))
  tokens = jnp.asarray(np.random.RandomState(3).randint(0, 64, (2, 4, 1)))
  variables = MusicDecoder(cfg).init(jax.random.key(0), tokens[:1], memory)
  fused = {"params": fuse_self_attention(nn.unbox(variables)["params"])}
  outs = {}
  for impl, v in (("xla", variables), ("rows", variables), ("fused rows", fused)):
    module = MusicDecoder(dataclasses.replace(cfg, matmul_impl=impl.split()[-1]))
    cache = empty_cache(cfg, 2, 8, jnp.ones((2, 5), bool))
    step = jax.jit(lambda v, t, c, i, m=None: module.apply(v, t, c, i, m, method=module.decode),
                   static_argnums=3)
    if impl != "xla":
      assert "vmas_rows_matmul" in step.lower(v, tokens, cache, 0,
                                              jnp.concatenate([memory] * 2)).as_text()
    logits0, cache = step(v, tokens, cache, 0, jnp.concatenate([memory] * 2))
    logits1, _ = step(v, tokens[:, :, ::-1], cache, 1)
    outs[impl] = np.stack([logits0, logits1])
  for impl in ("rows", "fused rows"):
    np.testing.assert_allclose(outs[impl], outs["xla"], rtol=1e-4, atol=1e-4)
  assert np.abs(outs["xla"]).max() > 0.1  # the comparison is not of zeros


def test_without_a_compiler_every_op_is_xlas(monkeypatch, tmp_path, caplog):
  monkeypatch.setenv("CXX", str(tmp_path / "no-such-compiler"))
  monkeypatch.setenv("VMAS_KERNEL_CACHE", str(tmp_path / "cache"))
  native.available.cache_clear()
  try:
    assert not native.available()
    assert "unavailable" in caplog.text
    x, w = _operands(1, 2, 16, 8)
    assert "vmas_rows_matmul" not in jax.jit(rows_matmul.matmul).lower(x, w).as_text()
    np.testing.assert_allclose(rows_matmul.matmul(x, w), rows_matmul._xla(x, w))
    monkeypatch.setenv("VMAS_CPU_KERNELS", "0")
    native.available.cache_clear()
    assert not native.available()
  finally:
    native.available.cache_clear()


def test_huge_page_placement_aliases_one_mapping_and_keeps_the_values():
  import sys
  from vmas_jax.kernels import huge_pages
  rs = np.random.RandomState(7)
  arrays = [rs.randn(300, 70).astype(np.float32), rs.randn(5).astype(np.float32),
            jnp.asarray(rs.randn(4, 64, 33).astype(np.float32))]
  placed = huge_pages.place(arrays)
  for a, p in zip(arrays, placed):
    assert isinstance(p, jax.Array)
    np.testing.assert_array_equal(np.asarray(p), np.asarray(a))
  if sys.platform.startswith("linux"):
    # one mapping, page after page: the arrays were not copied again by JAX
    starts = [p.unsafe_buffer_pointer() for p in placed]
    assert starts[1] - starts[0] == -(-arrays[0].nbytes // 4096) * 4096
    assert starts[2] - starts[1] == 4096
  del arrays
  np.testing.assert_array_equal(np.asarray(jnp.sum(placed[0])), np.asarray(placed[0]).sum())
