"""Embed every audio file of a folder, in batches, with a per-file cache and a progress bar.

A file that cannot be decoded is listed in `skipped` ({path, reason}) and the rest are scored.
Cache entries are .npz files (no pickles) keyed by the embedder and the file's path, size and
modification time, so an edited file is embedded again.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np
from tqdm import tqdm

from vmas_jax.data.audio_io import load_audio
from vmas_jax.data.errors import MediaError
from vmas_jax.eval.embeddings import FileEmbedding

AUDIO_SUFFIXES = (".wav", ".flac", ".mp3", ".ogg", ".m4a", ".aac", ".opus")


def audio_files(folder) -> list[Path]:
  """Audio files directly in `folder` (sorted), by extension."""
  folder = Path(folder)
  if not folder.is_dir():
    raise FileNotFoundError(f"{folder}: not a directory")
  return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in AUDIO_SUFFIXES)


def default_cache_dir() -> Path:
  root = os.environ.get("VMAS_EVAL_CACHE")
  return Path(root) if root else Path.home() / ".cache" / "vmas_jax" / "eval_embeddings"


def _cache_path(cache_dir: Path, key: str, path: Path) -> Path:
  st = path.stat()
  ident = f"{key}|{path.resolve()}|{st.st_size}|{st.st_mtime_ns}"
  return cache_dir / key / f"{hashlib.sha1(ident.encode()).hexdigest()}.npz"


def _load_cached(path: Path) -> FileEmbedding | None:
  if not path.is_file():
    return None
  with np.load(path, allow_pickle=False) as z:
    return FileEmbedding(z["embeddings"], z["tags"] if "tags" in z else None)


def _save_cached(path: Path, item: FileEmbedding) -> None:
  path.parent.mkdir(parents=True, exist_ok=True)
  arrays = {"embeddings": item.embeddings}
  if item.tags is not None:
    arrays["tags"] = item.tags
  tmp = path.with_name(path.name + ".tmp.npz")
  np.savez(tmp, **arrays)
  tmp.replace(path)


def embed_files(paths, embedder, *, cache_dir=None, batch_files: int = 8,
                progress: bool = True, desc: str = "embed"
                ) -> tuple[dict[str, FileEmbedding], list[dict]]:
  """({path: FileEmbedding}, skipped [{path, reason}]) for `paths` with `embedder`."""
  cache_dir = default_cache_dir() if cache_dir is None else Path(cache_dir)
  done, skipped, todo = {}, [], []
  for p in map(Path, paths):
    try:
      cached = _load_cached(_cache_path(cache_dir, embedder.key, p))
    except (OSError, ValueError):  # a missing file is reported when it is decoded
      cached = None
    if cached is not None:
      done[str(p)] = cached
    else:
      todo.append(p)
  bar = tqdm(total=len(todo), desc=desc, disable=not progress or not todo, dynamic_ncols=True)
  for i in range(0, len(todo), batch_files):
    wavs, names = [], []
    for p in todo[i:i + batch_files]:
      try:
        wav = load_audio(p, embedder.sample_rate)
        if wav.size == 0:
          raise MediaError(p, "no audio samples")
      except (MediaError, OSError) as e:
        skipped.append({"path": str(p), "reason": str(e)})
        continue
      wavs.append(wav)
      names.append(p)
    for p, item in zip(names, embedder(wavs) if wavs else []):
      _save_cached(_cache_path(cache_dir, embedder.key, p), item)
      done[str(p)] = item
    bar.update(len(todo[i:i + batch_files]))
  bar.close()
  return {str(p): done[str(p)] for p in map(Path, paths) if str(p) in done}, skipped
