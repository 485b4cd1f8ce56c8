"""Import the musicnn taggers from the TensorFlow checkpoints in the `musicnn` wheel, without TF.

  module, variables = load_musicnn("MTT_musicnn")      # or "MSD_musicnn", or a checkpoint dir
  out = module.apply(variables, mel_patches)            # see vmas_jax.eval.musicnn.Musicnn

The wheel (ISC licence) is installed with `pip install --no-deps musicnn` (its metadata pins
numpy < 1.17, which nothing here needs); only its checkpoint files are read, never its code.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import numpy as np

from vmas_jax.convert.tf_checkpoint import load_tf_checkpoint, read_index
from vmas_jax.eval.musicnn import Musicnn

MODELS = ("MTT_musicnn", "MSD_musicnn")

# Flax module -> (TF conv layer, TF batch-norm layer), in the order models.build_musicnn
# creates them (TF numbers its layers by creation order).
_BLOCKS = [("timbral_74", "conv2d", "batch_normalization_1"),
           ("timbral_77", "conv2d_1", "batch_normalization_2"),
           ("temporal_128", "conv2d_2", "batch_normalization_3"),
           ("temporal_64", "conv2d_3", "batch_normalization_4"),
           ("temporal_32", "conv2d_4", "batch_normalization_5"),
           ("midend_1", "conv2d_5", "batch_normalization_6"),
           ("midend_2", "conv2d_6", "batch_normalization_7"),
           ("midend_3", "conv2d_7", "batch_normalization_8")]
_NORMS = [("input_bn", "batch_normalization"), ("pool_bn", "batch_normalization_9"),
          ("dense_bn", "batch_normalization_10")]
_DENSES = [("dense", "dense"), ("logits", "dense_1")]


def checkpoint_prefix(name_or_dir: str | os.PathLike) -> str:
  """The checkpoint prefix of a model name in the installed wheel, or of a directory."""
  if str(name_or_dir) in MODELS:
    spec = importlib.util.find_spec("musicnn")  # locates the package without importing it
    if spec is None or not spec.submodule_search_locations:
      raise FileNotFoundError(f"{name_or_dir}: the musicnn package is not installed "
                              f"(pip install --no-deps musicnn)")
    directory = Path(list(spec.submodule_search_locations)[0]) / str(name_or_dir)
  else:
    directory = Path(name_or_dir)
  if not (directory / ".index").is_file():
    raise FileNotFoundError(f"{directory}: no TensorFlow checkpoint (.index) in this directory")
  return str(directory) + os.sep


def _bn(w: dict, tf_name: str) -> tuple[dict, dict]:
  return ({"scale": w[f"{tf_name}/gamma"], "bias": w[f"{tf_name}/beta"]},
          {"mean": w[f"{tf_name}/moving_mean"], "var": w[f"{tf_name}/moving_variance"]})


def convert_weights(w: dict[str, np.ndarray]) -> tuple[dict, dict]:
  """TF variables (name -> array) -> Flax (params, batch_stats) for `Musicnn`."""
  params, stats = {}, {}
  for name, conv, bn in _BLOCKS:
    kernel = w[f"{conv}/kernel"]
    if name.startswith("midend"):  # [7, C, 1, F] over the whole channel axis -> 1-D conv
      kernel = kernel[:, :, 0, :]
    params[name] = {"conv": {"kernel": kernel, "bias": w[f"{conv}/bias"]}}
    params[name]["bn"], stats[name] = _bn(w, bn)
    stats[name] = {"bn": stats[name]}
  for name, bn in _NORMS:
    params[name], stats[name] = _bn(w, bn)
  for name, dense in _DENSES:
    params[name] = {"kernel": w[f"{dense}/kernel"], "bias": w[f"{dense}/bias"]}
  return params, stats


def load_musicnn(name_or_dir: str | os.PathLike = "MTT_musicnn") -> tuple[Musicnn, dict]:
  """(Musicnn module, {"params", "batch_stats"}) from a musicnn TF checkpoint."""
  prefix = checkpoint_prefix(name_or_dir)
  entries, _ = read_index(prefix)
  names = [n for n in entries if "Adam" not in n and not n.endswith("_power")]
  w = load_tf_checkpoint(prefix, names)
  try:
    params, stats = convert_weights(w)
  except KeyError as e:
    raise ValueError(f"{prefix}: not a musicnn checkpoint (missing variable {e})") from None
  module = Musicnn(num_classes=w["dense_1/kernel"].shape[1],
                   midend_filters=w["conv2d_5/kernel"].shape[-1],
                   backend_units=w["dense/kernel"].shape[1])
  return module, {"params": params, "batch_stats": stats}
