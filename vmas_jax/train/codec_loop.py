"""`train_codec(config, workdir)`: the codec training loop (`vmas codec train`).

The same machinery as VMAS training (`vmas_jax.train.harness`): mesh, jitted sharded step,
Orbax checkpoints of state + Grain iterator state (exact resume), metrics.jsonl and
TensorBoard scalars, a progress bar, a save on SIGTERM.
"""

from __future__ import annotations

import time

import jax
import jax.numpy as jnp
from jax.sharding import NamedSharding, PartitionSpec as P
from tqdm import tqdm

from vmas_jax.data.audio_segments import make_segment_iterator
from vmas_jax.models.codec import EncodecModel
from vmas_jax.sharding import make_mesh
from vmas_jax.train import state as state_lib
from vmas_jax.train.codec_config import encodec_config
from vmas_jax.train import codec_vq
from vmas_jax.train.codec_gainshape_init import GainShapeLayout, gainshape_codec_variables
from vmas_jax.train.codec_lapped_init import check_lapped_architecture, lapped_codec_variables
from vmas_jax.train.codec_step import init_codec_state, make_codec_train_step, split_weight_norm
from vmas_jax.train.harness import DeviceBatches, RunHarness, maybe_initialize_distributed

_CONSOLE = ("loss", "l1", "mel", "stft", "log_mel_l1", "commitment", "vq0_perplexity", "vq3_perplexity",
            "d_loss", "g_adv", "lr")


def _init_dims(config, cfg) -> int:
  """The fitted transform's dimensions; `init.dims=0` fills the latents (the gain-shape
  codec's latents are dims + bands)."""
  if config.init.dims:
    return config.init.dims
  return cfg.hidden_size - (config.init.bands if config.init.kind == "gainshape" else 0)


def check_init(config) -> None:
  """Raises ValueError naming the field when `config.init` cannot start this run, before any
  data is read: the kind, and whether the architecture can hold the fitted transform."""
  kind = config.init.kind
  if kind not in ("random", "lapped", "gainshape"):
    raise ValueError(f"codec init.kind={kind!r}: expected random | lapped | gainshape")
  if kind == "gainshape" and config.total_steps > 0:
    # its rectifiers' weights (~1e10) overflow float32 gradient norms at the first step
    raise ValueError("codec init.kind=gainshape is a fit, not a start for gradient steps: "
                     "set --config.total_steps=0")
  cfg = encodec_config(config)
  if kind == "gainshape":
    GainShapeLayout(cfg, _init_dims(config, cfg), config.init.bands)
  elif kind == "lapped":
    check_lapped_architecture(cfg, _init_dims(config, cfg))


def fitted_state(config, cfg, state: dict) -> dict:
  """`state` with params and VQ replaced by the codec fitted to `config.init.batches`
  batches of a second input stream: the lapped transform (`codec_lapped_init`) or the
  gain-shape codec (`codec_gainshape_init`); `train_codec` has checked `config.init`."""
  fit_config = config.copy_and_resolve_references()
  fit_config.data.seed = config.data.seed + 1
  fit_iter = make_segment_iterator(fit_config)
  segments = [next(fit_iter)["wav"] for _ in range(config.init.batches)]
  dims = _init_dims(config, cfg)
  if config.init.kind == "gainshape":
    variables = gainshape_codec_variables(
        cfg, segments, dims, split_hz=config.init.split_hz, bands=config.init.bands,
        log_gain=config.init.log_gain, seed=config.seed, kmeans_iters=config.init.kmeans_iters)
  else:
    variables = lapped_codec_variables(cfg, segments, dims, seed=config.seed,
                                       kmeans_iters=config.init.kmeans_iters)
  params = jax.tree.map(jnp.asarray, {k: v for k, v in variables["params"].items()
                                      if k != "codebooks"})
  if config.weight_norm:
    params = split_weight_norm(params)
  vq = codec_vq.fitted_vq_state(jnp.asarray(variables["params"]["codebooks"]),
                                frames_per_step=config.data.global_batch_size * int(
                                    config.data.segment_seconds * cfg.frame_rate))
  return {**state, "params": params, "vq": vq}  # Adam's zero moments fit any values


def train_codec(config, workdir, *, data_iterator=None) -> dict:
  """Train to `config.total_steps` (or stop and save at `config.stop_step`, the schedule still
  spanning total_steps), resuming from WORKDIR/checkpoints when there is one.

  Returns {"step", "stopped_early", "skipped_steps", "last_metrics"}.
  """
  check_init(config)
  maybe_initialize_distributed()
  with RunHarness(config, workdir) as run:
    # -- Mesh, model, input
    mesh = make_mesh(config.mesh_shape)
    bsh = state_lib.batch_sharding(mesh, state_lib.rules_from_config(config))
    cfg = encodec_config(config)
    if cfg.hop_length * cfg.frame_rate != cfg.sample_rate:
      raise ValueError(f"codec: hop {cfg.hop_length} does not divide the sample rate "
                       f"{cfg.sample_rate}")
    module = EncodecModel(cfg)
    iterator = data_iterator or make_segment_iterator(
        config, process_index=jax.process_index(), process_count=jax.process_count())

    # -- State (replicated: a small codec) and the step
    tx, schedule = state_lib.make_optimizer(config.optim, config.total_steps)
    replicated = NamedSharding(mesh, P())
    state = init_codec_state(cfg, tx, config.seed, config.weight_norm, config)
    state = jax.device_put(state, replicated)
    train_step = make_codec_train_step(module, tx, schedule, config, mesh, bsh)

    # -- Restore, or start from the fitted codec (lapped transform or gain-shape)
    fresh = run.manager.latest_step() is None
    if fresh and config.init.kind in ("lapped", "gainshape"):
      state = jax.device_put(fitted_state(config, cfg, state), replicated)
      run.after_step(0, 0, state, iterator.get_state)  # step 0: export works before training
    state, step = run.restore(state, iterator)

    # -- Step loop
    seconds_per_step = config.data.global_batch_size * config.data.segment_seconds
    last = {}
    end = min(config.total_steps, config.stop_step or config.total_steps)
    batches = DeviceBatches(iterator, lambda b: state_lib.to_global_batch(b, bsh)["wav"])
    with tqdm(total=end, initial=step, disable=jax.process_index() != 0, desc="codec",
              dynamic_ncols=True) as bar:
      while step < end:
        t_start = time.perf_counter()
        state, step_metrics = train_step(state, batches.next())
        if step + 1 < end:
          batches.prefetch()  # the next batch goes to the devices while this step runs
        step += 1
        logged = run.step_done(step, step_metrics, t_start, end)
        if logged is not None:
          last = dict(logged, audio_s_per_s=seconds_per_step / logged["step_time"])
          run.writer.write(step, last)
          bar.set_postfix_str(" ".join(f"{k}={last[k]:.4g}" for k in _CONSOLE if k in last))
        bar.update(1)
        if run.after_step(step, end, state, batches.data_state):
          break
  return {"step": step, "stopped_early": run.stopped, "skipped_steps": run.skipped,
          "last_metrics": last}
