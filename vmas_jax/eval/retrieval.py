"""Video <-> music retrieval with the contrastive heads: recall@k and median rank.

Used by `vmas eval --workdir` and by validation during training.  Row i of `music` and
`video` is a true pair; the music is embedded without its video (the null memory), so the
music embedding cannot simply copy the video it was generated or teacher-forced with.
"""

from __future__ import annotations

import numpy as np


def _ranks(sim: np.ndarray) -> np.ndarray:
  """1-based rank of sim[i, i] in row i; a tie counts against the true pair."""
  return np.sum(sim >= np.diag(sim)[:, None], axis=1)


def retrieval_metrics(music: np.ndarray, video: np.ndarray, ks=(1, 5, 10)) -> dict[str, float]:
  """music, video [N, E] (L2-normalised) -> {"v2m_r1", ..., "v2m_median_rank", "m2v_..."}.

  v2m: each video ranks all N clips' music by cosine similarity; m2v the other way.
  """
  music, video = np.asarray(music, np.float64), np.asarray(video, np.float64)
  if music.shape != video.shape or music.ndim != 2:
    raise ValueError(f"need matching [N, E] embeddings, got {music.shape} and {video.shape}")
  sim = video @ music.T  # [video, music]
  out = {}
  for name, s in (("v2m", sim), ("m2v", sim.T)):
    ranks = _ranks(s)
    for k in ks:
      out[f"{name}_r{k}"] = float(np.mean(ranks <= k))
    out[f"{name}_median_rank"] = float(np.median(ranks))
  return out
