"""Reading and writing Hugging Face checkpoint directories without needing torch.

A state dict is returned as `{name: np.ndarray}` in fp32 (or the stored integer dtype).
safetensors files are read with `safetensors.numpy`; `pytorch_model.bin` needs torch.

Checkpoints are untrusted input.  A torch pickle is read with `torch.load(weights_only=True)`,
which builds only tensors and plain containers; a file that needs full unpickling (it names
other classes, e.g. audiocraft's saved config, or a payload that runs code) is refused with
`UnsafeCheckpointError`, unless the caller opts in with `trust_remote_pickle=True` (CLI
`--trust-pickle`) for a file whose origin it trusts.
"""

from __future__ import annotations

import glob
import json
import os
import pickle
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


class UnsafeCheckpointError(ValueError):
  """A pickle checkpoint that `torch.load(weights_only=True)` cannot read."""


def load_state_dict(directory: str | os.PathLike, *, trust_remote_pickle: bool = False
                    ) -> dict[str, np.ndarray]:
  """All weights in `directory` (sharded or not; safetensors preferred over .bin)."""
  directory = Path(directory)
  files = sorted(glob.glob(str(directory / "*.safetensors")))
  if files:
    out = {}
    for f in files:
      out.update(load_weights_file(f))
    return out
  files = sorted(glob.glob(str(directory / "pytorch_model*.bin")))
  if files:
    return load_torch_state_dict(files, trust_remote_pickle=trust_remote_pickle)
  raise FileNotFoundError(f"{directory}: no *.safetensors or pytorch_model*.bin weights")


def load_weights_file(path, *, trust_remote_pickle: bool = False) -> dict[str, np.ndarray]:
  """One weights file: `.safetensors`, else a torch pickle (see `load_torch_state_dict`)."""
  if str(path).endswith(".safetensors"):
    from safetensors.numpy import load_file
    try:
      return {k: _as_np(v) for k, v in load_file(str(path)).items()}
    except Exception as e:  # corrupt / truncated file
      raise ValueError(f"{path}: cannot read safetensors ({e})") from None
  return load_torch_state_dict(path, trust_remote_pickle=trust_remote_pickle)


def load_torch_state_dict(files, *, trust_remote_pickle: bool = False) -> dict[str, np.ndarray]:
  """Weights from torch pickles (`.bin`/`.pt`/`.th`); needs torch installed.

  Safe by default (`weights_only=True`); `trust_remote_pickle=True` unpickles fully, which
  runs whatever code the file names: only for files from a source you trust.
  """
  try:
    import torch
  except ImportError:
    raise ImportError("reading PyTorch .bin checkpoints needs torch: pip install 'vmas_jax[parity]'"
                      " (or convert the checkpoint to safetensors)") from None
  out = {}
  for f in [files] if isinstance(files, (str, os.PathLike)) else files:
    sd = _torch_load(torch, f, trust_remote_pickle)
    if isinstance(sd, dict) and "best_state" in sd:  # audiocraft checkpoint wrapper
      sd = sd["best_state"]
      sd = sd.get("model", sd) if isinstance(sd, dict) else sd
    for k, v in sd.items():
      if hasattr(v, "detach"):
        out[k] = _as_np(v.detach().cpu().float().numpy() if v.is_floating_point() else v.numpy())
  return out


def _torch_load(torch, path, trust_remote_pickle: bool):
  if trust_remote_pickle:
    return torch.load(path, map_location="cpu", weights_only=False)
  try:
    return torch.load(path, map_location="cpu", weights_only=True)
  except pickle.UnpicklingError as e:
    # torch's message names the first global the restricted unpickler refused
    first = str(e).split("\n\n")[0].split("WeightsUnpickler error: ")[-1].strip()
    raise UnsafeCheckpointError(
        f"{path}: refused to unpickle: the file needs more than tensors to load ({first}); "
        "unpickling it fully could run code it contains.  Convert it to safetensors in an "
        "environment where running it is safe, e.g.\n"
        "  python -c \"import sys, torch; from safetensors.torch import save_file; "
        "sd = torch.load(sys.argv[1], weights_only=False); sd = sd.get('best_state', sd); "
        "sd = sd.get('model', sd); save_file({k: v.contiguous() for k, v in sd.items() "
        "if torch.is_tensor(v)}, sys.argv[2])\" IN.bin model.safetensors\n"
        "or, if you trust its source, pass trust_remote_pickle=True (CLI: --trust-pickle)."
    ) from None


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


def params_from_dir(module, directory, params_fn, what: str, *,
                    trust_remote_pickle: bool = False) -> dict:
  """`params_fn(module, state_dict)` on the weights in `directory`; a missing weight is an
  error naming the directory and the weight."""
  sd = load_state_dict(directory, trust_remote_pickle=trust_remote_pickle)
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
