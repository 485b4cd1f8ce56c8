"""SEANet building blocks of EnCodec: padded convolutions, residual blocks, the LSTM.

Activations are channels-last `[B, T, C]`.  Conv kernels are stored `[k, C_in, C_out]` with
weight norm already folded in (the importer computes `g * v / ||v||`), logical axes
(None, conv_in, conv_out) which the sharding rules replicate.

The padding follows the reference exactly (HF `EncodecConv1d` / audiocraft `StreamableConv1d`):
`kernel - stride` samples split left/right (or all left when causal), plus an "extra" right
pad so that the last window is complete, and reflect padding of inputs shorter than the pad
done by first zero-extending them.  All lengths are static, so every branch is resolved
at trace time and output lengths equal the reference's for every input length.
"""

from __future__ import annotations

import math
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

Dtype = Any
Array = jax.Array

_conv_init = nn.initializers.variance_scaling(1.0, "fan_in", "normal", in_axis=(0, 1), out_axis=2)


def extra_padding(length: int, kernel: int, stride: int) -> int:
  """Right padding that makes the last strided window of a `length` input complete."""
  padding_total = kernel - stride
  n = length - kernel + padding_total
  n_frames = -(-n // stride)  # ceil(n / stride) + 1 - 1, as in the reference
  ideal_length = n_frames * stride + kernel - padding_total
  return ideal_length - length


def pad1d(x: Array, left: int, right: int, mode: str) -> Array:
  """Pads axis 1 of `x[B, T, C]`; reflect mode tolerates inputs shorter than the pad."""
  if mode == "constant":
    return jnp.pad(x, ((0, 0), (left, right), (0, 0)))
  if mode != "reflect":
    raise ValueError(f"pad_mode {mode!r} is not supported (reflect | constant)")
  length = x.shape[1]
  extra = max(left, right) - length + 1 if length <= max(left, right) else 0
  if extra:  # reflection needs length > pad: zero-extend first, drop the extension after
    x = jnp.pad(x, ((0, 0), (0, extra), (0, 0)))
  y = jnp.pad(x, ((0, 0), (left, right), (0, 0)), mode="reflect")
  return y[:, :y.shape[1] - extra] if extra else y


def _precision(dtype):
  # fp32 runs are used for parity: ask TPUs/GPUs for full-precision matmuls there.
  return jax.lax.Precision.HIGHEST if jnp.dtype(dtype) == jnp.float32 else None


class Conv1d(nn.Module):
  """Conv1d with the reference's padding: `[B, T, C_in] -> [B, ceil(T / stride), C_out]`."""
  features: int
  kernel_size: int
  stride: int = 1
  dilation: int = 1
  causal: bool = False
  pad_mode: str = "reflect"
  dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, x: Array) -> Array:
    kernel = self.param("kernel", nn.with_logical_partitioning(_conv_init, (None, "conv_in", "conv_out")),
                        (self.kernel_size, x.shape[-1], self.features), jnp.float32)
    bias = self.param("bias", nn.with_logical_partitioning(nn.initializers.zeros_init(), ("conv_out",)),
                      (self.features,), jnp.float32)
    k_eff = (self.kernel_size - 1) * self.dilation + 1
    padding_total = k_eff - self.stride
    extra = extra_padding(x.shape[1], k_eff, self.stride)
    if self.causal:
      left, right = padding_total, 0
    else:
      right = padding_total // 2
      left = padding_total - right
    x = pad1d(x, left, right + extra, self.pad_mode)
    y = jax.lax.conv_general_dilated(
        x.astype(self.dtype), kernel.astype(self.dtype), window_strides=(self.stride,),
        padding=[(0, 0)], rhs_dilation=(self.dilation,), dimension_numbers=("NWC", "WIO", "NWC"),
        precision=_precision(self.dtype))
    return y + bias.astype(self.dtype)


