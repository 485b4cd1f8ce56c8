"""`train_codec(config, workdir)`: the codec training loop (`vmas codec train`).

The same machinery as VMAS training (`vmas_jax.train.loop`): mesh, jitted sharded step,
Orbax checkpoints of state + Grain iterator state (exact resume), metrics.jsonl and
TensorBoard scalars, a progress bar, a save on SIGTERM.
"""

from __future__ import annotations

import logging
import time

import jax
from etils import epath
from jax.sharding import NamedSharding, PartitionSpec as P
from tqdm import tqdm

from vmas_jax.data.audio_segments import make_segment_iterator
from vmas_jax.models.codec import EncodecModel
from vmas_jax.sharding import make_mesh
from vmas_jax.train import checkpoint as ckpt
from vmas_jax.train import metrics as metrics_lib, state as state_lib
from vmas_jax.train.codec_config import encodec_config
from vmas_jax.train.codec_step import init_codec_state, make_codec_train_step
from vmas_jax.train.loop import _StopFlag, check_finite, maybe_initialize_distributed

log = logging.getLogger(__name__)

_CONSOLE = ("loss", "l1", "mel", "stft", "log_mel_l1", "commitment", "vq0_perplexity", "vq3_perplexity",
            "lr")


def train_codec(config, workdir, *, data_iterator=None) -> dict:
  """Train to `config.total_steps` (or stop and save at `config.stop_step`, the schedule still
  spanning total_steps), resuming from WORKDIR/checkpoints when there is one.

  Returns {"step", "stopped_early", "skipped_steps", "last_metrics"}.
  """
  maybe_initialize_distributed()
  workdir = epath.Path(workdir)
  workdir.mkdir(parents=True, exist_ok=True)
  pid = jax.process_index()
  if pid == 0:  # what `vmas codec export` rebuilds the architecture from
    (workdir / "config.json").write_text(config.to_json_best_effort(indent=2))

  # -- Mesh, model, input
  mesh = make_mesh(config.mesh_shape)
  bsh = state_lib.batch_sharding(mesh, state_lib.rules_from_config(config))
  cfg = encodec_config(config)
  if cfg.hop_length * cfg.frame_rate != cfg.sample_rate:
    raise ValueError(f"codec: hop {cfg.hop_length} does not divide the sample rate "
                     f"{cfg.sample_rate}")
  module = EncodecModel(cfg)
  iterator = data_iterator or make_segment_iterator(
      config, process_index=pid, process_count=jax.process_count())

  # -- State (replicated: a small codec) and the step
  tx, schedule = state_lib.make_optimizer(config.optim, config.total_steps)
  replicated = NamedSharding(mesh, P())
  state = init_codec_state(cfg, tx, config.seed, config.weight_norm)
  state = jax.device_put(state, replicated)
  train_step = make_codec_train_step(module, tx, schedule, config, mesh, bsh)

  # -- Restore
  manager = ckpt.make_manager(workdir, config.keep_checkpoints)
  latest = manager.latest_step()
  if latest is not None:
    abstract = jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=x.sharding),
                            state)
    state, data_state = ckpt.restore(manager, latest, abstract)
    if data_state:
      iterator.set_state(data_state)
    log.info("resumed from step %d", latest)
  step = int(jax.device_get(state["step"]))

  writer = metrics_lib.MetricWriter(workdir, tensorboard=config.tensorboard)
  stop = _StopFlag()
  seconds_per_step = config.data.global_batch_size * config.data.segment_seconds
  skipped, last, stopped = 0, {}, False
  end = min(config.total_steps, config.stop_step or config.total_steps)
  bar = tqdm(total=end, initial=step, disable=pid != 0, desc="codec", dynamic_ncols=True)
  try:
    while step < end:
      t_start = time.perf_counter()
      batch = next(iterator)
      state, step_metrics = train_step(state, state_lib.to_global_batch(batch, bsh)["wav"])
      skipped += check_finite(bool(jax.device_get(step_metrics["finite"])), step,
                              config.nan_policy)
      step += 1
      step_time = time.perf_counter() - t_start
      if step % config.log_every == 0 or step == end or step == 1:
        last = metrics_lib.to_host({k: v for k, v in step_metrics.items() if k != "finite"})
        last.update(step_time=step_time, audio_s_per_s=seconds_per_step / step_time,
                    skipped_steps=skipped)
        writer.write(step, last)
        bar.set_postfix_str(" ".join(f"{k}={last[k]:.4g}" for k in _CONSOLE if k in last))
      bar.update(1)
      stopped = stop.agreed()
      if step % config.checkpoint_every == 0 or step == end or stopped:
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
