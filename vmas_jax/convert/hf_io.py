"""Reading and writing Hugging Face checkpoint directories without needing torch.

A state dict is returned as `{name: np.ndarray}` in fp32 (or the stored integer dtype).
safetensors files are read with `safetensors.numpy`; `pytorch_model.bin` needs torch.
"""

from __future__ import annotations

import glob
import json
import os
from pathlib import Path

import numpy as np


def resolve_hf_dir(path_or_repo_id: str | os.PathLike) -> Path:
  """A local directory as is; otherwise download the hub repo (needs network)."""
  path = Path(path_or_repo_id)
  if path.is_dir():
    return path
  if path.exists():
    raise ValueError(f"{path}: expected a model directory, got a file")
  text = str(path_or_repo_id)
  if text.startswith((".", "/")) or text.count("/") > 1:
    raise FileNotFoundError(f"{text}: no such model directory")
  from huggingface_hub import snapshot_download  # only for users who are online
  return Path(snapshot_download(text, allow_patterns=["*.json", "*.safetensors", "*.bin", "*.txt"]))


def load_hf_config(directory: str | os.PathLike) -> dict:
  path = Path(directory) / "config.json"
  if not path.is_file():
    raise FileNotFoundError(f"{path}: missing; not a Hugging Face model directory")
  try:
    return json.loads(path.read_text())
  except json.JSONDecodeError as e:
    raise ValueError(f"{path}: not valid JSON ({e})") from None


def load_state_dict(directory: str | os.PathLike) -> dict[str, np.ndarray]:
  """All weights in `directory` (sharded or not; safetensors preferred over .bin)."""
  directory = Path(directory)
  files = sorted(glob.glob(str(directory / "*.safetensors")))
  if files:
    from safetensors.numpy import load_file
    out = {}
    for f in files:
      try:
        out.update(load_file(f))
      except Exception as e:  # corrupt / truncated file
        raise ValueError(f"{f}: cannot read safetensors ({e})") from None
    return {k: _as_np(v) for k, v in out.items()}
  files = sorted(glob.glob(str(directory / "pytorch_model*.bin")))
  if files:
    return load_torch_state_dict(files)
  raise FileNotFoundError(f"{directory}: no *.safetensors or pytorch_model*.bin weights")


def load_torch_state_dict(files) -> dict[str, np.ndarray]:
  """Weights from torch pickles (`.bin`/`.pt`/`.th`); needs torch installed."""
  try:
    import torch
  except ImportError:
    raise ImportError("reading PyTorch .bin checkpoints needs torch: pip install 'vmas_jax[parity]'"
                      " (or convert the checkpoint to safetensors)") from None
  out = {}
  for f in [files] if isinstance(files, (str, os.PathLike)) else files:
    sd = torch.load(f, map_location="cpu", weights_only=False)
    if isinstance(sd, dict) and "best_state" in sd:  # audiocraft checkpoint wrapper
      sd = sd["best_state"]
      sd = sd.get("model", sd) if isinstance(sd, dict) else sd
    for k, v in sd.items():
      if hasattr(v, "detach"):
        out[k] = _as_np(v.detach().cpu().float().numpy() if v.is_floating_point() else v.numpy())
  return out


def _as_np(v) -> np.ndarray:
  v = np.asarray(v)
  if v.dtype.kind == "f" and v.dtype != np.float32:
    v = v.astype(np.float32)
  return v


def save_safetensors(state: dict[str, np.ndarray], directory: str | os.PathLike,
                     name: str = "model.safetensors") -> Path:
  from safetensors.numpy import save_file
  directory = Path(directory)
  directory.mkdir(parents=True, exist_ok=True)
  path = directory / name
  save_file({k: np.ascontiguousarray(v) for k, v in state.items()}, str(path),
            metadata={"format": "pt"})
  return path


def weight_norm(g: np.ndarray, v: np.ndarray) -> np.ndarray:
  """PyTorch weight_norm (dim=0): w = g * v / ||v|| over all axes but the first."""
  axes = tuple(range(1, v.ndim))
  return g * v / np.sqrt(np.sum(v * v, axis=axes, keepdims=True))


def params_from_dir(module, directory, params_fn, what: str) -> dict:
  """`params_fn(module, state_dict)` on the weights in `directory`; a missing weight is an
  error naming the directory and the weight."""
  sd = load_state_dict(directory)
  try:
    return params_fn(module, sd)
  except KeyError as e:
    raise ValueError(f"{directory}: {what} weight {e.args[0]!r} missing") from None


class TensorReader:
  """`reader(name) -> np.ndarray` (fp32 for floats): one tensor at a time from `directory`.

  safetensors files are memory-mapped and read per tensor, so a loader that places parameters
  one by one never holds the whole checkpoint; torch `.bin` checkpoints can only be read
  whole (they are one pickle) and are loaded once.
  """

  def __init__(self, directory: str | os.PathLike):
    self.directory = Path(directory)
    files = sorted(glob.glob(str(self.directory / "*.safetensors")))
    self._where, self._state = {}, None
    if files:
      from safetensors import safe_open
      for f in files:
        try:
          handle = safe_open(f, framework="np")
        except Exception as e:  # corrupt / truncated file
          raise ValueError(f"{f}: cannot read safetensors ({e})") from None
        self._where.update({name: handle for name in handle.keys()})
    else:
      self._state = load_state_dict(self.directory)

  def names(self) -> set[str]:
    return set(self._where) if self._state is None else set(self._state)

  def __call__(self, name: str) -> np.ndarray:
    if self._state is not None:
      if name not in self._state:
        raise KeyError(name)
      return self._state[name]
    if name not in self._where:
      raise KeyError(name)
    return _as_np(self._where[name].get_tensor(name))
