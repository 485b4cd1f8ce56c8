"""Fréchet audio distance and the KL divergence between tagger outputs.

FAD (Kilgour et al. 2019): fit a Gaussian to each set's embeddings (every analysis window of
every clip is one sample) and take the Fréchet distance between them,

  FD = |mu_r - mu_g|^2 + tr(S_r) + tr(S_g) - 2 tr((S_r S_g)^(1/2)).

The trace of the matrix square root is computed from the symmetric matrix
S_r^(1/2) S_g S_r^(1/2), which has the same eigenvalues as S_r S_g but real ones by
construction, so no complex parts need discarding and nothing fails when a covariance is
singular (fewer samples than dimensions).
"""

from __future__ import annotations

import numpy as np


def gaussian_stats(embeddings: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
  """[N, D] -> (mean [D], covariance [D, D]) in float64 (unbiased, N - 1)."""
  x = np.asarray(embeddings, np.float64)
  if x.ndim != 2 or x.shape[0] < 2:
    raise ValueError(f"need at least 2 embeddings of shape [N, D], got {x.shape}")
  return x.mean(axis=0), np.cov(x, rowvar=False)


def _sqrt_eigenvalues(w: np.ndarray) -> np.ndarray:
  """sqrt of a PSD matrix's eigenvalues, those within rounding error of 0 set to 0: the
  square root would turn rounding noise of 1e-16 into 1e-8 per eigenvalue, which adds up
  over the null space of a covariance from fewer samples than dimensions."""
  noise = np.finfo(np.float64).eps * w.size * max(np.abs(w).max(initial=0.0), 1e-300)
  return np.sqrt(np.where(w > noise, w, 0.0))


def _psd_sqrt(s: np.ndarray) -> np.ndarray:
  w, v = np.linalg.eigh((s + s.T) / 2)
  return (v * _sqrt_eigenvalues(w)) @ v.T


def frechet_distance(mu1, sigma1, mu2, sigma2) -> float:
  """Fréchet distance between N(mu1, sigma1) and N(mu2, sigma2)."""
  mu1, mu2 = np.asarray(mu1, np.float64), np.asarray(mu2, np.float64)
  sigma1, sigma2 = np.asarray(sigma1, np.float64), np.asarray(sigma2, np.float64)
  if mu1.shape != mu2.shape or sigma1.shape != sigma2.shape:
    raise ValueError(f"shapes differ: {mu1.shape} vs {mu2.shape}, {sigma1.shape} vs "
                     f"{sigma2.shape}")
  root = _psd_sqrt(sigma1)
  product = root @ sigma2 @ root
  tr_covmean = _sqrt_eigenvalues(np.linalg.eigvalsh((product + product.T) / 2)).sum()
  diff = mu1 - mu2
  return float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2.0 * tr_covmean)


def fad(reference: np.ndarray, generated: np.ndarray) -> float:
  """FAD between two sets of embeddings [N_r, D], [N_g, D]."""
  return frechet_distance(*gaussian_stats(reference), *gaussian_stats(generated))


def tag_distribution(tags: np.ndarray, eps: float = 1e-8) -> np.ndarray:
  """A clip's tag probabilities [N, C] (per window) -> one distribution over the C tags:
  the window mean, normalised to sum to 1."""
  p = np.asarray(tags, np.float64).mean(axis=0) + eps
  return p / p.sum()


def kl_divergence(p: np.ndarray, q: np.ndarray) -> float:
  """KL(p || q) = sum p log(p / q) between distributions over the same tags."""
  p, q = np.asarray(p, np.float64), np.asarray(q, np.float64)
  return float(np.sum(p * (np.log(p) - np.log(q))))


def tag_kl(reference: dict[str, np.ndarray], generated: dict[str, np.ndarray]) -> dict:
  """KL(reference || generated) between tag distributions.

  reference / generated: {file stem: tags [N, C]}.  Clips present in both (same stem) are
  paired: mean KL over pairs, with per-pair values.  Without any pair, the KL between the two
  sets' mean distributions.  Returns {"kl", "paired", "pairs": {stem: kl}}.
  """
  common = sorted(set(reference) & set(generated))
  if common:
    pairs = {k: kl_divergence(tag_distribution(reference[k]), tag_distribution(generated[k]))
             for k in common}
    return {"kl": float(np.mean(list(pairs.values()))), "paired": True, "pairs": pairs}
  mean = lambda d: np.mean([tag_distribution(t) for t in d.values()], axis=0)
  return {"kl": kl_divergence(mean(reference), mean(generated)), "paired": False, "pairs": {}}
