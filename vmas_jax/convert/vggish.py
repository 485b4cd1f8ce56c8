"""Import VGGish from torchvggish's PyTorch state dict (`vggish-10086976.pth`).

  module, variables = load_vggish("vggish-10086976.pth")   # or a .safetensors copy
  out = module.apply(variables, examples)                   # see vmas_jax.models.vggish

The file is read with `torch.load(weights_only=True)` (tensors only, never a full unpickle)
or as safetensors; nothing is downloaded here: users fetch the published file (WEIGHTS_URL)
themselves.  torchvggish's PCA/quantisation file is not used: FAD takes the embedding
before that post-processing.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from vmas_jax.convert.hf_io import load_weights_file
from vmas_jax.models.vggish import VGGish

WEIGHTS_URL = ("https://github.com/harritaylor/torchvggish/releases/download/v0.1/"
               "vggish-10086976.pth")
# torchvggish's Sequential indices: conv layers (ReLU and max-pool layers in between).
_CONV_INDICES = (0, 3, 6, 8, 11, 13)
_FC_INDICES = (0, 2, 4)


def params_from_state_dict(sd: dict[str, np.ndarray]) -> dict:
  """torchvggish state dict -> Flax params of `VGGish`."""
  p = {}
  for i, k in enumerate(_CONV_INDICES):  # torch [out, in, kh, kw] -> [kh, kw, in, out]
    p[f"conv_{i}"] = {"kernel": sd[f"features.{k}.weight"].transpose(2, 3, 1, 0),
                      "bias": sd[f"features.{k}.bias"]}
  for j, k in enumerate(_FC_INDICES):
    p[f"fc_{j}"] = {"kernel": sd[f"embeddings.{k}.weight"].T, "bias": sd[f"embeddings.{k}.bias"]}
  return p


def default_weights_path() -> Path:
  """Where `load_vggish(None)` looks for the published file: $VMAS_EVAL_WEIGHTS or
  ~/.cache/vmas_jax/weights, then vggish-10086976.pth."""
  root = os.environ.get("VMAS_EVAL_WEIGHTS") or Path.home() / ".cache" / "vmas_jax" / "weights"
  return Path(root) / "vggish-10086976.pth"


def load_vggish(path: str | os.PathLike | None = None) -> tuple[VGGish, dict]:
  """(VGGish module, {"params"}) from a torchvggish state dict (.pth/.pt or .safetensors);
  None: the published file at `default_weights_path()`."""
  path = default_weights_path() if path is None else Path(path)
  if not path.is_file():
    raise FileNotFoundError(
        f"{path}: no VGGish weights there; download torchvggish's {WEIGHTS_URL} yourself and "
        f"pass its path (vmas eval --embedding-weights PATH) or put it at "
        f"{default_weights_path()}")
  sd = load_weights_file(path)
  try:
    params = params_from_state_dict(sd)
  except KeyError as e:
    raise ValueError(f"{path}: not a torchvggish state dict (missing {e.args[0]!r})") from None
  if params["fc_0"]["kernel"].shape[0] != 6 * 4 * 512:
    raise ValueError(f"{path}: embeddings.0.weight takes {params['fc_0']['kernel'].shape[0]} "
                     f"inputs, VGGish's conv stack gives {6 * 4 * 512}")
  return VGGish(tuple(params[f"fc_{j}"]["bias"].shape[0] for j in range(len(_FC_INDICES)))), \
      {"params": params}
