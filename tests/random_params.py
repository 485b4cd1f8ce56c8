"""Random parameters from `jax.eval_shape(init)`: no compilation of the init graph (on CPU
compiling random initializers costs more than the tests themselves)."""

import flax.linen as nn
import jax
import numpy as np


def random_variables(init, *args, seed=0, std=0.1):
  """Unboxed {"params": ...} with N(0, std) entries (LayerNorm scales around 1)."""
  shapes = nn.unbox(jax.eval_shape(init, jax.random.key(0), *args))
  rng = np.random.RandomState(seed)

  def fill(path, s):
    x = rng.randn(*s.shape).astype(np.float32) * std
    return x + 1.0 if getattr(path[-1], "key", None) == "scale" else x

  return jax.tree_util.tree_map_with_path(fill, shapes)
