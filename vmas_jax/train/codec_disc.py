"""The codec's adversary: a multi-scale STFT discriminator, hinge losses and relative
feature matching (the EnCodec recipe), switched on by `config.disc.enabled`.

  disc = MultiScaleSTFTDiscriminator(scales=(1024, 512, 256), filters=16)
  outs = disc.apply(variables, wav[B, T])      # per scale: (logits [B, N, F'], [features])
  d_loss = discriminator_loss(real_outs, fake_outs)
  adv, feat = generator_losses(real_outs, fake_outs)

Each scale reads the complex STFT (window n_fft, hop n_fft / 4; real and imaginary parts as
two channels) as an image of time x frequency: a (3, 9) convolution, three (3, 9)
convolutions with time dilation 1, 2, 4 and frequency stride 2, a (3, 3) convolution, each
followed by LeakyReLU(0.2), then a (3, 3) convolution to one logit per cell.  Reconstruction
losses alone make a codec's output muffled and quiet (they are minimised by an average over
the phases it cannot predict); the discriminator penalises what does not sound real.
"""

from __future__ import annotations

from typing import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from vmas_jax.models.codec_init import host_params
from vmas_jax.train.codec_losses import stft

Array = jax.Array


class STFTDiscriminator(nn.Module):
  """One scale: `wav [B, T]` -> (logits [B, N, F'], feature maps after each activation)."""
  n_fft: int
  filters: int = 16

  @nn.compact
  def __call__(self, wav: Array):
    spec = stft(wav, self.n_fft, self.n_fft // 4)
    x = jnp.stack([jnp.real(spec), jnp.imag(spec)], axis=-1)  # [B, N, F, 2]
    features = []
    convs = [((3, 9), (1, 1), (1, 1))] + [((3, 9), (1, 2), (d, 1)) for d in (1, 2, 4)] + [
        ((3, 3), (1, 1), (1, 1))]
    for kernel, stride, dilation in convs:
      x = nn.Conv(self.filters, kernel, strides=stride, kernel_dilation=dilation,
                  padding="SAME")(x)
      x = nn.leaky_relu(x, 0.2)
      features.append(x)
    logits = nn.Conv(1, (3, 3), padding="SAME")(x)[..., 0]
    return logits, features


class MultiScaleSTFTDiscriminator(nn.Module):
  """`wav [B, T]` -> [(logits, features)] for each FFT size in `scales`."""
  scales: Sequence[int] = (1024, 512, 256)
  filters: int = 16

  @nn.compact
  def __call__(self, wav: Array):
    return [STFTDiscriminator(n, self.filters, name=f"scale_{n}")(wav) for n in self.scales]


def init_discriminator(disc: MultiScaleSTFTDiscriminator, seed: int) -> dict:
  """Random params of `disc` drawn on the host (kernels ~ N(0, 1/fan_in), biases 0), without
  compiling its initialisers."""
  wav = jax.ShapeDtypeStruct((1, max(disc.scales)), jnp.float32)
  shapes = jax.eval_shape(disc.init, jax.random.PRNGKey(0), wav)["params"]
  return jax.tree.map(jnp.asarray, host_params(shapes, np.random.default_rng(seed)))


def discriminator_loss(real, fake) -> Array:
  """Hinge loss of the discriminator, mean over scales: relu(1 - D(x)) + relu(1 + D(G(z)))."""
  terms = [jnp.mean(jax.nn.relu(1.0 - r)) + jnp.mean(jax.nn.relu(1.0 + f))
           for (r, _), (f, _) in zip(real, fake)]
  return sum(terms) / len(terms)


def generator_losses(real, fake) -> tuple[Array, Array]:
  """(adversarial hinge relu(1 - D(G(z))), feature matching), each a mean over scales.

  Feature matching is the L1 distance of each feature map of the reconstruction to the
  original's, relative to the original's mean magnitude (so every layer weighs alike); the
  original's maps are constants here.
  """
  adv, feat, n = 0.0, 0.0, 0
  for (_, real_maps), (f, fake_maps) in zip(real, fake):
    adv = adv + jnp.mean(jax.nn.relu(1.0 - f))
    for r, g in zip(real_maps, fake_maps):
      r = jax.lax.stop_gradient(r)
      feat = feat + jnp.mean(jnp.abs(r - g)) / (jnp.mean(jnp.abs(r)) + 1e-8)
      n += 1
  return adv / len(fake), feat / n
