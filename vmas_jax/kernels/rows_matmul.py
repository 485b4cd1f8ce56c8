"""A CPU kernel for products with a few rows: y[G, M, N] = x[G, M, K] @ w[G, K, N], M <= 8.

A decoding step multiplies one or two activation rows (two with classifier-free guidance) by
every weight matrix, so on a CPU it is bound by how fast the weights stream from memory.  XLA
CPU's dot reads the weights of a 2-row product at about half its 1-row rate; this kernel reads
each matrix once for all rows, split over every core (on the 2-core development machine:
about 31 GB/s against XLA's 15-17 for chains of [2, 1024] x [1024, N] products).

The C++ source (`rows_matmul.cc`) is built on first use by `native`; where it cannot be,
both are XLA's products.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from vmas_jax.kernels.native import available

MAX_ROWS = 8
_TARGET = "vmas_rows_matmul"


def _xla(x, w):
  return jnp.einsum("gmk,gkn->gmn", x, w, preferred_element_type=jnp.float32)


@jax.custom_jvp
def _kernel(x, w):
  out = jax.ShapeDtypeStruct(x.shape[:-1] + w.shape[-1:], jnp.float32)
  return jax.ffi.ffi_call(_TARGET, out, vmap_method="sequential")(x, w)


@_kernel.defjvp
def _kernel_jvp(primals, tangents):  # the product is bilinear; derivatives through XLA
  (x, w), (dx, dw) = primals, tangents
  return _kernel(x, w), _xla(dx, w) + _xla(x, dw)


def usable(x, w) -> bool:
  """Whether `matmul` would run the kernel for these operands (shapes as `matmul`'s)."""
  return (x.dtype == jnp.float32 and w.dtype == jnp.float32 and 1 <= x.shape[-2] <= MAX_ROWS
          and available())


def matmul(x, w):
  """x [G, M, K] @ w [G, K, N] -> [G, M, N] fp32: the kernel on CPU where `usable`, else XLA.

  On other platforms (GPU, TPU) the XLA product is what lowers, so a function using this can
  be jitted anywhere.
  """
  if not usable(x, w):
    return _xla(x, w)
  return jax.lax.platform_dependent(x, w, cpu=_kernel, default=_xla)
