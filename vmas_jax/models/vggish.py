"""VGGish (Hershey et al. 2017, AudioSet) in Flax: the audio embedding network behind the
usual FAD numbers.  Same graph as torchvggish's `VGG` (a port of the TensorFlow original).

  log-mel examples [N, 96, 64] (0.96 s, see vmas_jax.eval.vggish_input)
  4 conv blocks, 3 x 3 convs + ReLU, 2 x 2 max pool after each block:
     64 | 128 | 256, 256 | 512, 512                          -> [N, 6, 4, 512]
  flatten (rows, columns, channels) -> 4096 + ReLU -> 4096 + ReLU -> 128  (`embedding`)
  -> ReLU (`relu`: torchvggish's output without its PCA postprocessing)

FAD uses `embedding`, the 128-d output before the last ReLU (as the TF model defines its
embedding tensor and as the standard FAD implementations do).
"""

from __future__ import annotations

import flax.linen as nn
import jax.numpy as jnp

BLOCKS = ((64,), (128,), (256, 256), (512, 512))
FC_UNITS = (4096, 4096, 128)


class VGGish(nn.Module):
  """`__call__(examples [N, 96, 64]) -> {"embedding": [N, E], "relu": [N, E]}` (E = 128)."""
  fc_units: tuple[int, ...] = FC_UNITS

  @nn.compact
  def __call__(self, x):
    x = x[..., None].astype(jnp.float32)  # [N, frames, mels, 1]
    i = 0
    for block in BLOCKS:
      for filters in block:
        x = nn.relu(nn.Conv(filters, (3, 3), padding=1, name=f"conv_{i}")(x))
        i += 1
      x = nn.max_pool(x, (2, 2), strides=(2, 2))
    x = x.reshape(x.shape[0], -1)  # [N, 6 * 4 * 512] in torchvggish's (H, W, C) order
    for j, units in enumerate(self.fc_units):
      x = nn.Dense(units, name=f"fc_{j}")(x)
      if j < len(self.fc_units) - 1:
        x = nn.relu(x)
    return {"embedding": x, "relu": nn.relu(x)}
