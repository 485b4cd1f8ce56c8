"""Audio embedding models for FAD and tag KL, behind one registry.

  embedder = get_embedder("musicnn")          # MTT musicnn, offline (weights in its wheel)
  files = embedder([wav_a, wav_b])            # list of FileEmbedding, one per clip

An embedder takes mono float32 clips at its `sample_rate` and returns, per clip, one row per
analysis window: `embeddings [N, D]` (the FAD samples) and, for taggers, `tags [N, C]`
(probabilities over `labels`).  Register more with `register_embedder(name, factory)`.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Callable

import numpy as np


@dataclasses.dataclass
class FileEmbedding:
  embeddings: np.ndarray         # [N, D] float32, one row per window
  tags: np.ndarray | None = None  # [N, C] probabilities, None when the model has no tagger


class MusicnnEmbedder:
  """musicnn tagger: 3 s patches; embeddings = the `layer` features (penultimate: 200-d)."""
  sample_rate = 16000

  def __init__(self, model: str = "MTT_musicnn", layer: str = "penultimate",
               batch_size: int = 16):
    import jax
    from vmas_jax.convert.musicnn import load_musicnn
    from vmas_jax.eval import musicnn
    self.module, self.variables = load_musicnn(model)
    self.labels = musicnn.LABELS.get(model)
    self.layer, self.batch_size = layer, batch_size
    self.key = f"musicnn-{model}-{layer}"
    self._apply = jax.jit(self.module.apply)

  def __call__(self, wavs: list[np.ndarray]) -> list[FileEmbedding]:
    from vmas_jax.eval import musicnn
    per_file = [musicnn.patches(musicnn.log_mel(w)) for w in wavs]
    counts = [len(p) for p in per_file]
    x = np.concatenate(per_file)
    emb, tags = [], []
    for i in range(0, len(x), self.batch_size):
      chunk = x[i:i + self.batch_size]
      # batches of batch_size, the last padded to a power of two: few compiled shapes
      size = min(self.batch_size, 1 << (len(chunk) - 1).bit_length())
      chunk = np.concatenate([chunk, np.zeros((size - len(chunk),) + x.shape[1:], x.dtype)])
      out = self._apply(self.variables, chunk)
      emb.append(np.asarray(out[self.layer]))
      tags.append(np.asarray(out["tags"]))
    emb, tags = np.concatenate(emb)[:sum(counts)], np.concatenate(tags)[:sum(counts)]
    bounds = np.cumsum([0] + counts)
    return [FileEmbedding(emb[a:b], tags[a:b]) for a, b in zip(bounds[:-1], bounds[1:])]


_EMBEDDERS: dict[str, Callable[[], object]] = {
    "musicnn": functools.partial(MusicnnEmbedder, "MTT_musicnn"),
    "musicnn-msd": functools.partial(MusicnnEmbedder, "MSD_musicnn"),
}


def register_embedder(name: str, factory: Callable[[], object]) -> None:
  """Make `get_embedder(name)` call `factory()` (an object with sample_rate, key, labels and
  `__call__(wavs) -> list[FileEmbedding]`)."""
  _EMBEDDERS[name] = factory


def embedder_names() -> list[str]:
  return sorted(_EMBEDDERS)


def get_embedder(name: str):
  if name not in _EMBEDDERS:
    raise ValueError(f"embedding model {name!r} is not known; known: {embedder_names()}")
  return _EMBEDDERS[name]()
