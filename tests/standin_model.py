"""A tiny stand-in with the VMAS model's call contract, for testing the training system alone.

`__call__(batch, *, deterministic) -> VMASOutput` as `vmas_jax.models.vmas.VMAS`: a one-layer
causal-free token MLP over the delayed codes, a mean-pooled video embedding, a beat head.
Not a model of anything; it only has to be differentiable, sharded and seed-deterministic.
"""

import flax.linen as nn
import jax
import jax.numpy as jnp

from vmas_jax import layers
from vmas_jax.models.outputs import VMASOutput


class StandIn(nn.Module):
  vocab: int = 16
  d: int = 16
  contrastive_dim: int = 8

  @nn.compact
  def __call__(self, batch, *, deterministic: bool = True, drop_condition=None):
    codes = batch["codes"] % self.vocab  # [B, K, F]
    b, k, f = codes.shape
    special = self.vocab
    tokens = jnp.concatenate([jnp.full((b, k, 1), special, codes.dtype), codes], axis=2)
    inputs, targets = tokens[:, :, :-1], tokens[:, :, 1:]
    x = layers.Embed(self.vocab + 1, self.d, name="embed")(inputs).sum(1)  # [B, F, D]
    x = nn.with_logical_constraint(x, ("batch", "length", "embed"))
    if "features" in batch:
      feats = batch["features"].astype(jnp.float32).mean(axis=2)  # [B, T, Df]
    else:  # frames [B, T, H, W, 3] uint8 -> mean colour per frame
      feats = batch["frames"].astype(jnp.float32).mean(axis=(2, 3)) / 255.0
    video = layers.Dense(self.d, ("kv",), ("embed",), name="video_in")(feats).mean(1)  # [B, D]
    drop = jax.random.bernoulli(self.make_rng("cond"), 0.1, (b,)) if not deterministic else None
    drop = drop_condition if drop_condition is not None else drop
    if drop is not None:
      video = jnp.where(drop[:, None], 0.0, video)
    x = x + video[:, None] + layers.Dense(self.d, ("norm",), ("embed",), name="beat_in")(
        batch["video_beat"][..., None])
    h = x + layers.MLP(2 * self.d, name="mlp")(layers.LayerNorm(name="ln")(x))
    logits = layers.Dense((k, self.vocab), ("embed",), ("codebooks", "vocab"), name="heads")(h)
    norm = lambda v: v / (jnp.linalg.norm(v, axis=-1, keepdims=True) + 1e-6)
    music = norm(layers.Dense(self.contrastive_dim, ("embed",), ("mlp",), name="mproj")(h.mean(1)))
    vid = norm(layers.Dense(self.contrastive_dim, ("embed",), ("mlp",), name="vproj")(video))
    log_t = self.param("log_temperature", nn.with_logical_partitioning(
        lambda *_: jnp.log(jnp.float32(0.07)), ()), ())
    beat = layers.Dense(1, ("embed",), ("norm",), name="beat_head")(h)[..., 0]
    return VMASOutput(logits=logits.transpose(0, 2, 1, 3), targets=targets,
                      target_mask=jnp.ones((k, f), bool), music_embed=music, video_embed=vid,
                      log_temperature=log_t, beat_logits=beat)
