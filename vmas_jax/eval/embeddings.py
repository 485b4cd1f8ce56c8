"""Audio embedding models for FAD and tag KL, behind one registry.

  embedder = get_embedder("musicnn")          # MTT musicnn, offline (weights in its wheel)
  embedder = get_embedder("vggish", "vggish-10086976.pth")      # torchvggish's weights
  embedder = get_embedder("clap", "laion/larger_clap_music")    # HF dir or hub id
  files = embedder([wav_a, wav_b])            # list of FileEmbedding, one per clip

An embedder takes mono float32 clips at its `sample_rate` and returns, per clip, one row per
analysis window: `embeddings [N, D]` (the FAD samples) and, for taggers, `tags [N, C]`
(probabilities over `labels`).  Its `key` names the model and its weights (per-file caches
of different models or weights never mix).  Register more with `register_embedder`.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import os
from pathlib import Path
from typing import Callable

import numpy as np

CLAP_DEFAULT = "laion/larger_clap_music"


@dataclasses.dataclass
class FileEmbedding:
  embeddings: np.ndarray         # [N, D] float32, one row per window
  tags: np.ndarray | None = None  # [N, C] probabilities, None when the model has no tagger


def weights_id(path: str | os.PathLike) -> str:
  """A short id of a weights file or directory: its resolved path, sizes and mtimes."""
  path = Path(path).resolve()
  files = sorted(p for p in path.iterdir() if p.is_file()) if path.is_dir() else [path]
  ident = "|".join(f"{p}:{p.stat().st_size}:{p.stat().st_mtime_ns}" for p in files)
  return hashlib.sha1(ident.encode()).hexdigest()[:12]


def embed_windows(apply, per_file: list[np.ndarray], batch_size: int, layer: str,
                  tags: str | None = None) -> list[FileEmbedding]:
  """Run `apply(x [n, ...]) -> dict` over every file's windows [N_i, ...] in batches of
  `batch_size` (the last padded to a power of two: few compiled shapes); `layer` (and `tags`)
  name the outputs kept."""
  counts = [len(p) for p in per_file]
  x = np.concatenate(per_file)
  emb, tag = [], []
  for i in range(0, len(x), batch_size):
    chunk = x[i:i + batch_size]
    size = min(batch_size, 1 << (len(chunk) - 1).bit_length())
    chunk = np.concatenate([chunk, np.zeros((size - len(chunk),) + x.shape[1:], x.dtype)])
    out = apply(chunk)
    emb.append(np.asarray(out[layer], np.float32))
    if tags is not None:
      tag.append(np.asarray(out[tags], np.float32))
  emb = np.concatenate(emb)[:len(x)]
  tag = np.concatenate(tag)[:len(x)] if tags is not None else None
  bounds = np.cumsum([0] + counts)
  return [FileEmbedding(emb[a:b], None if tag is None else tag[a:b])
          for a, b in zip(bounds[:-1], bounds[1:])]


class MusicnnEmbedder:
  """musicnn tagger: 3 s patches; embeddings = the `layer` features (penultimate: 200-d).
  `weights`: "MTT_musicnn", "MSD_musicnn" (in the wheel) or a checkpoint directory."""
  sample_rate = 16000

  def __init__(self, weights: str = "MTT_musicnn", layer: str = "penultimate",
               batch_size: int = 16):
    import jax
    from vmas_jax.convert.musicnn import MODELS, load_musicnn
    from vmas_jax.eval import musicnn
    module, variables = load_musicnn(weights)
    self.labels = musicnn.LABELS.get(str(weights))
    self.layer, self.batch_size = layer, batch_size
    name = weights if weights in MODELS else weights_id(weights)
    self.key = f"musicnn-{name}-{layer}"
    self._apply = functools.partial(jax.jit(module.apply), variables)

  def __call__(self, wavs: list[np.ndarray]) -> list[FileEmbedding]:
    from vmas_jax.eval import musicnn
    per_file = [musicnn.patches(musicnn.log_mel(w)) for w in wavs]
    return embed_windows(self._apply, per_file, self.batch_size, self.layer, "tags")


class VggishEmbedder:
  """VGGish on 0.96 s examples; embeddings = `layer` (embedding: 128-d, before the ReLU).
  `weights`: torchvggish's state dict file (None: `default_weights_path()`)."""
  sample_rate = 16000
  labels = None

  def __init__(self, weights=None, layer: str = "embedding", batch_size: int = 32):
    import jax
    from vmas_jax.convert.vggish import default_weights_path, load_vggish
    module, variables = load_vggish(weights)
    self.layer, self.batch_size = layer, batch_size
    self.key = f"vggish-{weights_id(weights or default_weights_path())}-{layer}"
    self._apply = functools.partial(jax.jit(module.apply), variables)

  def __call__(self, wavs: list[np.ndarray]) -> list[FileEmbedding]:
    from vmas_jax.eval.vggish_input import examples
    return embed_windows(self._apply, [examples(w) for w in wavs], self.batch_size, self.layer)


class ClapEmbedder:
  """LAION-CLAP audio tower on 10 s windows at 48 kHz; embeddings = `layer` (normalized:
  the L2-normalised projection, as CLAP's audio features).  `weights`: a HF CLAP directory
  or hub id (non-fusion)."""
  labels = None

  def __init__(self, weights=None, layer: str = "normalized", batch_size: int = 8):
    import jax
    from vmas_jax.convert.clap import load_clap
    weights = weights or CLAP_DEFAULT
    try:
      module, variables, self.front_end = load_clap(weights)
    except OSError as e:  # hub id offline / not found
      raise FileNotFoundError(
          f"CLAP weights {weights!s}: {e}; pass a local copy of a non-fusion CLAP model "
          f"(e.g. {CLAP_DEFAULT}, fetched with `huggingface-cli download`) with "
          f"--embedding-weights DIR") from None
    self.sample_rate = self.front_end.sample_rate
    self.layer, self.batch_size = layer, batch_size
    name = weights_id(weights) if Path(weights).exists() else str(weights).replace("/", "--")
    self.key = f"clap-{name}-{layer}"
    self._apply = functools.partial(jax.jit(module.apply), variables)

  def __call__(self, wavs: list[np.ndarray]) -> list[FileEmbedding]:
    per_file = [self.front_end.windows(w) for w in wavs]
    return embed_windows(self._apply, per_file, self.batch_size, self.layer)


_EMBEDDERS: dict[str, Callable[..., object]] = {
    "musicnn": lambda weights=None: MusicnnEmbedder(weights or "MTT_musicnn"),
    "musicnn-msd": lambda weights=None: MusicnnEmbedder(weights or "MSD_musicnn"),
    "vggish": VggishEmbedder,
    "clap": ClapEmbedder,
}


def register_embedder(name: str, factory: Callable[..., object]) -> None:
  """Make `get_embedder(name, weights)` call `factory(weights)` (an object with sample_rate,
  key, labels and `__call__(wavs) -> list[FileEmbedding]`; weights None: its default)."""
  _EMBEDDERS[name] = factory


def embedder_names() -> list[str]:
  return sorted(_EMBEDDERS)


def get_embedder(name: str, weights: str | os.PathLike | None = None):
  if name not in _EMBEDDERS:
    raise ValueError(f"embedding model {name!r} is not known; known: {embedder_names()}")
  return _EMBEDDERS[name](weights)
