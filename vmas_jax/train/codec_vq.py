"""Residual VQ for codec training: EMA codebooks, commitment loss, dead-code replacement.

The codebooks are not trained by gradients but, as in EnCodec/SoundStream, by exponential
moving averages of the latents assigned to each entry (k-means online):

  count[k, n]  <- decay * count + (1 - decay) * (frames assigned to n)
  sums[k, n]   <- decay * sums  + (1 - decay) * (sum of the residuals assigned to n)
  embed[k, n]   = sums / count  (Laplace-smoothed count)

An entry whose `count` falls below `dead_code_fraction` of the uniform share (frames per step
/ codebook size) is dead: it is replaced by a residual drawn from the current batch (and
given twice the threshold as count, so it lives ~70 steps at decay 0.99 to be chosen).  All counts
start at zero, so the first step initialises every codebook from the data.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

Array = jax.Array


def init_vq_state(codebooks: Array) -> dict:
  """`{"embed", "count", "sums"}` from codebooks `[K, N, D]`; counts 0 (all entries dead)."""
  k, n, _ = codebooks.shape
  return {"embed": jnp.asarray(codebooks, jnp.float32), "count": jnp.zeros((k, n), jnp.float32),
          "sums": jnp.zeros(codebooks.shape, jnp.float32)}


def fitted_vq_state(codebooks: Array, frames_per_step: int) -> dict:
  """VQ state of fitted codebooks `[K, N, D]` (e.g. by k-means): every entry alive, with
  the count of a uniform share of `frames_per_step`, so none is replaced at the first step."""
  k, n, _ = codebooks.shape
  count = jnp.full((k, n), frames_per_step / n, jnp.float32)
  return {"embed": jnp.asarray(codebooks, jnp.float32), "count": count,
          "sums": jnp.asarray(codebooks, jnp.float32) * count[..., None]}


def _nearest(x: Array, embed: Array) -> Array:
  """Indices `[M]` of the nearest rows of `embed [N, D]` to `x [M, D]`."""
  dots = jnp.dot(x, embed.T, precision=jax.lax.Precision.HIGHEST)
  return jnp.argmin(jnp.sum(embed ** 2, -1) - 2 * dots, axis=-1).astype(jnp.int32)


def quantize_train(vq: dict, z: Array, rng: Array, *, decay: float,
                   dead_code_fraction: float) -> tuple[Array, Array, dict, dict]:
  """Residual-quantise latents `z [B, F, D]` with all K codebooks and update them.

  Returns (zq `[B, F, D]` with straight-through gradients to `z`, codes `[B, K, F]`,
  the new VQ state, metrics: `commitment` (mean over codebooks of |residual - entry|^2, with
  gradient to the encoder) and per codebook k `vq{k}_perplexity` (of this batch's codes),
  `vq{k}_alive` (fraction of live entries), `vq{k}_replaced` (entries replaced this step)).
  """
  b, f, d = z.shape
  num_books, n, _ = vq["embed"].shape
  m = b * f
  threshold = dead_code_fraction * m / n
  residual = z.astype(jnp.float32)
  quantized = jnp.zeros_like(residual)
  new = {key: [] for key in vq}
  codes, commit, metrics = [], 0.0, {}
  for k in range(num_books):
    x = jax.lax.stop_gradient(residual).reshape(m, d)
    dead = vq["count"][k] < threshold
    pick = jax.random.randint(jax.random.fold_in(rng, k), (n,), 0, m)
    embed = jnp.where(dead[:, None], x[pick], vq["embed"][k])
    count = jnp.where(dead, 2.0 * threshold, vq["count"][k])
    sums = jnp.where(dead[:, None], embed * count[:, None], vq["sums"][k])

    idx = _nearest(x, embed)
    q = embed[idx].reshape(b, f, d)
    commit = commit + jnp.mean((residual - q) ** 2)
    quantized = quantized + q
    residual = residual - q

    hist = jnp.zeros((n,), jnp.float32).at[idx].add(1.0)
    count = decay * count + (1 - decay) * hist
    sums = decay * sums + (1 - decay) * jnp.zeros((n, d), jnp.float32).at[idx].add(x)
    total = jnp.sum(count)
    smoothed = (count + 1e-5) / (total + n * 1e-5) * total
    new["embed"].append(sums / smoothed[:, None])
    new["count"].append(count)
    new["sums"].append(sums)
    codes.append(idx.reshape(b, f))
    p = hist / m
    metrics[f"vq{k}_perplexity"] = jnp.exp(-jnp.sum(p * jnp.log(jnp.maximum(p, 1e-10))))
    metrics[f"vq{k}_alive"] = jnp.mean(~dead)
    metrics[f"vq{k}_replaced"] = jnp.sum(dead).astype(jnp.float32)
  zq = z + jax.lax.stop_gradient(quantized - z)
  metrics["commitment"] = commit / num_books
  new_state = {key: jnp.stack(v) for key, v in new.items()}
  return zq, jnp.stack(codes, axis=1), new_state, metrics
