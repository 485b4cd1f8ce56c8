"""The building blocks of benchmarks/codec_band_gains.py (the gain-shape study, README
"Audio codec"): the MDCT reconstructs exactly, and the codec's own residual VQ runs a
product quantiser when each codebook is zero outside its block of dims."""

import importlib.util
from pathlib import Path

import jax.numpy as jnp
import numpy as np

from vmas_jax.models.codec import rvq_decode, rvq_encode

_PATH = Path(__file__).resolve().parents[1] / "benchmarks" / "codec_band_gains.py"
_spec = importlib.util.spec_from_file_location("codec_band_gains", _PATH)
study = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(study)


def test_mdct_reconstructs_exactly_and_bands_cover_every_bin():
  x = np.random.default_rng(0).normal(size=5 * study.HOP + 123)
  np.testing.assert_allclose(study.imdct(study.mdct(x), len(x)), x, atol=1e-10)
  for min_bins in (1, 4):
    edges = study.band_edges(16, min_bins)
    assert edges[0][0] == 0 and edges[-1][1] == study.HOP
    assert all(b0 == a1 for (_, b0), (a1, _) in zip(edges[:-1], edges[1:]))
    low = [b - a for a, b in edges if b <= study.SPLIT_BIN]
    assert min(low[:-1]) >= min_bins  # the last low band ends at the split, however narrow


def test_block_sparse_codebooks_make_the_residual_vq_a_product_quantiser():
  rng = np.random.default_rng(1)
  blocks = [(0, 3), (3, 8), (8, 10)]
  books = np.zeros((3, 16, 10), np.float32)
  for k, (a, b) in enumerate(blocks):
    books[k, :, a:b] = rng.normal(size=(16, b - a))
  x = rng.normal(size=(1, 40, 10)).astype(np.float32)
  codes = np.asarray(rvq_encode(jnp.asarray(books), jnp.asarray(x)))
  want = np.stack([study.nearest(x[0, :, a:b], books[k, :, a:b])
                   for k, (a, b) in enumerate(blocks)])
  np.testing.assert_array_equal(codes[0], want)  # codes [B, K, F]
  decoded = np.asarray(rvq_decode(jnp.asarray(books), jnp.asarray(codes)))[0]
  for k, (a, b) in enumerate(blocks):
    np.testing.assert_array_equal(decoded[:, a:b], books[k, want[k], a:b])


def test_unit_band_codewords_have_unit_norm_in_every_band():
  bands = [(0, 2), (2, 7), (7, 9)]
  x = np.random.default_rng(2).normal(size=(300, 9))
  x[:50, 2:7] = 0.0  # a silent band still gets a unit-norm shape
  book = study.spherical_kmeans(x, bands, np.random.default_rng(0), iters=3)
  for a, b in bands:
    np.testing.assert_allclose(np.linalg.norm(book[:, a:b], axis=1), 1.0, rtol=1e-6)
