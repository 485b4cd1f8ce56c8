"""FAD and tag KL: the formula against a SciPy reference, and sanity on audio the test makes."""

import numpy as np
import pytest
import scipy.linalg

from eval_audio import noise_bursts, tones
from vmas_jax.eval import fad as F
from vmas_jax.eval.embeddings import get_embedder


def _scipy_frechet(x, y):
  """The textbook formula with scipy.linalg.sqrtm (as pytorch-fid / the FAD paper's code)."""
  mu1, mu2 = x.mean(0), y.mean(0)
  s1, s2 = np.cov(x, rowvar=False), np.cov(y, rowvar=False)
  covmean = scipy.linalg.sqrtm(s1 @ s2).real
  return float(np.sum((mu1 - mu2) ** 2) + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean))


def test_frechet_distance_matches_scipy_reference():
  rng = np.random.default_rng(0)
  a = rng.standard_normal((400, 24)) @ rng.standard_normal((24, 24))
  b = 0.7 * rng.standard_normal((300, 24)) @ rng.standard_normal((24, 24)) + 0.3
  want = _scipy_frechet(a, b)
  assert F.fad(a, b) == pytest.approx(want, rel=1e-6)
  assert F.fad(a, a) == pytest.approx(0.0, abs=1e-9 * np.trace(np.cov(a, rowvar=False)))


def test_frechet_distance_of_singular_covariances_is_finite_and_symmetric():
  rng = np.random.default_rng(1)
  a, b = rng.standard_normal((5, 16)), rng.standard_normal((7, 16)) + 1.0
  d = F.fad(a, b)
  assert np.isfinite(d) and d > 0
  assert F.fad(b, a) == pytest.approx(d, rel=1e-6)


def test_tag_kl_hand_computed_and_pairing():
  p = np.array([[0.6, 0.2, 0.2]])
  q = np.array([[0.2, 0.2, 0.6]])
  want = 0.6 * np.log(3) + 0.2 * np.log(1 / 3)
  assert F.kl_divergence(F.tag_distribution(p, 0), F.tag_distribution(q, 0)) == pytest.approx(want)
  paired = F.tag_kl({"a": p, "b": q}, {"a": p, "b": p, "c": q})
  assert paired["paired"] and paired["pairs"]["a"] == pytest.approx(0, abs=1e-12)
  assert paired["kl"] == pytest.approx(np.mean([0, F.kl_divergence(
      F.tag_distribution(q), F.tag_distribution(p))]))
  assert not F.tag_kl({"a": p}, {"b": p})["paired"]


def test_fad_sanity_on_musicnn_embeddings():
  embedder = get_embedder("musicnn")
  rng = np.random.default_rng(0)
  clips = [tones(3.1, seed=i) for i in range(4)] + [noise_bursts(3.1, seed=i) for i in range(4)]
  perturbed = [c + 1e-3 * rng.standard_normal(c.size).astype(np.float32) for c in clips]
  noise = [0.05 * rng.standard_normal(c.size).astype(np.float32) for c in clips]
  base, near, far = (np.concatenate([e.embeddings for e in embedder(wavs)])
                     for wavs in (clips, perturbed, noise))
  assert base.shape == (8, 200)
  assert abs(F.fad(base, base.copy())) < 1e-9 * np.trace(np.cov(base, rowvar=False))
  d_near, d_far = F.fad(base, near), F.fad(base, far)
  assert 0 < d_near < d_far / 10, (d_near, d_far)
