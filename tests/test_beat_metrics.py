import numpy as np
import pytest

from vmas_jax.eval import beat_metrics as bm


def test_hand_computed_case():
  ref = [1.0, 2.0, 3.0, 4.0]
  gen = [1.02, 2.5, 3.05]  # distances 0.02, 0.5, 0.05
  assert bm.beat_coverage(gen, ref) == pytest.approx(3 / 4)
  assert bm.beat_hit(gen, ref, tolerance=0.1) == pytest.approx(2 / 4)
  s = 0.05
  expect = np.mean(np.exp(-np.array([0.02, 0.5, 0.05]) ** 2 / (2 * s * s)))
  assert bm.beat_alignment(gen, ref, sigma=s) == pytest.approx(expect)
  # matches within 70 ms: 1.02 and 3.05 -> P = 2/3, R = 2/4
  assert bm.beat_f_measure(gen, ref) == pytest.approx(2 * (2 / 3) * 0.5 / (2 / 3 + 0.5))


def test_one_to_one_matching_and_empty():
  assert bm.beat_f_measure([1.0, 1.01], [1.0]) == pytest.approx(2 * 0.5 * 1 / 1.5)
  assert bm.beat_f_measure([], [1.0]) == 0.0
  assert bm.beat_alignment([], [1.0]) == 0.0
  assert np.isnan(bm.beat_coverage([1.0], []))
  assert bm.beat_alignment([1.0], []) == 0.0  # no reference: nothing aligned


def test_perfect_alignment():
  t = np.arange(0.5, 10, 0.5)
  s = bm.beat_scores(t, t)
  assert s == dict(bcs=1.0, bhs=1.0, bas=1.0, f_measure=1.0)
