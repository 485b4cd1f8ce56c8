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


def time_interleaved(fns: dict[str, Callable[[], Any]], repeats: int) -> dict[str, Timing]:
  """Time several functions in alternation: each once alone (compiling), then `repeats`
  rounds that call each once.  On a machine whose load changes, every side sees the same
  changes, so their ratio is steadier than from one side's runs and then the other's."""
  def call(fn):
    t0 = time.perf_counter()
    result = jax.block_until_ready(fn())
    return result, time.perf_counter() - t0

  first = {name: call(fn) for name, fn in fns.items()}
  times = {name: [] for name in fns}
  results = {name: r for name, (r, _) in first.items()}
  for _ in range(repeats):
    for name, fn in fns.items():
      results[name], seconds = call(fn)
      times[name].append(seconds)
  return {name: Timing(first_s=first[name][1], times=times[name], result=results[name])
          for name in fns}
