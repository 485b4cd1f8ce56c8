"""Exported VMAS models: a folder with `config.json` and `params.msgpack`, and the bundled one.

  export_model(config, params, "my_model/")            # bf16 weights, the run's config
  config, params = load_model("my_model/")             # fp32 params, ready for the pipeline
  config, params = load_model()                        # the demo model shipped in the package

The weights are Flax msgpack (no pickle: safe to load from anywhere).  A relative
`codec.hf_path` in the saved config is relative to the model folder, so a model and the
codec it was trained with move together (the bundled model points at the bundled codec).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

BUNDLED_MODEL = Path(__file__).resolve().parent / "assets" / "demo_model"
CONFIG_FILE, PARAMS_FILE = "config.json", "params.msgpack"
# kept in fp32 whatever the export dtype: the feature statistics (a few hundred numbers)
# subtract a mean ~10x the spread they standardise, which bf16 would shift by ~4 % of it
FP32_LEAVES = ("feature_shift", "feature_scale")


def export_model(config, params, out_dir, *, dtype: str = "bfloat16") -> Path:
  """Write `config` and `params` (floating leaves cast to `dtype`) to `out_dir`; a local
  codec path is stored relative to `out_dir`."""
  import ml_collections
  from flax import serialization
  out = Path(out_dir)
  out.mkdir(parents=True, exist_ok=True)
  config = ml_collections.ConfigDict(config.to_dict())
  codec_path = config.codec.hf_path
  if codec_path and Path(codec_path).is_dir():
    config.codec.hf_path = os.path.relpath(Path(codec_path).resolve(), out.resolve())
  config.data.dir = ""  # the training data does not travel with the model
  import jax
  import jax.numpy as jnp
  def cast(path, x):
    x = np.asarray(jax.device_get(x))
    if not jnp.issubdtype(x.dtype, jnp.floating):
      return x
    keep = getattr(path[-1], "key", None) in FP32_LEAVES
    return np.asarray(x, np.float32 if keep else jnp.dtype(dtype))
  host = jax.tree_util.tree_map_with_path(cast, params)
  (out / PARAMS_FILE).write_bytes(serialization.msgpack_serialize(_to_plain(host)))
  (out / CONFIG_FILE).write_text(config.to_json_best_effort(indent=2))
  return out


def _to_plain(tree):
  """Nested mappings of arrays -> nested dicts (msgpack_serialize wants plain dicts)."""
  if hasattr(tree, "items"):
    return {str(k): _to_plain(v) for k, v in tree.items()}
  return tree


def load_model(path=None):
  """(config, params float32) of an exported model folder (default: the bundled one).
  Raises FileNotFoundError naming what is missing."""
  import jax.numpy as jnp
  from vmas_jax.config_utils import with_defaults
  from flax import serialization
  folder = Path(path) if path is not None else BUNDLED_MODEL
  for name in (CONFIG_FILE, PARAMS_FILE):
    if not (folder / name).is_file():
      hint = (" (this install has no bundled demo model; train one with "
              "`vmas demo --train`)" if path is None else "")
      raise FileNotFoundError(f"{folder / name}: missing{hint}")
  config = with_defaults(json.loads((folder / CONFIG_FILE).read_text()))
  codec_path = config.codec.hf_path
  if codec_path and not os.path.isabs(codec_path) and (folder / codec_path).is_dir():
    config.codec.hf_path = str((folder / codec_path).resolve())
  try:
    tree = serialization.msgpack_restore((folder / PARAMS_FILE).read_bytes())
  except Exception as e:  # pylint: disable=broad-except
    raise ValueError(f"{folder / PARAMS_FILE}: not a Flax msgpack file ({e})") from e
  import jax
  params = jax.tree.map(lambda x: jnp.asarray(x, jnp.float32)
                        if jnp.issubdtype(x.dtype, jnp.floating) else jnp.asarray(x), tree)
  return config, params
