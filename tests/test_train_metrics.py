"""Peak FLOP/s table and the MFU arithmetic used by the loop and `vmas bench train`."""

from vmas_jax.train import metrics


def test_mfu_table_and_formula():
  class Dev:
    device_kind = "NVIDIA H100 80GB HBM3"
  assert metrics.peak_flops(Dev()) == 989e12
  Dev.device_kind = "TPU v5 lite"
  assert metrics.peak_flops(Dev()) == 197e12
  Dev.device_kind = "cpu"
  assert metrics.peak_flops(Dev()) is None
  f = metrics.model_flops_per_step(100, 10, 2, 4, 5)
  assert f == 10 * (6 * 100 + 12 * 2 * 4 * 5)
  assert metrics.mfu(1e12, 0.5, 2, 1e12) == 1.0
