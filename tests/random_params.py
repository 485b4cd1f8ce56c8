"""Random parameters from `jax.eval_shape(init)`: no compilation of the init graph (on CPU
compiling random initializers costs more than the tests themselves)."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np


def random_variables(init, *args, seed=0, std=0.1):
  """Unboxed {"params": ...} with N(0, std) entries (LayerNorm scales around 1)."""
  shapes = nn.unbox(jax.eval_shape(init, jax.random.key(0), *args))
  rng = np.random.RandomState(seed)

  def fill(path, s):
    x = rng.randn(*s.shape).astype(np.float32) * std
    return x + 1.0 if getattr(path[-1], "key", None) == "scale" else x

  return jax.tree_util.tree_map_with_path(fill, shapes)


def init_variables(module, seed: int = 0, norm_noise: float = 0.0) -> dict:
  """Random plain (unboxed) numpy variables for `module`, without compiling its init.

  Matrices ~ N(0, 0.02) as the module's initialisers, norm scales 1 and biases 0 (plus
  N(0, norm_noise) so that tests exercise them).
  """
  cfg = module.config
  tokens = jnp.zeros((1, cfg.num_codebooks, 2), jnp.int32)
  memory = jnp.zeros((1, 1, cfg.d_model), jnp.float32)
  shapes = nn.unbox(jax.eval_shape(module.init, jax.random.key(0), tokens, memory))
  rs = np.random.RandomState(seed)

  def make(path, leaf):
    name = getattr(path[-1], "key", "")
    if name in ("scale", "bias"):
      base = 1.0 if name == "scale" else 0.0
      return np.asarray(base + norm_noise * rs.randn(*leaf.shape), leaf.dtype)
    return np.asarray(rs.randn(*leaf.shape) * 0.02, leaf.dtype)  # (scalars: the video gates)

  return jax.tree_util.tree_map_with_path(make, shapes)
