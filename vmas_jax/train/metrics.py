"""Throughput, MFU and the metric writers (TensorBoard + console)."""

from __future__ import annotations

import json

import jax
import numpy as np
from etils import epath

# Dense bf16 peak FLOP/s per device (vendor figures, no sparsity).
PEAK_BF16_FLOPS = {
    "h100": 989e12, "h200": 989e12, "a100": 312e12, "l4": 121e12, "a10g": 125e12,
    "tpu v4": 275e12, "tpu v5 lite": 197e12, "tpu v5e": 197e12, "tpu v5p": 459e12,
    "tpu v5": 459e12, "tpu v6 lite": 918e12, "tpu v6e": 918e12,
}


def peak_flops(device=None) -> float | None:
  """Peak bf16 FLOP/s of one device, or None when its kind is not in the table (e.g. CPU)."""
  device = jax.devices()[0] if device is None else device
  kind = device.device_kind.lower()
  # Longest key first, so "tpu v5 lite" wins over "tpu v5".
  for key in sorted(PEAK_BF16_FLOPS, key=len, reverse=True):
    if key in kind:
      return PEAK_BF16_FLOPS[key]
  return None


def model_flops_per_step(num_params: int, tokens: int, num_layers: int, d_model: int,
                         seq_len: int) -> float:
  """Training FLOPs (forward + backward) of one step, PaLM appendix B form.

  6 N per token for the weights plus 12 L D S per token for self-attention scores.  `tokens` is
  decoder positions per step (B * S; the K codebooks share a position).
  """
  return float(tokens) * (6.0 * num_params + 12.0 * num_layers * d_model * seq_len)


def mfu(flops_per_step: float, step_time: float, num_devices: int,
        peak: float | None) -> float | None:
  if not peak or step_time <= 0:
    return None
  return flops_per_step / step_time / (num_devices * peak)


def to_host(metrics: dict) -> dict[str, float]:
  return {k: float(np.asarray(v)) for k, v in jax.device_get(metrics).items()}


class MetricWriter:
  """Process 0 writes TensorBoard scalars under WORKDIR/tensorboard and one JSON line per
  logged step to WORKDIR/metrics.jsonl (for scripts and tests)."""

  def __init__(self, workdir, tensorboard: bool = True):
    self._writer = None
    self._jsonl = None
    if jax.process_index() != 0:
      return
    self._jsonl = epath.Path(workdir) / "metrics.jsonl"
    if tensorboard:
      from tensorboardX import SummaryWriter  # imported lazily: only the loop needs it
      self._writer = SummaryWriter(str(epath.Path(workdir) / "tensorboard"))

  def write(self, step: int, scalars: dict[str, float]) -> None:
    if self._jsonl is None:
      return
    with self._jsonl.open("a") as fh:
      fh.write(json.dumps({"step": step, **scalars}) + "\n")
    if self._writer is None:
      return
    for name, value in scalars.items():
      if value is not None and np.isfinite(value):
        self._writer.add_scalar(name, value, step)
    self._writer.flush()

  def close(self) -> None:
    if self._writer is not None:
      self._writer.close()


def format_console(scalars: dict[str, float]) -> str:
  keys = ("loss", "loss_ar", "loss_contrastive", "loss_beat", "contrastive_acc", "lr",
          "grad_norm", "tokens_per_s", "mfu")
  return " ".join(f"{k}={scalars[k]:.4g}" for k in keys if scalars.get(k) is not None)
