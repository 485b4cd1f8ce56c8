"""The VMAS training objective.

  L = L_ar + contrastive_weight * L_con + beat_weight * L_beat

All functions are pure, take global (possibly sharded) arrays and compute in fp32.  Under
`jax.jit` with a batch sharded over devices the arrays here are still the *global* batch, so
the contrastive similarity matrix [B, B] spans every clip of every data shard: XLA inserts the
gathers; nothing here may reshape the batch axis into per-shard pieces.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

Array = jax.Array


def ar_loss(logits: Array, targets: Array, mask: Array) -> tuple[Array, dict[str, Array]]:
  """Cross-entropy over the valid delay-pattern slots, per codebook, averaged over codebooks.

  logits [B, K, S, V], targets [B, K, S] int, mask [B, K, S] or [K, S] bool (True = scored).
  Returns (loss, {"ce_k": [K], "acc_k": [K]}): each codebook's mean over its own valid slots,
  so codebooks with more empty delay slots weigh the same as the others.
  """
  logits = logits.astype(jnp.float32)
  valid = jnp.broadcast_to(mask, targets.shape)
  # Empty slots hold the special id (== V, outside the logits): clip, then select them away
  # (an out-of-range gather would give NaN, and NaN * 0 is NaN).
  safe = jnp.clip(targets, 0, logits.shape[-1] - 1).astype(jnp.int32)
  logp = jax.nn.log_softmax(logits, axis=-1)
  nll = -jnp.take_along_axis(logp, safe[..., None], axis=-1)[..., 0]
  correct = jnp.argmax(logits, axis=-1) == targets
  return _per_codebook_means(nll, correct, valid)


def ar_loss_from_hidden(hidden: Array, heads: Array, targets: Array, mask: Array
                        ) -> tuple[Array, dict[str, Array]]:
  """`ar_loss` of the logits `hidden @ heads[k]`, computed one codebook at a time.

  hidden [B, S, D] (the decoder's last hidden states), heads [K, D, V] (its output heads,
  cast to hidden's dtype; logits accumulate in fp32), targets/mask as `ar_loss`.  Each
  codebook's fp32 logits [B, S, V] are made inside a rematerialised `lax.map` step, so
  neither the forward nor the backward holds all K of them (with K = 4, V = 2048 the full
  [B, K, S, V] logits are the largest activation of a training step).
  """
  valid = jnp.broadcast_to(mask, targets.shape)
  safe = jnp.clip(targets, 0, heads.shape[-1] - 1).astype(jnp.int32)

  @jax.checkpoint
  def one_codebook(args):
    w, tgt, full_tgt = args  # [D, V], [B, S], [B, S]
    logits = jnp.einsum("bsd,dv->bsv", hidden, w.astype(hidden.dtype),
                        preferred_element_type=jnp.float32)
    lse = jax.nn.logsumexp(logits, axis=-1)
    nll = lse - jnp.take_along_axis(logits, tgt[..., None], axis=-1)[..., 0]
    return nll, jnp.argmax(logits, axis=-1) == full_tgt

  per_k = (heads, jnp.swapaxes(safe, 0, 1), jnp.swapaxes(targets, 0, 1))
  nll, correct = jax.lax.map(one_codebook, per_k)  # [K, B, S]
  return _per_codebook_means(jnp.swapaxes(nll, 0, 1), jnp.swapaxes(correct, 0, 1), valid)


def _per_codebook_means(nll: Array, correct: Array, valid: Array):
  """[B, K, S] each -> (mean over codebooks, {"ce_k", "acc_k"}) over the valid slots."""
  count = jnp.maximum(valid.sum(axis=(0, 2)).astype(jnp.float32), 1.0)  # [K]
  ce_k = jnp.where(valid, nll, 0.0).sum(axis=(0, 2)) / count
  acc_k = jnp.where(valid & correct, 1.0, 0.0).sum(axis=(0, 2)) / count
  return ce_k.mean(), {"ce_k": ce_k, "acc_k": acc_k}


def contrastive_loss(music: Array, video: Array, log_temperature: Array,
                     has_video: Array | None = None) -> tuple[Array, dict[str, Array]]:
  """Symmetric InfoNCE between L2-normalised embeddings; negatives = the rest of the batch.

  music, video [B, E] (already normalised), log_temperature scalar (temperature = exp).
  Row i of each is a positive pair.  has_video [B] bool (None = all True): only those rows
  take part, as anchors and as negatives (a music-only clip has no video to pair with); with
  none, the loss and accuracy are 0.  Returns (loss, {"acc": retrieval accuracy averaged over
  both directions, "temperature"}).
  """
  music = music.astype(jnp.float32)
  video = video.astype(jnp.float32)
  temperature = jnp.exp(log_temperature.astype(jnp.float32))
  sim = music @ video.T / temperature  # [B, B]: music i vs video j
  b = sim.shape[0]
  ok = jnp.ones((b,), bool) if has_video is None else has_video.astype(bool)
  pair = ok[:, None] & ok[None, :]
  sim = jnp.where(pair, sim, -1e9)  # finite: a row of no candidates stays NaN-free
  labels = jnp.arange(b)
  w = ok.astype(jnp.float32)
  n = jnp.maximum(w.sum(), 1.0)
  m2v = -(jnp.take_along_axis(jax.nn.log_softmax(sim, axis=1), labels[:, None], axis=1)[:, 0]
          * w).sum() / n
  v2m = -(jnp.take_along_axis(jax.nn.log_softmax(sim, axis=0), labels[None, :], axis=0)[0]
          * w).sum() / n
  acc = 0.5 * ((w * (jnp.argmax(sim, axis=1) == labels)).sum()
               + (w * (jnp.argmax(sim, axis=0) == labels)).sum()) / n
  return 0.5 * (m2v + v2m), {"acc": acc, "temperature": temperature}


def beat_loss(logits: Array, targets: Array, mask: Array | None = None) -> Array:
  """Binary cross-entropy with logits against a soft beat curve in [0, 1].

  logits, targets [B, F]; mask [B, F] bool (None = all frames count).  Mean over valid frames.
  """
  x = logits.astype(jnp.float32)
  y = targets.astype(jnp.float32)
  # Stable form of -(y log σ(x) + (1 - y) log(1 - σ(x))).
  bce = jnp.maximum(x, 0.0) - x * y + jnp.log1p(jnp.exp(-jnp.abs(x)))
  if mask is None:
    return bce.mean()
  m = mask.astype(jnp.float32)
  return (bce * m).sum() / jnp.maximum(m.sum(), 1.0)


def ar_loss_of(outputs, mask: Array) -> tuple[Array, dict[str, Array]]:
  """`ar_loss` of a `VMASOutput`, from its logits or (chunked) its hidden states and heads."""
  if outputs.logits is not None:
    return ar_loss(outputs.logits, outputs.targets, mask)
  return ar_loss_from_hidden(outputs.hidden, outputs.lm_heads, outputs.targets, mask)


def vmas_loss(outputs, batch: dict[str, Array], loss_config) -> tuple[Array, dict[str, Array]]:
  """The weighted total from the model's `VMASOutput` (`vmas_jax.models.outputs`).

  batch: music_beat [B,F], has_video [B] (optional; music-only rows have no video to pair).
  Returns (total, metrics) where metrics hold every term and per-codebook accuracy.
  """
  l_ar, ar = ar_loss_of(outputs, outputs.target_mask)
  l_con, con = contrastive_loss(outputs.music_embed, outputs.video_embed,
                                outputs.log_temperature, batch.get("has_video"))
  l_beat = beat_loss(outputs.beat_logits, batch["music_beat"])
  total = l_ar + loss_config.contrastive_weight * l_con + loss_config.beat_weight * l_beat
  metrics = {"loss": total, "loss_ar": l_ar, "loss_contrastive": l_con, "loss_beat": l_beat,
             "contrastive_acc": con["acc"], "temperature": con["temperature"]}
  for k in range(ar["acc_k"].shape[0]):
    metrics[f"acc_cb{k}"] = ar["acc_k"][k]
    metrics[f"ce_cb{k}"] = ar["ce_k"][k]
  return total, metrics
