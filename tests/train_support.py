"""Shared helpers for the training-system tests: a tiny config and a subprocess runner."""

import os
import subprocess
import sys
from pathlib import Path

from vmas_jax.config_defaults import base_config

ROOT = Path(__file__).resolve().parents[1]


def standin_config(**overrides):
  """A config whose batches suit tests/standin_model.StandIn (features, vocab 16)."""
  c = base_config("tiny")
  c.codec.codebook_size = 16
  c.data.update(dict(frames_format="features", clip_seconds=0.2, global_batch_size=8,
                     source="memory"))
  c.video.update(dict(video_fps=20.0, temporal_dim=8, tokens_per_frame=2))
  c.update(dict(total_steps=12, checkpoint_every=4, log_every=4, tensorboard=False))
  c.optim.update(dict(learning_rate=1e-2, warmup_steps=2))
  for key, value in overrides.items():
    node = c
    *parents, leaf = key.split(".")
    for p in parents:
      node = node[p]
    node[leaf] = value
  return c


def subprocess_env(devices: int = 1, **extra) -> dict:
  """Environment for a fresh JAX on CPU with `devices` fake devices.

  Test runs compile the same small programs in many processes: XLA's backend optimisation is
  off (compiles 2x faster; every run being compared uses the same flags) and compiled
  programs are shared through the persistent compilation cache that conftest.py sets up in
  os.environ, which the subprocess inherits.
  """
  env = dict(os.environ, JAX_PLATFORMS="cpu", PYTHONPATH=str(ROOT),
             XLA_FLAGS=(f"--xla_force_host_platform_device_count={devices} "
                        "--xla_backend_optimization_level=0"))
  env.update(extra)
  return env


def run_python(args, *, devices: int = 1, env=None, timeout=240, check=True):
  """Run `python ARGS` from the repo root with a fresh JAX (CPU, `devices` fake devices)."""
  e = subprocess_env(devices, **(env or {}))
  proc = subprocess.run([sys.executable, *args], cwd=ROOT, env=e, capture_output=True,
                        text=True, timeout=timeout)
  if check and proc.returncode != 0:
    raise AssertionError(f"python {' '.join(args)} exited {proc.returncode}:\n"
                         f"{proc.stdout[-3000:]}\n{proc.stderr[-5000:]}")
  return proc


def worker_options(args: list[str]) -> tuple[dict, list[str]]:
  """Split a worker's FIELD=VALUE arguments into its own test options (`trace_batches=True`,
  `step_sleep_s=S`) and the config overrides."""
  options = dict(trace_batches=False, step_sleep_s=0.0)
  rest = []
  for arg in args:
    key, _, value = arg.partition("=")
    if key == "trace_batches":
      options[key] = value.lower() == "true"
    elif key == "step_sleep_s":
      options[key] = float(value)
    else:
      rest.append(arg)
  return options, rest


class TracedIterator:
  """A training iterator wrapped for the resume tests: before handing over each batch it
  appends "step digest" to `trace` (when given) and sleeps `sleep_s` (so a run can be killed
  mid-way).  Its state holds its step count beside the wrapped iterator's, so a restored run
  numbers its batches as the straight one does."""

  def __init__(self, inner, trace=None, sleep_s: float = 0.0):
    self.inner, self.trace, self.sleep_s, self.step = inner, trace, sleep_s, 0

  def __iter__(self):
    return self

  def __next__(self):
    import hashlib
    import time

    import numpy as np
    batch = next(self.inner)
    if self.trace is not None:
      digest = hashlib.sha1(np.ascontiguousarray(batch["codes"]).tobytes()).hexdigest()[:16]
      with open(self.trace, "a") as fh:
        fh.write(f"{self.step} {digest}\n")
    self.step += 1
    if self.sleep_s:
      time.sleep(self.sleep_s)
    return batch

  def get_state(self) -> dict:
    return {"inner": self.inner.get_state(), "step": self.step}

  def set_state(self, state: dict) -> None:
    self.inner.set_state(state["inner"])
    self.step = int(state["step"])
