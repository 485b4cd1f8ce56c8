"""Import HF T5 encoders (`T5EncoderModel`, or the encoder of a `T5Model` /
`T5ForConditionalGeneration`, or the text encoder inside a full `musicgen` directory).

State-dict names (under `PREFIX` = "" or "text_encoder."): `shared.weight` (or its tied copy
`encoder.embed_tokens.weight`), `encoder.block.N.layer.0.SelfAttention.{q,k,v,o}.weight`,
`encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight` (shared by all layers),
`encoder.block.N.layer.0.layer_norm.weight`, `encoder.block.N.layer.1.DenseReluDense.
{wi | wi_0, wi_1, wo}.weight`, `encoder.block.N.layer.1.layer_norm.weight`,
`encoder.final_layer_norm.weight`.  torch Linear weights are [out, in].
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from vmas_jax.convert.hf_io import params_from_dir
from vmas_jax.models.text.t5 import T5Config, T5Encoder


def module_from_hf_config(config: dict, **overrides) -> T5Encoder:
  return T5Encoder(T5Config.from_hf_config(config, **overrides))


def params_from_state_dict(module: T5Encoder, sd: dict, prefix: str = "") -> dict:
  """Plain params of `module` from a HF T5 state dict; a missing weight raises KeyError."""
  cfg = module.config
  w = lambda name: np.asarray(sd[prefix + name], np.float32)
  shared = prefix + "shared.weight"
  embed = w("shared.weight" if shared in sd else "encoder.embed_tokens.weight")
  h, dk = cfg.num_heads, cfg.d_kv
  enc = "encoder.block.{}.layer."
  p = {"shared": {"embedding": embed},
       "relative_attention_bias": w(enc.format(0) + "0.SelfAttention.relative_attention_bias.weight"),
       "final_layer_norm": {"scale": w("encoder.final_layer_norm.weight")}}
  for i in range(cfg.num_layers):
    a, f = enc.format(i) + "0.", enc.format(i) + "1."
    block = {n: {"kernel": w(f"{a}SelfAttention.{n}.weight").T.reshape(cfg.d_model, h, dk)}
             for n in "qkv"}
    block["o"] = {"kernel": w(f"{a}SelfAttention.o.weight").T.reshape(h, dk, cfg.d_model)}
    block["attn_norm"] = {"scale": w(a + "layer_norm.weight")}
    block["ffn_norm"] = {"scale": w(f + "layer_norm.weight")}
    for n in (("wi_0", "wi_1", "wo") if cfg.gated else ("wi", "wo")):
      block[n] = {"kernel": w(f"{f}DenseReluDense.{n}.weight").T}
    p[f"block_{i}"] = block
  return {"params": p}


def import_hf(directory: Path, config: dict, **overrides) -> tuple[T5Encoder, dict]:
  """A HF T5 directory (model_type `t5`) -> (T5Encoder, variables); decoder weights ignored."""
  module = module_from_hf_config(config, **overrides)
  return module, params_from_dir(module, directory, params_from_state_dict, "T5 encoder")
