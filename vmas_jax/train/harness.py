"""What every training loop here does besides its step (`train.loop` for VMAS, `train.codec_loop`
for the codec): distributed start-up, the run folder, exact restore, checkpoints on schedule
and on SIGTERM, the metric writer, the NaN policy, and closing it all on the way out.

  maybe_initialize_distributed()
  with RunHarness(config, workdir) as run:
    state, step = run.restore(state, iterator)
    batches = DeviceBatches(iterator, put)                  # after the restore
    while step < end:
      t_start = time.perf_counter()
      state, metrics = step_fn(state, batches.next())       # dispatched, not finished
      if step + 1 < end:
        batches.prefetch()                   # the next batch goes over while the step runs
      step += 1
      logged = run.step_done(step, metrics, t_start, end)   # NaN policy; host metrics or None
      ...                                                   # the loop's own figures, logging
      if run.after_step(step, end, state, batches.data_state):
        break                                # SIGTERM: saved, every process agrees to stop
"""

from __future__ import annotations

import logging
import os
import signal
import time
from typing import Any, Callable

import jax
import numpy as np
from etils import epath

from vmas_jax.train import checkpoint as ckpt, metrics as metrics_lib

log = logging.getLogger(__name__)


def maybe_initialize_distributed() -> None:
  """`jax.distributed.initialize()` when the environment describes several processes.

  Explicit: JAX_COORDINATOR_ADDRESS + JAX_NUM_PROCESSES + JAX_PROCESS_ID (launch/local.sh,
  tests).  Auto-detected by JAX: SLURM with more than one task, multi-worker TPU VMs.
  """
  if jax.distributed.is_initialized():
    return
  env = os.environ
  if env.get("JAX_COORDINATOR_ADDRESS") and env.get("JAX_NUM_PROCESSES"):
    # Cross-process collectives on the CPU backend (tests, CPU clusters); no effect elsewhere.
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    jax.distributed.initialize(env["JAX_COORDINATOR_ADDRESS"], int(env["JAX_NUM_PROCESSES"]),
                               int(env.get("JAX_PROCESS_ID", "0")))
  elif int(env.get("SLURM_NTASKS", "1")) > 1 or "," in env.get("TPU_WORKER_HOSTNAMES", ""):
    jax.distributed.initialize()


class StopFlag:
  """Set by SIGTERM (preemption); the loop saves and returns at the next step boundary."""

  def __init__(self):
    self.requested = False
    self._previous = signal.signal(signal.SIGTERM, self._handle)

  def _handle(self, signum, frame):
    log.warning("SIGTERM: saving a checkpoint and stopping")
    self.requested = True

  def agreed(self) -> bool:
    if jax.process_count() == 1:
      return self.requested
    from jax.experimental import multihost_utils
    return bool(np.any(multihost_utils.process_allgather(np.int32(self.requested))))

  def restore(self):
    signal.signal(signal.SIGTERM, self._previous)


def check_finite(finite: bool, step: int, policy: str) -> int:
  """1 if step `step` was skipped for a non-finite loss/gradient (policy "skip"), else 0.

  The step itself already kept the old parameters; policy "stop" raises, naming the step.
  """
  if finite:
    return 0
  if policy == "stop":
    raise FloatingPointError(f"non-finite loss or gradient norm at step {step}; the update "
                             f"was not applied (nan_policy='stop')")
  if policy != "skip":
    raise ValueError(f"nan_policy {policy!r}: expected 'stop' or 'skip'")
  log.warning("step %d: non-finite loss or gradient; update skipped", step)
  return 1


class RunHarness:
  """The run folder WORKDIR (local or gs://) of one training job: writes WORKDIR/config.json
  (what generation, evaluation and export rebuild from), holds the checkpoint manager, the
  metric writer and the SIGTERM flag, and closes them on exit."""

  def __init__(self, config, workdir):
    self.workdir = epath.Path(workdir)
    self.workdir.mkdir(parents=True, exist_ok=True)
    if jax.process_index() == 0:
      (self.workdir / "config.json").write_text(config.to_json_best_effort(indent=2))
    self.checkpoint_every, self.log_every = config.checkpoint_every, config.log_every
    self.nan_policy = config.nan_policy
    self.skipped = 0  # steps whose update was dropped for a non-finite loss (policy "skip")
    self.manager = ckpt.make_manager(self.workdir, config.keep_checkpoints)
    self.writer = metrics_lib.MetricWriter(self.workdir, tensorboard=config.tensorboard)
    self.stop = StopFlag()
    self.stopped = False

  def __enter__(self) -> "RunHarness":
    return self

  def __exit__(self, *exc) -> None:
    self.manager.wait_until_finished()
    self.manager.close()
    self.writer.close()
    self.stop.restore()

  def restore(self, state: dict, iterator) -> tuple[dict, int]:
    """(state, step) from the latest checkpoint, with the data iterator moved to where it
    was; (state, its own step) when there is none."""
    latest = self.manager.latest_step()
    if latest is not None:
      abstract = jax.tree.map(
          lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=x.sharding), state)
      state, data_state = ckpt.restore(self.manager, latest, abstract)
      if data_state:
        iterator.set_state(data_state)
      log.info("resumed from step %d", latest)
    return state, int(jax.device_get(state["step"]))

  def step_done(self, step: int, metrics: dict, t_start: float, end: int) -> dict | None:
    """After step `step` (counted from 1) that began at `t_start` (perf_counter): applies the
    NaN policy to metrics["finite"] (which synchronises on the step); on a logging step (the
    first, every log_every, the last) returns the metrics on the host with step_time and
    skipped_steps, else None."""
    self.skipped += check_finite(bool(jax.device_get(metrics["finite"])), step - 1,
                                 self.nan_policy)
    step_time = time.perf_counter() - t_start
    if step % self.log_every and step not in (1, end):
      return None
    host = metrics_lib.to_host({k: v for k, v in metrics.items() if k != "finite"})
    host.update(step_time=step_time, skipped_steps=self.skipped)
    return host

  def after_step(self, step: int, end: int, state: dict,
                 data_state: Callable[[], dict]) -> bool:
    """Save when due (every checkpoint_every, at `end`, or on SIGTERM); True to stop now.
    data_state() is the input iterator's state after the batches `state` has seen."""
    self.stopped = self.stop.agreed()
    if step % self.checkpoint_every == 0 or step == end or self.stopped:
      ckpt.save(self.manager, step, state, data_state(), force=self.stopped)
    return self.stopped


class DeviceBatches:
  """The input one step ahead on the devices.  A step's dispatch returns at once and the loop
  then waits on its NaN flag; reading the next batch and sending it (`put`: host batch ->
  device arrays) in between hides the transfer behind the step.

  `data_state()` is the iterator's state after the batch `next()` last returned: what a
  checkpoint taken after that step holds.  The iterator itself may be a batch further on
  (the prefetched one, which a resumed run reads again).
  """

  def __init__(self, iterator, put: Callable[[Any], Any]):
    self._iterator, self._put = iterator, put
    self._pending = None  # (device batch, iterator state after it)
    self._state = iterator.get_state()

  def _read(self):
    batch = self._put(next(self._iterator))
    return batch, self._iterator.get_state()

  def prefetch(self) -> None:
    if self._pending is None:
      self._pending = self._read()

  def next(self):
    batch, self._state = self._pending if self._pending is not None else self._read()
    self._pending = None
    return batch

  def data_state(self) -> dict:
    return self._state
