"""LoRA on the music decoder: low-rank updates of its attention and MLP kernels.

The adapters live next to the model's own params, under `params["lora"]`, mirroring the path
of the kernel they adapt (scan layout shown):

  params["lora"]["decoder"]["layers"]["self_attn"]["q_proj"] = {"a": [L, in, r], "b": [L, r, out]}
  kernel' = kernel + (alpha / r) * (a @ b).reshape(kernel.shape)

`b` starts at zero, so a fresh adapter changes nothing.  The modules are untouched: `merge`
builds the effective params (inside the jitted step, where the merged kernels are transient),
and an export or a generation run merges once into plain weights.
"""

from __future__ import annotations

import math

import flax.linen as nn
import jax
import jax.numpy as jnp
from flax import traverse_util

# config name -> (module in each decoder layer, its kernels)
TARGETS = {
    "self_attn": ("self_attn", ("q_proj", "k_proj", "v_proj", "out_proj")),
    "encoder_attn": ("encoder_attn", ("q_proj", "k_proj", "v_proj", "out_proj")),
    "mlp": ("mlp", ("fc1", "fc2")),
}
# kernel name -> (input dims, output dims): q/k/v are [D, H, Dh], out_proj [H, Dh, D]
_DIMS = {"q_proj": (1, 2), "k_proj": (1, 2), "v_proj": (1, 2), "out_proj": (2, 1),
         "fc1": (1, 1), "fc2": (1, 1)}


def parse_targets(text: str) -> tuple[str, ...]:
  names = tuple(t.strip() for t in text.split(",") if t.strip())
  bad = [t for t in names if t not in TARGETS]
  if bad or not names:
    raise ValueError(f"config.finetune.lora_targets={text!r}: expected a comma list of "
                     f"{sorted(TARGETS)}")
  return names


def _is_target(path: tuple, targets) -> bool:
  """path of a params leaf, e.g. ("decoder", "layers", "self_attn", "q_proj", "kernel")."""
  if path[0] != "decoder" or path[-1] != "kernel" or len(path) < 4:
    return False
  return any(path[-3] == TARGETS[t][0] and path[-2] in TARGETS[t][1] for t in targets)


def init(params: dict, rng, rank: int, targets) -> dict:
  """Adapters for the targeted kernels of `params` (boxed with logical names, as `init` gives
  them, or plain).  a ~ N(0, 1/in), b = 0; a and b take the kernel's axis names."""
  is_box = lambda x: isinstance(x, nn.LogicallyPartitioned)
  flat = traverse_util.flatten_dict(params)  # boxes are leaves: they are not dicts
  out = {}
  paths = sorted(p for p in flat if _is_target(p, targets))
  for i, path in enumerate(paths):
    leaf = flat[path]
    value = leaf.value if is_box(leaf) else leaf
    n_in, n_out = _DIMS[path[-2]]
    lead = value.ndim - n_in - n_out
    d_in, d_out = math.prod(value.shape[lead:lead + n_in]), math.prod(value.shape[lead + n_in:])
    shape = value.shape[:lead]
    a = jax.random.normal(jax.random.fold_in(rng, i), shape + (d_in, rank), value.dtype)
    a = a * d_in ** -0.5
    b = jnp.zeros(shape + (rank, d_out), value.dtype)
    if is_box(leaf):
      names = tuple(leaf.names)
      a = nn.LogicallyPartitioned(a, names[:lead] + (names[lead], None))
      b = nn.LogicallyPartitioned(b, names[:lead] + (None, names[lead + n_in]))
    out[path[:-1] + ("a",)] = a
    out[path[:-1] + ("b",)] = b
  if not out:
    raise ValueError(f"LoRA targets {targets} match no decoder kernel")
  return traverse_util.unflatten_dict(out)


def merge(params: dict, alpha: float) -> dict:
  """params with the adapters of params["lora"] added into their kernels and "lora" removed;
  params without "lora" are returned as they are."""
  if "lora" not in params:
    return params
  flat = traverse_util.flatten_dict({k: v for k, v in params.items() if k != "lora"})
  for path, ab in traverse_util.flatten_dict(params["lora"], is_leaf=lambda _, x: "a" in x).items():
    kernel = flat[path + ("kernel",)]
    a, b = ab["a"], ab["b"]
    delta = jnp.einsum("...ir,...ro->...io", a.astype(jnp.float32), b.astype(jnp.float32))
    scale = alpha / a.shape[-1]
    flat[path + ("kernel",)] = (kernel + scale * delta.reshape(kernel.shape)).astype(kernel.dtype)
  return traverse_util.unflatten_dict(flat)
