"""`vmas bench train --config small --steps N [--use-features] [--estimate] [--config.F=V ...]`

Times the jitted train step on synthetic in-memory batches of the config's shapes (the input
pipeline is not measured): compile time, median step time, audio tokens/s and, when the
device's peak FLOP/s is known (GPU/TPU), MFU.  `--use-features` feeds pre-extracted frame
features so the frame backbone does not run (the efficient training mode).  Prints the peak
device memory (GPU/TPU).  `--estimate` runs nothing: it compiles the step for abstract shapes
(no parameter is allocated) and prints XLA's memory plan for it, so a config can be checked
against a device's memory on any machine, a CPU included.
"""

from __future__ import annotations

import json
import time

import jax
import numpy as np


def add_arguments(parser) -> None:
  parser.add_argument("--config", default="small")
  parser.add_argument("--steps", type=int, default=20, help="timed steps (after 2 warm-up)")
  parser.add_argument("--batch-size", type=int, default=0, help="global batch (0: config's)")
  parser.add_argument("--use-features", action="store_true",
                      help="pre-extracted frame features instead of frames")
  parser.add_argument("--estimate", action="store_true",
                      help="only compile for abstract shapes and print the memory plan")


def benchmark(config, steps: int, *, model=None, warmup: int = 2) -> dict:
  """Run `warmup + steps` train steps on one fixed synthetic batch; return the figures."""
  from vmas_jax.train import memory_data, metrics as M, state as S
  from vmas_jax.train.setup import setup_training

  t0 = time.perf_counter()
  setup, state = setup_training(config, model,
                                total_steps=max(config.total_steps, warmup + steps))
  jax.block_until_ready(state)
  init_s = time.perf_counter() - t0
  gb = config.data.global_batch_size
  local = memory_data.make_example_batch(config, gb // jax.process_count(), config.seed,
                                         start=jax.process_index() * gb,
                                         feature_dim=setup.feature_dim)
  batch = S.to_global_batch(local, setup.batch_sharding)

  def one_step(s):
    s, m = setup.train_step(s, batch)
    jax.block_until_ready(m)
    return s, m

  t0 = time.perf_counter()
  state, m = one_step(state)
  compile_s = time.perf_counter() - t0
  for _ in range(warmup - 1):
    state, m = one_step(state)
  times = []
  for _ in range(steps):
    t0 = time.perf_counter()
    state, m = one_step(state)
    times.append(time.perf_counter() - t0)

  step_s = float(np.median(times))
  flops, tokens = setup.flops_per_step(), setup.tokens_per_step
  return {"device": jax.devices()[0].device_kind, "devices": jax.device_count(),
          "params": setup.num_params, "global_batch": gb, "audio_tokens_per_step": tokens,
          "init_s": round(init_s, 3), "first_step_s (compile)": round(compile_s, 3),
          "step_s_median": step_s, "step_s_min": float(np.min(times)),
          "tokens_per_s": tokens / step_s, "model_tflops_per_step": flops / 1e12,
          "mfu": M.mfu(flops, step_s, jax.device_count(), M.peak_flops()),
          "loss": float(jax.device_get(m["loss"])), "peak_device_memory_gib": peak_memory_gib()}


def peak_memory_gib() -> float | None:
  """Peak bytes in use on device 0 so far, in GiB (None where the backend does not say: CPU)."""
  stats = jax.devices()[0].memory_stats() or {}
  peak = stats.get("peak_bytes_in_use")
  return None if peak is None else round(peak / 2**30, 3)


def estimate_memory(config) -> dict:
  """XLA's memory plan (GiB) for one train step of `config` on this backend's device 0,
  compiled from abstract shapes: arguments (state + batch), outputs, temporaries, aliased
  (donated state reused for the new state) and peak = arguments + outputs - aliased + temps."""
  from vmas_jax.train import finetune
  from vmas_jax.train.setup import setup_training
  import flax.linen as nn

  setup, state = setup_training(config, abstract=True)
  with jax.set_mesh(setup.mesh), nn.logical_axis_rules(setup.rules):
    mem = setup.train_step.jitted.lower(state, setup.example).compile().memory_analysis()
  gib = lambda b: round(b / 2**30, 3)
  trainable = sum(int(np.prod(x.shape)) for x, t in zip(
      jax.tree.leaves(state["params"]), jax.tree.leaves(finetune.trainable_mask(state["params"],
                                                                               config))) if t)
  peak = (mem.argument_size_in_bytes + mem.output_size_in_bytes - mem.alias_size_in_bytes
          + mem.temp_size_in_bytes)
  return {"params": setup.num_params, "trainable_params": trainable,
          "global_batch": config.data.global_batch_size,
          "arguments_gib": gib(mem.argument_size_in_bytes),
          "outputs_gib": gib(mem.output_size_in_bytes), "aliased_gib": gib(mem.alias_size_in_bytes),
          "temporaries_gib": gib(mem.temp_size_in_bytes), "peak_gib": gib(peak)}


def run(args) -> int:
  from vmas_jax.config_utils import load_config
  config = load_config(args.config, args.config_overrides)
  if args.batch_size:
    config.data.global_batch_size = args.batch_size
  if args.use_features:
    config.video.use_features = True
    config.data.frames_format = "features"
  result = estimate_memory(config) if args.estimate else benchmark(config, args.steps)
  for key, value in result.items():
    print(f"{key:>26}: {value}")
  print(json.dumps(result))
  return 0
