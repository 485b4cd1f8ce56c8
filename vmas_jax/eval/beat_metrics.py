"""Beat metrics between music beats and reference (video or ground-truth music) beats.

All inputs are beat times in seconds, 1-D arrays (any order).  Definitions:
- Beat Coverage Score (D2M-GAN): #generated beats / #reference beats.
- Beat Hit Score (D2M-GAN): #generated beats within `tolerance` of some reference beat
  / #reference beats.
- Beat Alignment Score (Bailando form): mean over music beats of exp(-d^2 / (2 sigma^2)),
  d = distance to the nearest reference beat.
- Beat F-measure: one-to-one matching within +-`window` (70 ms), F = 2PR / (P + R).
"""

from __future__ import annotations

import numpy as np


def _sorted(t) -> np.ndarray:
  return np.sort(np.asarray(t, dtype=np.float64).reshape(-1))


def _nearest_distance(x: np.ndarray, ref: np.ndarray) -> np.ndarray:
  """|x_i - nearest ref| for each x_i; inf when ref is empty.  x, ref sorted."""
  if ref.size == 0:
    return np.full(x.shape, np.inf)
  idx = np.clip(np.searchsorted(ref, x), 1, max(ref.size - 1, 1))
  left = ref[np.clip(idx - 1, 0, ref.size - 1)]
  right = ref[np.clip(idx, 0, ref.size - 1)]
  return np.minimum(np.abs(x - left), np.abs(x - right))


def beat_coverage(generated, reference) -> float:
  g, r = _sorted(generated), _sorted(reference)
  return float(g.size / r.size) if r.size else float("nan")


def beat_hit(generated, reference, tolerance: float = 0.1) -> float:
  g, r = _sorted(generated), _sorted(reference)
  if r.size == 0:
    return float("nan")
  return float(np.sum(_nearest_distance(g, r) <= tolerance) / r.size)


def beat_alignment(music, reference, sigma: float = 0.05) -> float:
  m, r = _sorted(music), _sorted(reference)
  if m.size == 0:
    return 0.0
  d = _nearest_distance(m, r)
  return float(np.mean(np.exp(-(d ** 2) / (2 * sigma ** 2))))


def beat_f_measure(estimated, reference, window: float = 0.07) -> float:
  """Greedy one-to-one matching in time order (each reference beat matched at most once)."""
  e, r = _sorted(estimated), _sorted(reference)
  if e.size == 0 or r.size == 0:
    return 0.0
  used = np.zeros(r.size, bool)
  hits = 0
  for t in e:
    d = np.abs(r - t)
    d[used] = np.inf
    j = int(np.argmin(d))
    if d[j] <= window:
      used[j] = True
      hits += 1
  p, rc = hits / e.size, hits / r.size
  return 0.0 if hits == 0 else float(2 * p * rc / (p + rc))


def beat_scores(music, reference, *, tolerance=0.1, sigma=0.05, window=0.07) -> dict[str, float]:
  return dict(bcs=beat_coverage(music, reference), bhs=beat_hit(music, reference, tolerance),
              bas=beat_alignment(music, reference, sigma),
              f_measure=beat_f_measure(music, reference, window))
