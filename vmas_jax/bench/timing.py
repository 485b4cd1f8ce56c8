"""`time_calls(fn, repeats)`: the one timing loop of the benchmarks (`vmas bench ...`).

The first call is timed on its own (it compiles, under `jax.jit`); then `repeats` calls, each
waited for with `jax.block_until_ready`, so asynchronous dispatch does not hide device time.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any, Callable

import jax
import numpy as np


@dataclasses.dataclass
class Timing:
  first_s: float        # the first call (compilation included)
  times: list[float]    # each timed call after it
  result: Any           # what the last call returned

  @property
  def median_s(self) -> float:
    return float(np.median(self.times))

  @property
  def best_s(self) -> float:
    return float(np.min(self.times))


def time_calls(fn: Callable[[], Any], repeats: int, *, warmup: int = 0) -> Timing:
  """Time `fn()`: once alone, then `warmup` untimed calls, then `repeats` timed ones."""
  def call():
    return jax.block_until_ready(fn())

  t0 = time.perf_counter()
  result = call()
  first = time.perf_counter() - t0
  for _ in range(warmup):
    result = call()
  times = []
  for _ in range(repeats):
    t0 = time.perf_counter()
    result = call()
    times.append(time.perf_counter() - t0)
  return Timing(first_s=first, times=times, result=result)
