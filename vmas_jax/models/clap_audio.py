"""LAION-CLAP's audio tower (HTS-AT, a Swin transformer over the log-mel image) and its
projection, in Flax; the non-fusion variant that the public music checkpoints use
(`laion/larger_clap_music`, `laion/clap-htsat-unfused`).  Same graph as transformers'
`ClapAudioModelWithProjection` in inference mode.

  mel [B, T, M] (dB, see vmas_jax.eval.clap_input) -> BatchNorm over the M mel bins
  -> bicubic resize of time to S*r frames (S = spec_size, r = S // M)
  -> image [B, S, S]: the r time quarters stacked along frequency
  -> patch conv (stride p) + LayerNorm -> [B, (S/p)^2, D]
  -> Swin stages (window attention, shifted every other block; patch merging between stages)
  -> LayerNorm -> mean over tokens = pooled [B, D * 2^(stages-1)]
  -> projection (dense, ReLU, dense) = embeds [B, P]; their L2-normalised copy = normalized
"""

from __future__ import annotations

import functools

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

TORCH_LN_EPS = 1e-5  # torch.nn.LayerNorm / BatchNorm default, used where HF sets no eps


def bicubic_matrix(n_in: int, n_out: int) -> np.ndarray:
  """[n_out, n_in] float32: torch's bicubic interpolation (A = -0.75, align_corners=True,
  clamped borders) along one axis, as a matrix."""
  a = -0.75
  w = np.zeros((n_out, n_in))
  scale = (n_in - 1) / (n_out - 1) if n_out > 1 else 0.0
  for i in range(n_out):
    src = i * scale
    i0 = int(np.floor(src))
    t = src - i0
    coeffs = [((a * (t + 1) - 5 * a) * (t + 1) + 8 * a) * (t + 1) - 4 * a,
              ((a + 2) * t - (a + 3)) * t * t + 1,
              ((a + 2) * (1 - t) - (a + 3)) * (1 - t) * (1 - t) + 1,
              ((a * (2 - t) - 5 * a) * (2 - t) + 8 * a) * (2 - t) - 4 * a]
    for k, c in enumerate(coeffs):
      w[i, min(max(i0 - 1 + k, 0), n_in - 1)] += c
  return w.astype(np.float32)


@functools.lru_cache(maxsize=None)
def _relative_position_index(window: int) -> np.ndarray:
  """[w*w, w*w]: index into the (2w-1)^2 bias table for each (query, key) pair."""
  coords = np.stack(np.meshgrid(np.arange(window), np.arange(window), indexing="ij")).reshape(2, -1)
  rel = (coords[:, :, None] - coords[:, None, :]).transpose(1, 2, 0) + (window - 1)
  return rel[..., 0] * (2 * window - 1) + rel[..., 1]


@functools.lru_cache(maxsize=None)
def _shift_mask(height: int, width: int, window: int, shift: int) -> np.ndarray:
  """[windows, w*w, w*w] additive mask (0 or -100) of the shifted windows: tokens that the
  cyclic shift brought together from different image regions do not attend to each other."""
  def region(n):
    idx = np.arange(n)
    return (idx >= n - window).astype(int) + (idx >= n - shift)
  labels = region(height)[:, None] * 3 + region(width)[None, :]
  labels = _windows(labels[None, ..., None], window)[0, ..., 0]  # [windows, w*w]
  return np.where(labels[:, None, :] != labels[:, :, None], -100.0, 0.0).astype(np.float32)