class ConvTranspose1d(nn.Module):
  """Transposed conv with the reference's trimming: `[B, T, C_in] -> [B, T * stride, C_out]`.

  kernel `[k, C_in, C_out]` holds PyTorch's `weight[C_in, C_out, k]` transposed (not flipped).
  """
  features: int
  kernel_size: int
  stride: int
  causal: bool = False
  trim_right_ratio: float = 1.0
  dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, x: Array) -> Array:
    k, s = self.kernel_size, self.stride
    kernel = self.param("kernel", nn.with_logical_partitioning(_conv_init, (None, "conv_in", "conv_out")),
                        (k, x.shape[-1], self.features), jnp.float32)
    bias = self.param("bias", nn.with_logical_partitioning(nn.initializers.zeros_init(), ("conv_out",)),
                      (self.features,), jnp.float32)
    x, w = x.astype(self.dtype), kernel.astype(self.dtype)
    b, t, _ = x.shape
    if k % s == 0:
      # Each input step writes k = n*s outputs starting at t*s: one matmul, then n shifted
      # copies summed (no zero-dilated input, so no wasted multiplies; pads rather than
      # scatter-adds, so the backward pass is slices, not gathers).
      n = k // s
      z = jnp.einsum("btc,kco->btko", x, w, precision=_precision(self.dtype))
      z = z.reshape(b, t, n, s, self.features)
      y = sum(jnp.pad(z[:, :, j], ((0, 0), (j, n - 1 - j), (0, 0), (0, 0))) for j in range(n))
      y = y.reshape(b, (t + n - 1) * s, self.features)
    else:
      y = jax.lax.conv_general_dilated(
          x, jnp.flip(w, 0), window_strides=(1,), padding=[(k - 1, k - 1)], lhs_dilation=(s,),
          dimension_numbers=("NWC", "WIO", "NWC"), precision=_precision(self.dtype))
    padding_total = k - s
    if self.causal:
      right = math.ceil(padding_total * self.trim_right_ratio)
    else:
      right = padding_total // 2
    left = padding_total - right
    y = y[:, left:y.shape[1] - right]
    return y + bias.astype(self.dtype)


class ResnetBlock(nn.Module):
  """SEANet residual block: x + conv1x1(elu(conv_k(elu(x)))) with a 1x1-conv or identity skip."""
  kernel_size: int
  dilation: int
  compress: int
  use_conv_shortcut: bool
  causal: bool = False
  pad_mode: str = "reflect"
  dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, x: Array) -> Array:
    dim = x.shape[-1]
    conv = dict(causal=self.causal, pad_mode=self.pad_mode, dtype=self.dtype)
    h = Conv1d(dim // self.compress, self.kernel_size, dilation=self.dilation, name="conv1",
               **conv)(nn.elu(x))
    h = Conv1d(dim, 1, name="conv2", **conv)(nn.elu(h))
    skip = Conv1d(dim, 1, name="shortcut", **conv)(x) if self.use_conv_shortcut else x
    return skip + h


class LSTM(nn.Module):
  """Stacked unidirectional LSTM over time (PyTorch gate order i, f, g, o) plus a skip.

  Per layer: `kernel_ih [C, 4C]`, `kernel_hh [C, 4C]`, `bias [4C]` (= bias_ih + bias_hh).
  `[B, T, C] -> [B, T, C]`.  The recurrence is a `jax.lax.scan`; gates are computed in fp32.
  """
  num_layers: int
  dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, x: Array) -> Array:
    b, _, c = x.shape
    init = nn.initializers.variance_scaling(1.0, "fan_in", "uniform")
    prec = _precision(self.dtype)
    h = x
    for layer in range(self.num_layers):
      w_ih = self.param(f"kernel_ih_{layer}", nn.with_logical_partitioning(init, ("conv_in", "conv_out")),
                        (c, 4 * c), jnp.float32)
      w_hh = self.param(f"kernel_hh_{layer}", nn.with_logical_partitioning(init, ("conv_in", "conv_out")),
                        (c, 4 * c), jnp.float32)
      bias = self.param(f"bias_{layer}", nn.with_logical_partitioning(nn.initializers.zeros_init(),
                                                                        ("conv_out",)),
                        (4 * c,), jnp.float32)
      # The input projection of all steps is one big matmul outside the recurrence.
      gates_in = jnp.einsum("btc,cg->tbg", h.astype(self.dtype), w_ih.astype(self.dtype),
                            precision=prec).astype(jnp.float32) + bias
      w_hh_c = w_hh.astype(self.dtype)

      def step(carry, g_in, w_hh_c=w_hh_c):
        h_prev, c_prev = carry
        g = g_in + jnp.dot(h_prev.astype(self.dtype), w_hh_c, precision=prec).astype(jnp.float32)
        i, f, gg, o = jnp.split(g, 4, axis=-1)
        c_new = jax.nn.sigmoid(f) * c_prev + jax.nn.sigmoid(i) * jnp.tanh(gg)
        h_new = jax.nn.sigmoid(o) * jnp.tanh(c_new)
        return (h_new, c_new), h_new

      zeros = jnp.zeros((b, c), jnp.float32)
      _, hs = jax.lax.scan(step, (zeros, zeros), gates_in)
      h = jnp.transpose(hs, (1, 0, 2)).astype(self.dtype)
    return h + x.astype(self.dtype)
