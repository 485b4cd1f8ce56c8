"""`train(config, workdir)`: the training loop, top to bottom.

Sections: distributed start-up, mesh, input, model + sharded state, restore, step loop
(NaN guard, metrics, checkpoints, SIGTERM).  Every process runs this same code.
"""

from __future__ import annotations

import logging
import os
import signal
import time
import jax
import numpy as np
from etils import epath
from tqdm import tqdm

from vmas_jax import build
from vmas_jax.sharding import make_mesh
from vmas_jax.train import checkpoint as ckpt, finetune
from vmas_jax.train import memory_data, metrics as metrics_lib, state as state_lib, validate
from vmas_jax.train.step import make_train_step

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


def _feature_dim(model) -> int | None:
  encoder = getattr(model, "video_encoder", None)
  return getattr(encoder, "feature_dim", None)


def make_data_iterator(config, feature_dim: int | None = None):
  """The Grain pipeline (synthetic dataset built on first use), or in-memory batches."""
  memory = lambda: memory_data.InMemoryIterator(
      config, process_index=jax.process_index(), process_count=jax.process_count(),
      num_examples=config.data.memory_examples, feature_dim=feature_dim)
  if config.data.source == "memory":
    return memory()
  from vmas_jax.data import pipeline
  pipeline.ensure_dataset(config)
  return pipeline.make_train_iterator(config)


class _StopFlag:
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


def train(config, workdir, *, model=None, data_iterator=None) -> dict:
  """Train to `config.total_steps`, resuming from WORKDIR/checkpoints when there is one.

  model / data_iterator default to VMAS and the configured input (tests pass stand-ins).
  Returns {"step", "stopped_early", "skipped_steps", "last_metrics"}.
  """
  maybe_initialize_distributed()
  workdir = epath.Path(workdir)  # local path or gs://
  workdir.mkdir(parents=True, exist_ok=True)
  pid = jax.process_index()
  if pid == 0:  # what generation and evaluation rebuild the model from
    (workdir / "config.json").write_text(config.to_json_best_effort(indent=2))

  # -- Mesh and rules
  mesh = make_mesh(config.mesh_shape)
  rules = state_lib.rules_from_config(config)
  bsh = state_lib.batch_sharding(mesh, rules)

  # -- Model (pretrained weights go in after the sharded init)
  pretrained = model is None
  if model is None:
    model = finetune.wrap_model(build.build_model(config), config)

  # -- Input: the first batch gives the shapes to initialise with
  if data_iterator is None:
    data_iterator = make_data_iterator(config, _feature_dim(model))
  iterator = data_iterator
  pending = next(iterator)
  nproc = jax.process_count()
  example = {k: jax.ShapeDtypeStruct((v.shape[0] * nproc,) + v.shape[1:], v.dtype)
             for k, v in pending.items()}

  # -- Sharded state
  tx, schedule = state_lib.make_optimizer(config.optim, config.total_steps)
  tx = finetune.wrap_optimizer(tx, config)
  state, shardings = state_lib.init_train_state(model, tx, example, mesh, rules, config.seed)
  if pretrained:  # backbone, MusicGen decoder (a restored checkpoint overrides them)
    state["params"] = build.load_pretrained(state["params"], config, shardings["params"])
  train_step = make_train_step(model, tx, schedule, config, shardings, bsh, mesh, rules)
  validator = validate.make_validator(model, config, mesh, rules, bsh, shardings["params"],
                                      _feature_dim(model))

  # -- Restore
  manager = ckpt.make_manager(workdir, config.keep_checkpoints)
  latest = manager.latest_step()
  if latest is not None:
    abstract = jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=x.sharding),
                            state)
    state, data_state = ckpt.restore(manager, latest, abstract)
    if data_state:
      iterator.set_state(data_state)
    pending = None
    log.info("resumed from step %d", latest)
  step = int(jax.device_get(state["step"]))

  # -- Accounting for throughput and MFU
  n_params = state_lib.num_params(state["params"])
  k, f = example["codes"].shape[1:]
  positions = f + k - 1
  flops = metrics_lib.model_flops_per_step(
      n_params, example["codes"].shape[0] * positions, config.decoder.num_layers,
      config.decoder.d_model, positions)
  peak = metrics_lib.peak_flops()
  audio_tokens = example["codes"].shape[0] * k * f

  writer = metrics_lib.MetricWriter(workdir, tensorboard=config.tensorboard)
  stop = _StopFlag()
  skipped, last, stopped = 0, {}, False
  bar = tqdm(total=config.total_steps, initial=step, disable=pid != 0, desc="train",
             dynamic_ncols=True)
  try:
    while step < config.total_steps:
      t_start = time.perf_counter()  # step time = input + step (synchronised on `finite`)
      batch = next(iterator) if pending is None else pending
      pending = None
      state, step_metrics = train_step(state, state_lib.to_global_batch(batch, bsh))
      skipped += check_finite(bool(jax.device_get(step_metrics["finite"])), step,
                              config.nan_policy)
      step += 1
      step_time = time.perf_counter() - t_start
      if step % config.log_every == 0 or step == config.total_steps or step == 1:
        last = metrics_lib.to_host({k: v for k, v in step_metrics.items() if k != "finite"})
        last.update(step_time=step_time, tokens_per_s=audio_tokens / step_time,
                    mfu=metrics_lib.mfu(flops, step_time, jax.device_count(), peak),
                    skipped_steps=skipped)
        writer.write(step, last)
        bar.set_postfix_str(metrics_lib.format_console(last))
      if validator is not None and validate.is_due(step, config):
        writer.write(step, validator(state["params"]))
      bar.update(1)
      stopped = stop.agreed()
      if step % config.checkpoint_every == 0 or step == config.total_steps or stopped:
        ckpt.save(manager, step, state, iterator.get_state(), force=stopped)
      if stopped:
        break
  finally:
    bar.close()
    manager.wait_until_finished()
    manager.close()
    writer.close()
    stop.restore()
  return {"step": step, "stopped_early": stopped, "skipped_steps": skipped, "last_metrics": last}