def _windows(x, w: int):
  """[B, H, W, C] -> [B, (H/w)(W/w), w*w, C], windows in row-major order."""
  b, h, wd, c = x.shape
  x = x.reshape(b, h // w, w, wd // w, w, c).transpose(0, 1, 3, 2, 4, 5)
  return x.reshape(b, (h // w) * (wd // w), w * w, c)


def _unwindows(x, w: int, h: int, wd: int):
  b, _, _, c = x.shape
  x = x.reshape(b, h // w, wd // w, w, w, c).transpose(0, 1, 3, 2, 4, 5)
  return x.reshape(b, h, wd, c)


class WindowAttention(nn.Module):
  """Multi-head attention inside each window, with a learned relative position bias."""
  dim: int
  num_heads: int
  window: int          # the config's window: the bias table's size
  qkv_bias: bool = True

  @nn.compact
  def __call__(self, x, mask=None):
    """x [B, nW, N, C] (N = w*w), mask [nW, N, N] or None -> [B, nW, N, C]."""
    hd = self.dim // self.num_heads
    split = lambda t: t.reshape(t.shape[:-1] + (self.num_heads, hd))
    q = split(nn.Dense(self.dim, use_bias=self.qkv_bias, name="query")(x))
    k = split(nn.Dense(self.dim, use_bias=self.qkv_bias, name="key")(x))
    v = split(nn.Dense(self.dim, use_bias=self.qkv_bias, name="value")(x))
    scores = jnp.einsum("bwqhd,bwkhd->bwhqk", q, k) / np.sqrt(hd)
    table = self.param("relative_position_bias_table", nn.initializers.zeros,
                       ((2 * self.window - 1) ** 2, self.num_heads))
    n = x.shape[2]
    bias = table[_relative_position_index(self.window).reshape(-1)].reshape(n, n, -1)
    scores = scores + bias.transpose(2, 0, 1)
    if mask is not None:
      scores = scores + mask[None, :, None]
    out = jnp.einsum("bwhqk,bwkhd->bwqhd", jax.nn.softmax(scores, axis=-1), v)
    return nn.Dense(self.dim, name="output")(out.reshape(out.shape[:-2] + (self.dim,)))


class SwinBlock(nn.Module):
  """Pre-norm window attention (cyclically shifted by `shift`) and MLP, both residual."""
  dim: int
  num_heads: int
  window: int
  shift: int
  resolution: tuple[int, int]
  mlp_ratio: float = 4.0
  qkv_bias: bool = True
  eps: float = 1e-5
  act: str = "gelu"

  @nn.compact
  def __call__(self, x):
    """x [B, H*W, C] -> [B, H*W, C]."""
    h, w = self.resolution
    window, shift = self.window, self.shift
    if min(h, w) <= window:  # the whole map fits in one window: no partition, no shift
      window, shift = min(h, w), 0
    b, _, c = x.shape
    y = nn.LayerNorm(self.eps, name="layernorm_before")(x).reshape(b, h, w, c)
    hp, wp = -(-h // window) * window, -(-w // window) * window
    y = jnp.pad(y, ((0, 0), (0, hp - h), (0, wp - w), (0, 0)))
    if shift:
      y = jnp.roll(y, (-shift, -shift), axis=(1, 2))
    mask = jnp.asarray(_shift_mask(hp, wp, window, shift)) if shift else None
    y = WindowAttention(self.dim, self.num_heads, self.window, self.qkv_bias,
                        name="attention")(_windows(y, window), mask)
    y = _unwindows(y, window, hp, wp)
    if shift:
      y = jnp.roll(y, (shift, shift), axis=(1, 2))
    x = x + y[:, :h, :w].reshape(b, h * w, c)
    y = nn.LayerNorm(self.eps, name="layernorm_after")(x)
    y = nn.Dense(int(self.mlp_ratio * self.dim), name="intermediate")(y)
    y = jax.nn.gelu(y, approximate=False) if self.act == "gelu" else getattr(jax.nn, self.act)(y)
    return x + nn.Dense(self.dim, name="output")(y)


class PatchMerging(nn.Module):
  """2 x 2 neighbouring tokens -> one: [B, H*W, C] -> [B, ceil(H/2)*ceil(W/2), 2C]."""
  resolution: tuple[int, int]

  @nn.compact
  def __call__(self, x):
    h, w = self.resolution
    b, _, c = x.shape
    x = x.reshape(b, h, w, c)
    x = jnp.pad(x, ((0, 0), (0, h % 2), (0, w % 2), (0, 0)))
    # HF's order: (row, col) = (0, 0), (1, 0), (0, 1), (1, 1)
    x = jnp.concatenate([x[:, r::2, q::2] for q in range(2) for r in range(2)], axis=-1)
    x = nn.LayerNorm(TORCH_LN_EPS, name="norm")(x.reshape(b, -1, 4 * c))
    return nn.Dense(2 * c, use_bias=False, name="reduction")(x)


class ClapAudio(nn.Module):
  """`__call__(mel [B, T, M]) -> {"pooled": [B, F], "embeds": [B, P], "normalized": [B, P]}`
  (F = embed_dim * 2^(stages-1); `embeds` = HF's `audio_embeds`, `normalized` =
  `ClapModel.get_audio_features`).  T <= spec_size * (spec_size // M)."""
  spec_size: int = 256
  num_mel_bins: int = 64
  patch_size: int = 4
  patch_stride: int = 4
  embed_dim: int = 96
  depths: tuple[int, ...] = (2, 2, 6, 2)
  num_heads: tuple[int, ...] = (4, 8, 16, 32)
  window: int = 8
  mlp_ratio: float = 4.0
  qkv_bias: bool = True
  patch_norm: bool = True
  eps: float = 1e-5
  act: str = "gelu"
  projection_dim: int = 512
  projection_act: str = "relu"

  def image(self, mel):
    """Normalised mel [B, T, M] -> the spectrogram image [B, S, S, 1]."""
    ratio = self.spec_size // self.num_mel_bins
    width, height = self.spec_size * ratio, self.spec_size // ratio
    b, t, m = mel.shape
    if t > width or m != height:
      raise ValueError(f"mel of {t} frames x {m} bins: this model takes at most {width} "
                       f"frames of {height} bins")
    if t < width:
      mel = jnp.einsum("ot,btm->bom", jnp.asarray(bicubic_matrix(t, width)), mel)
    # [B, r * S, M] -> [B, r, S, M] -> [B, r, M, S] -> [B, r * M, S]: time quarters stacked
    img = mel.reshape(b, ratio, width // ratio, m).transpose(0, 1, 3, 2)
    return img.reshape(b, ratio * m, width // ratio)[..., None]

  @nn.compact
  def __call__(self, mel):
    x = nn.BatchNorm(use_running_average=True, epsilon=TORCH_LN_EPS, name="batch_norm")(
        mel.astype(jnp.float32))
    x = self.image(x)
    pad = (self.patch_size - self.patch_stride) // 2
    x = nn.Conv(self.embed_dim, (self.patch_size,) * 2, strides=(self.patch_stride,) * 2,
                padding=[(pad, pad)] * 2, name="patch_embed")(x)
    grid = (x.shape[1], x.shape[2])
    x = x.reshape(x.shape[0], -1, self.embed_dim)
    if self.patch_norm:
      x = nn.LayerNorm(TORCH_LN_EPS, name="patch_norm")(x)
    for i, (depth, heads) in enumerate(zip(self.depths, self.num_heads)):
      dim = self.embed_dim * 2 ** i
      for j in range(depth):
        x = SwinBlock(dim, heads, self.window, 0 if j % 2 == 0 else self.window // 2, grid,
                      self.mlp_ratio, self.qkv_bias, self.eps, self.act,
                      name=f"stage_{i}_block_{j}")(x)
      if i < len(self.depths) - 1:
        x = PatchMerging(grid, name=f"stage_{i}_merge")(x)
        grid = (-(-grid[0] // 2), -(-grid[1] // 2))
    pooled = nn.LayerNorm(TORCH_LN_EPS, name="norm")(x).mean(axis=1)
    y = nn.Dense(self.projection_dim, name="projection_1")(pooled)
    y = getattr(jax.nn, self.projection_act)(y)
    embeds = nn.Dense(self.projection_dim, name="projection_2")(y)
    norm = jnp.maximum(jnp.linalg.norm(embeds, axis=-1, keepdims=True), 1e-12)
    return {"pooled": pooled, "embeds": embeds, "normalized": embeds / norm}
