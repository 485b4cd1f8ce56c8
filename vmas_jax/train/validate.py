"""Validation during training: the held-out split's losses, accuracy and retrieval.

Every `eval_every` steps the loop calls `Validator(params) -> {"val/...": float}`:
  val/loss_ar, val/acc_cb{k}, val/ce_cb{k}   teacher-forced, conditioned on the video
  val/loss_beat                              beat head vs the music beat curve
  val/v2m_r1 ... val/m2v_median_rank          retrieval, music embedded with the null memory

Each process reads only its own slice of the split (the pipeline's per-host slicing), in
stored order, and the batches are sharded over the mesh exactly like training batches; the
last batch is padded and its padding rows masked out.  Only the [N, E] embeddings are
gathered for retrieval.  Nothing random and no training state is touched, so validation
never changes the run and a resumed run validates exactly as a straight one.
"""

from __future__ import annotations

import logging

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import NamedSharding, PartitionSpec as P

from vmas_jax import losses
from vmas_jax.eval.retrieval import retrieval_metrics

log = logging.getLogger(__name__)


def _eval_fn(model):
  """(params, batch with "valid" [B]) -> (per-batch metrics, music [B,E], video [B,E])."""
  def fn(params, batch):
    valid = batch["valid"]
    batch = {k: v for k, v in batch.items() if k != "valid"}
    b = valid.shape[0]
    out = model.apply({"params": params}, batch, deterministic=True)
    mask = jnp.broadcast_to(out.target_mask, out.targets.shape) & valid[:, None, None]
    _, ar = losses.ar_loss_of(out, mask)
    beat_mask = jnp.broadcast_to(valid[:, None], out.beat_logits.shape)
    beat = losses.beat_loss(out.beat_logits, batch["music_beat"], beat_mask)
    alone = model.apply({"params": params}, batch, deterministic=True,
                        drop_condition=jnp.ones((b,), bool))
    metrics = {"ce_k": ar["ce_k"], "acc_k": ar["acc_k"], "beat": beat,
               "n": valid.sum().astype(jnp.float32)}
    # retrieval pairs music with its video: music-only clips have none
    paired = valid & batch["has_video"] if "has_video" in batch else valid
    return metrics, alone.music_embed, out.video_embed, paired
  return fn


class Validator:
  """`__call__(params) -> {name: float}` over the held-out split (see the module docstring)."""

  def __init__(self, model, config, mesh, rules, batch_sharding, param_shardings,
               feature_dim: int | None = None):
    self.config, self.mesh, self.rules = config, mesh, rules
    self.batch_sharding = batch_sharding
    self.feature_dim = feature_dim
    self.max_batches = int(config.eval_batches)
    replicated = NamedSharding(mesh, P())
    self._fn = jax.jit(_eval_fn(model), in_shardings=(param_shardings, batch_sharding),
                       out_shardings=replicated)

  # -- input ---------------------------------------------------------------------------------

  def _local_batches(self):
    """Host-local batches of the held-out data, in a fixed order."""
    c = self.config
    if c.data.source == "memory":
      from vmas_jax.train.memory_data import make_example_batch
      n = self.max_batches or 2
      local = c.data.global_batch_size // jax.process_count()
      seed = int(c.data.shuffle_seed) + 1  # a stream the training batches never draw from
      for i in range(n):
        start = i * c.data.global_batch_size + jax.process_index() * local
        yield make_example_batch(c, local, seed, start, self.feature_dim)
      return
    from vmas_jax.data import pipeline
    for i, batch in enumerate(pipeline.make_eval_iterator(c, split=c.eval_split,
                                                          with_ids=False)):
      if self.max_batches and i >= self.max_batches:
        return
      yield batch

  def _padded(self):
    """Local batches padded to the local batch size, with "valid"; every process yields the
    same number (collectives must match), padding-only batches where its slice ran out."""
    local = self.config.data.global_batch_size // jax.process_count()
    batches = list(self._local_batches())
    count = len(batches)
    if jax.process_count() > 1:
      from jax.experimental import multihost_utils
      count = int(np.max(multihost_utils.process_allgather(np.int32(count))))
    if not batches:
      raise ValueError("the held-out split gave no batches to validate on")
    template = batches[0]
    for i in range(count):
      batch = batches[i] if i < len(batches) else {k: v[:0] for k, v in template.items()}
      n = len(batch["codes"])
      padded = {k: np.concatenate([v, np.zeros((local - n,) + v.shape[1:], v.dtype)])
                for k, v in batch.items()}
      padded["valid"] = np.arange(local) < n
      yield padded

  # -- metrics -------------------------------------------------------------------------------

  def __call__(self, params) -> dict[str, float]:
    from vmas_jax.train.state import to_global_batch
    sums, music, video = None, [], []
    with jax.set_mesh(self.mesh), nn.logical_axis_rules(self.rules):
      for batch in self._padded():
        m, mu, vi, valid = jax.device_get(self._fn(params, to_global_batch(batch,
                                                                           self.batch_sharding)))
        n = float(m["n"])
        part = {"ce_k": m["ce_k"] * n, "acc_k": m["acc_k"] * n, "beat": m["beat"] * n, "n": n}
        sums = part if sums is None else {k: sums[k] + part[k] for k in sums}
        music.append(mu[valid])
        video.append(vi[valid])
    n = max(sums["n"], 1.0)
    ce_k, acc_k = sums["ce_k"] / n, sums["acc_k"] / n
    out = {"val/loss_ar": float(np.mean(ce_k)), "val/loss_beat": float(sums["beat"] / n),
           "val/examples": float(sums["n"])}
    for k in range(len(ce_k)):
      out[f"val/acc_cb{k}"] = float(acc_k[k])
      out[f"val/ce_cb{k}"] = float(ce_k[k])
    music, video = np.concatenate(music), np.concatenate(video)
    if len(music):  # music-only clips have no video to retrieve
      out.update({f"val/{k}": v for k, v in retrieval_metrics(music, video).items()})
    return out


def make_validator(model, config, mesh, rules, batch_sharding, param_shardings,
                   feature_dim=None) -> Validator | None:
  """The validator, or None when `eval_every` is 0 or there is no held-out split."""
  if int(config.eval_every) <= 0:
    return None
  if config.data.source != "memory":
    from vmas_jax.data import pipeline, tfds_builder
    split = config.eval_split
    splits = tfds_builder.load_builder(pipeline.ensure_dataset(config)).info.splits
    if split not in splits or splits[split].num_examples < jax.process_count():
      log.warning("no %r split with a clip per process: validation is off", split)
      return None
  return Validator(model, config, mesh, rules, batch_sharding, param_shardings, feature_dim)


def is_due(step: int, config) -> bool:
  every = int(config.eval_every)
  return every > 0 and step % every == 0

