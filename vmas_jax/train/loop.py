"""`train(config, workdir)`: the training loop, top to bottom.

Sections: distributed start-up, setup (mesh, model, sharded state, step: shared with the
benchmarks, `vmas_jax.train.setup`), input, restore, step loop (NaN guard, metrics,
validation, checkpoints and SIGTERM through `vmas_jax.train.harness`).  Every process runs
this same code.
"""

from __future__ import annotations

import time

import jax
from tqdm import tqdm

from vmas_jax import build
from vmas_jax.data.batch_spec import check_batch
from vmas_jax.train import memory_data, metrics as metrics_lib, state as state_lib, validate
from vmas_jax.train.harness import DeviceBatches, RunHarness, maybe_initialize_distributed
from vmas_jax.train.setup import setup_training


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


def train(config, workdir, *, model=None, data_iterator=None) -> dict:
  """Train to `config.total_steps`, resuming from WORKDIR/checkpoints when there is one.

  model / data_iterator default to VMAS and the configured input (tests pass stand-ins).
  Returns {"step", "stopped_early", "skipped_steps", "last_metrics"}.
  """
  maybe_initialize_distributed()
  with RunHarness(config, workdir) as run:
    # -- Mesh, model, sharded state and step (pretrained weights go in after the sharded init)
    setup, state = setup_training(config, model)
    if model is None:  # backbone, MusicGen decoder (a restored checkpoint overrides them)
      state["params"] = build.load_pretrained(state["params"], config, setup.shardings["params"])
    validator = validate.make_validator(setup.model, config, setup.mesh, setup.rules,
                                        setup.batch_sharding, setup.shardings["params"],
                                        setup.feature_dim)

    # -- Input (any iterator with get_state / set_state; its batches follow setup.example)
    iterator = data_iterator
    if iterator is None:
      iterator = make_data_iterator(config, setup.feature_dim)
    # a restored checkpoint keeps its own; a model without video memory (music alone: the
    # null memory stands in for the video) never reads features, and has none to measure
    if (config.video.get("standardize_features", False)
        and getattr(setup.model, "video_memory", True)):
      from vmas_jax.train import feature_stats
      # from a fresh iterator, so the training one starts where a run without them does
      # (a given stand-in iterator is read itself)
      stats = feature_stats.feature_statistics(
          iterator if data_iterator is not None else make_data_iterator(config,
                                                                         setup.feature_dim))
      state["params"] = feature_stats.with_feature_statistics(state["params"], *stats,
                                                              setup.shardings["params"])

    # -- Restore
    state, step = run.restore(state, iterator)

    # -- Accounting for throughput and MFU
    flops, peak = setup.flops_per_step(), metrics_lib.peak_flops()
    audio_tokens = setup.tokens_per_step

    # -- Step loop
    def put(batch):
      check_batch(batch, setup.example, "training input")  # an error, not a recompilation
      return state_lib.to_global_batch(batch, setup.batch_sharding)

    batches = DeviceBatches(iterator, put)
    last, end = {}, config.total_steps
    with tqdm(total=end, initial=step, disable=jax.process_index() != 0, desc="train",
              dynamic_ncols=True) as bar:
      while step < end:
        t_start = time.perf_counter()  # step time = input + step (synchronised on `finite`)
        state, step_metrics = setup.train_step(state, batches.next())
        if step + 1 < end:
          batches.prefetch()  # the next batch goes to the devices while this step runs
        step += 1
        logged = run.step_done(step, step_metrics, t_start, end)
        if logged is not None:
          seconds = logged["step_time"]
          last = dict(logged, tokens_per_s=audio_tokens / seconds,
                      mfu=metrics_lib.mfu(flops, seconds, jax.device_count(), peak))
          run.writer.write(step, last)
          bar.set_postfix_str(metrics_lib.format_console(last))
        if validator is not None and validate.is_due(step, config):
          run.writer.write(step, validator(state["params"]))
        bar.update(1)
        if run.after_step(step, end, state, batches.data_state):
          break
  return {"step": step, "stopped_early": run.stopped, "skipped_steps": run.skipped,
          "last_metrics": last}
