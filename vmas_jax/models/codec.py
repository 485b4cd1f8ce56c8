"""EnCodec (MusicGen's 32 kHz audio codec) in Flax Linen: SEANet encoder/decoder + residual VQ.

  module = EncodecModel(EncodecConfig.encodec_32khz())
  codes = module.apply(variables, wav, method="encode")    # wav [B, T] -> codes [B, K, F] int32
  wav2 = module.apply(variables, codes, method="decode")   # codes [B, K, F] -> wav [B, F * hop]

F = ceil(T / hop) and the decoded length is F * hop, as in HF `EncodecModel.encode/decode`.
Weights come from `vmas_jax.convert.encodec` (HF or audiocraft) or `codec_init` (random);
`vmas_jax.build.make_codec` picks one from a config.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from pathlib import Path
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from vmas_jax.models.codec_layers import LSTM, Conv1d, ConvTranspose1d, ResnetBlock

Dtype = Any
Array = jax.Array

# The small trained codec shipped with the package (HF format; vmas_jax/configs/codec_bundled.py).
BUNDLED_CODEC = Path(__file__).resolve().parents[1] / "assets" / "codec"


@dataclasses.dataclass(frozen=True)
class EncodecConfig:
  """Architecture of an EnCodec model (the subset of HF `EncodecConfig` that matters)."""
  sample_rate: int = 32000
  num_filters: int = 64
  hidden_size: int = 128  # latent width = codebook_dim
  upsampling_ratios: tuple[int, ...] = (8, 5, 4, 4)  # decoder order; encoder uses the reverse
  num_residual_layers: int = 1
  kernel_size: int = 7
  last_kernel_size: int = 7
  residual_kernel_size: int = 3
  dilation_growth_rate: int = 2
  compress: int = 2
  num_lstm_layers: int = 2
  use_causal_conv: bool = False
  pad_mode: str = "reflect"
  trim_right_ratio: float = 1.0
  use_conv_shortcut: bool = False
  codebook_size: int = 2048
  num_quantizers: int = 4  # codebooks stored
  num_codebooks: int = 4  # codebooks `encode` uses by default (HF: the first target bandwidth)

  @property
  def hop_length(self) -> int:
    return math.prod(self.upsampling_ratios)

  @property
  def frame_rate(self) -> int:
    return math.ceil(self.sample_rate / self.hop_length)

  @classmethod
  def encodec_32khz(cls) -> "EncodecConfig":
    """`facebook/encodec_32khz` (MusicGen): 64 filters, hop 640, 4 x 2048 codebooks."""
    return cls()

  @classmethod
  def tiny(cls) -> "EncodecConfig":
    """Few channels, but the real hop (640), rate (32 kHz) and codebooks (4 x 2048)."""
    return cls(num_filters=4, hidden_size=16, use_conv_shortcut=True)

  @classmethod
  def from_hf_config(cls, hf: dict) -> "EncodecConfig":
    """From a HF `config.json` dict of model_type `encodec`; rejects what we do not implement."""
    unsupported = []
    if hf.get("audio_channels", 1) != 1:
      unsupported.append(f"audio_channels={hf['audio_channels']} (mono only)")
    if hf.get("normalize", False):
      unsupported.append("normalize=True (per-chunk scales)")
    if hf.get("chunk_length_s") is not None:
      unsupported.append("chunk_length_s (chunked encoding)")
    if hf.get("norm_type", "weight_norm") != "weight_norm":
      unsupported.append(f"norm_type={hf['norm_type']!r}")
    if unsupported:
      raise ValueError("EnCodec config not supported: " + "; ".join(unsupported))
    hidden = hf.get("hidden_size", 128)
    if hf.get("codebook_dim") not in (None, hidden):
      raise ValueError(f"EnCodec config not supported: codebook_dim {hf['codebook_dim']} != "
                       f"hidden_size {hidden}")
    ratios = tuple(hf.get("upsampling_ratios", (8, 5, 4, 2)))
    sample_rate = hf.get("sampling_rate", 24000)
    codebook_size = hf.get("codebook_size", 1024)
    bandwidths = tuple(hf.get("target_bandwidths", (1.5, 3.0, 6.0, 12.0, 24.0)))
    # The reference's bitrate arithmetic: bits per frame over log2(codebook_size) bits.
    bw_per_q = math.ceil(math.log2(codebook_size)) * math.ceil(sample_rate / math.prod(ratios))
    num_quantizers = int(1000 * bandwidths[-1] // bw_per_q)
    num_codebooks = max(1, math.floor(bandwidths[0] * 1000 / bw_per_q))
    return cls(
        sample_rate=sample_rate, num_filters=hf.get("num_filters", 32), hidden_size=hidden,
        upsampling_ratios=ratios, num_residual_layers=hf.get("num_residual_layers", 1),
        kernel_size=hf.get("kernel_size", 7), last_kernel_size=hf.get("last_kernel_size", 7),
        residual_kernel_size=hf.get("residual_kernel_size", 3),
        dilation_growth_rate=hf.get("dilation_growth_rate", 2), compress=hf.get("compress", 2),
        num_lstm_layers=hf.get("num_lstm_layers", 2),
        use_causal_conv=hf.get("use_causal_conv", True), pad_mode=hf.get("pad_mode", "reflect"),
        trim_right_ratio=hf.get("trim_right_ratio", 1.0),
        use_conv_shortcut=hf.get("use_conv_shortcut", True), codebook_size=codebook_size,
        num_quantizers=num_quantizers, num_codebooks=min(num_codebooks, num_quantizers))

  def to_hf_config(self) -> dict:
    """The HF `config.json` fields that rebuild this architecture (bandwidths give K)."""
    bw_per_q = math.ceil(math.log2(self.codebook_size)) * self.frame_rate
    return dict(
        model_type="encodec", architectures=["EncodecModel"], audio_channels=1,
        sampling_rate=self.sample_rate, num_filters=self.num_filters,
        hidden_size=self.hidden_size, codebook_dim=self.hidden_size,
        upsampling_ratios=list(self.upsampling_ratios),
        num_residual_layers=self.num_residual_layers, kernel_size=self.kernel_size,
        last_kernel_size=self.last_kernel_size, residual_kernel_size=self.residual_kernel_size,
        dilation_growth_rate=self.dilation_growth_rate, compress=self.compress,
        num_lstm_layers=self.num_lstm_layers, use_causal_conv=self.use_causal_conv,
        pad_mode=self.pad_mode, trim_right_ratio=self.trim_right_ratio,
        use_conv_shortcut=self.use_conv_shortcut, codebook_size=self.codebook_size,
        norm_type="weight_norm", normalize=False, chunk_length_s=None, overlap=None,
        target_bandwidths=sorted({self.num_codebooks * bw_per_q / 1000,
                                  self.num_quantizers * bw_per_q / 1000}))


def _conv_kw(cfg: EncodecConfig, dtype) -> dict:
  return dict(causal=cfg.use_causal_conv, pad_mode=cfg.pad_mode, dtype=dtype)


def _res_blocks(cfg: EncodecConfig, dtype, prefix: str) -> list[nn.Module]:
  return [ResnetBlock(cfg.residual_kernel_size, cfg.dilation_growth_rate ** j, cfg.compress,
                      cfg.use_conv_shortcut, name=f"{prefix}_res{j}", **_conv_kw(cfg, dtype))
          for j in range(cfg.num_residual_layers)]


class SeanetEncoder(nn.Module):
  """`[B, T, 1] -> [B, ceil(T / hop), hidden]`: conv, (res blocks, ELU, strided conv) per ratio,
  LSTM, ELU, conv.  Stage i is named `down{i}` in encoder order (ratios reversed)."""
  config: EncodecConfig
  dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, x: Array) -> Array:
    cfg, kw = self.config, _conv_kw(self.config, self.dtype)
    x = Conv1d(cfg.num_filters, cfg.kernel_size, name="conv_in", **kw)(x)
    for i, ratio in enumerate(reversed(cfg.upsampling_ratios)):
      for block in _res_blocks(cfg, self.dtype, f"down{i}"):
        x = block(x)
      x = Conv1d(x.shape[-1] * 2, 2 * ratio, stride=ratio, name=f"down{i}_conv", **kw)(nn.elu(x))
    x = LSTM(cfg.num_lstm_layers, dtype=self.dtype, name="lstm")(x)
    return Conv1d(cfg.hidden_size, cfg.last_kernel_size, name="conv_out", **kw)(nn.elu(x))


class SeanetDecoder(nn.Module):
  """`[B, F, hidden] -> [B, F * hop, 1]`: conv, LSTM, (ELU, transposed conv, res blocks) per
  ratio, ELU, conv.  Stage i is named `up{i}`."""
  config: EncodecConfig
  dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, x: Array) -> Array:
    cfg, kw = self.config, _conv_kw(self.config, self.dtype)
    width = cfg.num_filters * 2 ** len(cfg.upsampling_ratios)
    x = Conv1d(width, cfg.kernel_size, name="conv_in", **kw)(x)
    x = LSTM(cfg.num_lstm_layers, dtype=self.dtype, name="lstm")(x)
    for i, ratio in enumerate(cfg.upsampling_ratios):
      width //= 2
      x = ConvTranspose1d(width, 2 * ratio, ratio, causal=cfg.use_causal_conv,
                          trim_right_ratio=cfg.trim_right_ratio, dtype=self.dtype,
                          name=f"up{i}_conv")(nn.elu(x))
      for block in _res_blocks(cfg, self.dtype, f"up{i}"):
        x = block(x)
    return Conv1d(1, cfg.last_kernel_size, name="conv_out", **kw)(nn.elu(x))


def rvq_encode(codebooks: Array, z: Array) -> Array:
  """Residual VQ: `codebooks [K, N, D]`, latents `z [B, F, D]` -> codes `[B, K, F]` int32.

  Nearest entry by the reference's expression -(|x|^2 - 2 x.e + |e|^2), in fp32, so that
  near-ties resolve as they do in PyTorch.
  """
  residual = z.astype(jnp.float32)
  codes = []
  for k in range(codebooks.shape[0]):
    embed = codebooks[k].astype(jnp.float32)
    dots = jnp.einsum("bfd,nd->bfn", residual, embed, precision=jax.lax.Precision.HIGHEST)
    dist = -(jnp.sum(residual ** 2, -1, keepdims=True) - 2 * dots + jnp.sum(embed ** 2, -1))
    idx = jnp.argmax(dist, axis=-1).astype(jnp.int32)
    residual = residual - jnp.take(embed, idx, axis=0)
    codes.append(idx)
  return jnp.stack(codes, axis=1)


def rvq_decode(codebooks: Array, codes: Array) -> Array:
  """Sum of the codebook entries: `codes [B, K, F]` -> latents `[B, F, D]` fp32."""
  out = 0.0
  for k in range(codes.shape[1]):
    out = out + jnp.take(codebooks[k].astype(jnp.float32), codes[:, k], axis=0)
  return out


class EncodecModel(nn.Module):
  """EnCodec: `encode(wav[B, T]) -> codes[B, K, F]`, `decode(codes[B, K, F]) -> wav[B, F*hop]`.

  Params: `encoder`, `decoder` (SEANet) and `quantizer/codebooks [num_quantizers, N, D]`.
  `dtype` is the compute dtype of convs and LSTM; quantization is always fp32.
  """
  config: EncodecConfig
  dtype: Dtype = jnp.float32

  def setup(self):
    cfg = self.config
    self.encoder = SeanetEncoder(cfg, self.dtype)
    self.decoder = SeanetDecoder(cfg, self.dtype)
    self.codebooks = self.param(
        "codebooks", nn.with_logical_partitioning(nn.initializers.normal(1.0),
                                                  ("codebooks", None, None)),
        (cfg.num_quantizers, cfg.codebook_size, cfg.hidden_size), jnp.float32)

  def encode(self, wav: Array, num_codebooks: int | None = None) -> Array:
    """wav `[B, T]` float -> codes `[B, K, ceil(T / hop)]` int32 (K = config.num_codebooks)."""
    k = num_codebooks or self.config.num_codebooks
    z = self.encoder(wav[..., None].astype(self.dtype))
    return rvq_encode(self.codebooks[:k], z)

  def decode(self, codes: Array) -> Array:
    """codes `[B, K, F]` -> wav `[B, F * hop]` float32."""
    z = rvq_decode(self.codebooks, codes)
    return self.decoder(z.astype(self.dtype))[..., 0].astype(jnp.float32)

  def __call__(self, wav: Array) -> tuple[Array, Array]:
    """Round trip (also what `init` traces): wav `[B, T]` -> (codes, wav `[B, F * hop]`)."""
    codes = self.encode(wav)
    return codes, self.decode(codes)


def jitted_codec(config: EncodecConfig, dtype=jnp.float32):
  """`(encode(variables, wav[B, T]), decode(variables, codes[B, K, F]))`, jitted and cached
  per architecture and dtype, so every caller with the same shapes shares one compilation."""
  return _jitted_codec(config, jnp.dtype(dtype))


@functools.lru_cache(maxsize=None)
def _jitted_codec(config: EncodecConfig, dtype):
  module = EncodecModel(config, dtype=dtype)
  encode = jax.jit(lambda v, wav: module.apply(v, wav, method="encode"))
  decode = jax.jit(lambda v, codes: module.apply(v, codes, method="decode"))
  return encode, decode


PRESETS = {"tiny": EncodecConfig.tiny, "encodec_32khz": EncodecConfig.encodec_32khz}
