"""Import HF CLIP vision towers (`clip_vision_model`, or the vision half of a full `clip`).

State-dict names (with or without the `vision_model.` prefix of older / full checkpoints):
  embeddings.{class_embedding, patch_embedding.weight, position_embedding.weight},
  pre_layrnorm, encoder.layers.N.{layer_norm1, self_attn.{q,k,v,out}_proj, layer_norm2,
  mlp.fc1, mlp.fc2}, post_layernorm.
"""

from __future__ import annotations

from pathlib import Path

import jax.numpy as jnp
import numpy as np

from vmas_jax.convert.hf_io import params_from_dir
from vmas_jax.models.vision.clip import CLIPVision


def _vision_config(config: dict) -> dict:
  if config.get("model_type") == "clip":
    return config.get("vision_config") or {}
  return config


def module_from_hf_config(config: dict, dtype=jnp.float32) -> CLIPVision:
  c = _vision_config(config)
  hidden = c.get("hidden_size", 768)
  return CLIPVision(image_size=c.get("image_size", 224), patch_size=c.get("patch_size", 32),
                    hidden_size=hidden, num_layers=c.get("num_hidden_layers", 12),
                    num_heads=c.get("num_attention_heads", 12),
                    mlp_dim=c.get("intermediate_size", 3072),
                    act=c.get("hidden_act", "quick_gelu"), eps=c.get("layer_norm_eps", 1e-5),
                    dtype=dtype)


def _vision_weights(sd: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
  """Keep the vision tower's tensors, names relative to the tower."""
  out = {}
  for k, v in sd.items():
    if k.startswith("vision_model."):
      out[k[len("vision_model."):]] = v
    elif k.startswith(("embeddings.", "encoder.", "pre_layrnorm.", "post_layernorm.")):
      out[k] = v
  return out


def _ln(sd, name):
  return {"scale": sd[f"{name}.weight"], "bias": sd[f"{name}.bias"]}


def _dense(sd, name, in_shape=None, out_shape=None):
  w = sd[f"{name}.weight"].T  # torch [out, in] -> [in, out]
  b = sd[f"{name}.bias"]
  if in_shape:
    w = w.reshape(*in_shape, w.shape[-1])
  if out_shape:
    w = w.reshape(w.shape[0], *out_shape)
    b = b.reshape(out_shape)
  return {"kernel": w, "bias": b}


def params_from_state_dict(module: CLIPVision, sd: dict[str, np.ndarray]) -> dict:
  sd = _vision_weights(sd)
  h = module.num_heads
  hd = module.hidden_size // h
  p = {
      "patch_embedding": {"kernel": sd["embeddings.patch_embedding.weight"].transpose(2, 3, 1, 0)},
      "class_embedding": sd["embeddings.class_embedding"],
      "position_embedding": sd["embeddings.position_embedding.weight"],
      "pre_layrnorm": _ln(sd, "pre_layrnorm"),
      "post_layernorm": _ln(sd, "post_layernorm"),
  }
  for i in range(module.num_layers):
    pre = f"encoder.layers.{i}"
    p[f"layers_{i}"] = {
        "layer_norm1": _ln(sd, f"{pre}.layer_norm1"),
        "layer_norm2": _ln(sd, f"{pre}.layer_norm2"),
        "self_attn": {
            "q_proj": _dense(sd, f"{pre}.self_attn.q_proj", out_shape=(h, hd)),
            "k_proj": _dense(sd, f"{pre}.self_attn.k_proj", out_shape=(h, hd)),
            "v_proj": _dense(sd, f"{pre}.self_attn.v_proj", out_shape=(h, hd)),
            "out_proj": _dense(sd, f"{pre}.self_attn.out_proj", in_shape=(h, hd)),
        },
        "mlp": {"fc1": _dense(sd, f"{pre}.mlp.fc1"), "fc2": _dense(sd, f"{pre}.mlp.fc2")},
    }
  return {"params": p}


def import_hf(directory: Path, config: dict, dtype=jnp.float32, *,
              trust_remote_pickle: bool = False) -> tuple[CLIPVision, dict]:
  module = module_from_hf_config(config, dtype=dtype)
  return module, params_from_dir(module, directory, params_from_state_dict, "CLIP vision",
                                 trust_remote_pickle=trust_remote_pickle)
