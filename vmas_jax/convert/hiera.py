"""Import HF `HieraModel` checkpoints (model_type "hiera", image variant).

State-dict names (optionally prefixed `hiera.` as in HieraForImageClassification):
  embeddings.patch_embeddings.projection, embeddings.position_embeddings,
  encoder.stages.S.layers.J.{layernorm_before, proj?, attn.qkv, attn.proj, layernorm_after,
  mlp.fc1, mlp.fc2}, pooler.layernorm.
"""

from __future__ import annotations

from pathlib import Path

import jax.numpy as jnp
import numpy as np

from vmas_jax.convert.hf_io import params_from_dir
from vmas_jax.models.vision.hiera import Hiera


def module_from_hf_config(config: dict, dtype=jnp.float32) -> Hiera:
  c = config
  if len(c.get("patch_size", (7, 7))) != 2:
    raise ValueError("only the image (2-D) Hiera variant is supported")
  t = lambda k, d: tuple(c.get(k, d))
  return Hiera(image_size=t("image_size", (224, 224)), embed_dim=c.get("embed_dim", 96),
               patch_size=t("patch_size", (7, 7)), patch_stride=t("patch_stride", (4, 4)),
               patch_padding=t("patch_padding", (3, 3)), mlp_ratio=c.get("mlp_ratio", 4.0),
               depths=t("depths", (2, 3, 16, 3)), num_heads=t("num_heads", (1, 2, 4, 8)),
               embed_dim_multiplier=c.get("embed_dim_multiplier", 2.0),
               num_query_pool=c.get("num_query_pool", 3), query_stride=t("query_stride", (2, 2)),
               masked_unit_size=t("masked_unit_size", (8, 8)),
               masked_unit_attention=t("masked_unit_attention", (True, True, False, False)),
               act=c.get("hidden_act", "gelu"), eps=c.get("layer_norm_eps", 1e-6), dtype=dtype)


def _ln(sd, name):
  return {"scale": sd[f"{name}.weight"], "bias": sd[f"{name}.bias"]}


def _dense(sd, name):
  return {"kernel": sd[f"{name}.weight"].T, "bias": sd[f"{name}.bias"]}


def params_from_state_dict(module: Hiera, sd: dict[str, np.ndarray]) -> dict:
  sd = {k[len("hiera."):] if k.startswith("hiera.") else k: v for k, v in sd.items()}
  p = {
      "patch_embed": {
          "kernel": sd["embeddings.patch_embeddings.projection.weight"].transpose(2, 3, 1, 0),
          "bias": sd["embeddings.patch_embeddings.projection.bias"]},
      "position_embeddings": sd["embeddings.position_embeddings"],
      "pooler_norm": _ln(sd, "pooler.layernorm"),
  }
  for s, j, out_dim, heads, *_ in module._layer_plan():
    pre = f"encoder.stages.{s}.layers.{j}"
    hd = out_dim // heads
    qkv = _dense(sd, f"{pre}.attn.qkv")
    proj = _dense(sd, f"{pre}.attn.proj")
    layer = {
        "layernorm_before": _ln(sd, f"{pre}.layernorm_before"),
        "layernorm_after": _ln(sd, f"{pre}.layernorm_after"),
        "attn": {
            "qkv": {"kernel": qkv["kernel"].reshape(-1, 3, heads, hd),
                    "bias": qkv["bias"].reshape(3, heads, hd)},
            "proj": {"kernel": proj["kernel"].reshape(heads, hd, out_dim), "bias": proj["bias"]},
        },
        "mlp": {"fc1": _dense(sd, f"{pre}.mlp.fc1"), "fc2": _dense(sd, f"{pre}.mlp.fc2")},
    }
    if f"{pre}.proj.weight" in sd:
      layer["proj"] = _dense(sd, f"{pre}.proj")
    p[f"stage{s}_layer{j}"] = layer
  return {"params": p}


def import_hf(directory: Path, config: dict, dtype=jnp.float32, *,
              trust_remote_pickle: bool = False) -> tuple[Hiera, dict]:
  module = module_from_hf_config(config, dtype=dtype)
  return module, params_from_dir(module, directory, params_from_state_dict, "Hiera",
                                 trust_remote_pickle=trust_remote_pickle)
