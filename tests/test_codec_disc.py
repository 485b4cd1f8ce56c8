"""The codec's adversarial training (config.disc): discriminator shapes, hinge and feature
matching losses, and train steps that move the discriminator only from `start_step` on."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.sharding import NamedSharding, PartitionSpec as P

from vmas_jax.config_utils import load_config
from vmas_jax.models.codec import EncodecModel
from vmas_jax.sharding import make_mesh
from vmas_jax.train import codec_disc, state as state_lib
from vmas_jax.train.codec_config import encodec_config
from vmas_jax.train.codec_step import init_codec_state, make_codec_train_step


def test_discriminator_shapes_and_losses():
  disc = codec_disc.MultiScaleSTFTDiscriminator(scales=(256, 128), filters=4)
  wav = jnp.asarray(np.random.RandomState(0).randn(2, 1280).astype(np.float32))
  outs = disc.apply({"params": codec_disc.init_discriminator(disc, 0)}, wav)
  assert len(outs) == 2
  (logits, maps), _ = outs
  # 1 + 1280 / 64 frames; 129 bins halved three times by the strided convs (SAME padding)
  assert logits.shape == (2, 21, 17) and len(maps) == 5 and maps[0].shape == (2, 21, 129, 4)
  adv, feat = codec_disc.generator_losses(outs, outs)
  assert float(feat) == 0.0  # the same maps: nothing to match
  assert np.isclose(float(adv), np.mean([np.mean(np.maximum(1 - np.asarray(l), 0))
                                         for l, _ in outs]))
  # hinge: logits beyond the margins cost nothing, at zero they cost 1 each side
  far = [(jnp.full((1, 3), 2.0), []), (jnp.full((1, 3), 2.0), [])]
  near = [(jnp.zeros((1, 3)), []), (jnp.zeros((1, 3)), [])]
  assert float(codec_disc.discriminator_loss(far, [(-l, m) for l, m in far])) == 0.0
  assert float(codec_disc.discriminator_loss(near, near)) == 2.0


@pytest.mark.long
def test_the_discriminator_trains_from_start_step_on():
  config = load_config("codec_tiny", ["--config.disc.enabled=True",
                                      "--config.disc.scales=(256,128)",
                                      "--config.disc.filters=4", "--config.disc.start_step=1",
                                      "--config.data.global_batch_size=2",
                                      "--config.loss.mel_scales=(256,)",
                                      "--config.loss.stft_scales=(512,)"])
  mesh = make_mesh(config.mesh_shape)
  bsh = state_lib.batch_sharding(mesh, state_lib.rules_from_config(config))
  cfg = encodec_config(config)
  tx, schedule = state_lib.make_optimizer(config.optim, config.total_steps)
  state = jax.device_put(init_codec_state(cfg, tx, 0, False, config),
                         NamedSharding(mesh, P()))
  first = jax.tree.map(np.asarray, state["disc"])
  step = make_codec_train_step(EncodecModel(cfg), tx, schedule, config, mesh, bsh)
  wav = np.random.RandomState(1).randn(2, 6400).astype(np.float32) * 0.1

  # step 0 < start_step: the discriminator stays where it was and adds nothing to the loss
  state, m = step(state, wav)
  m = jax.tree.map(float, m)
  jax.tree.map(lambda a, b: np.testing.assert_array_equal(a, np.asarray(b)), first,
               state["disc"])
  np.testing.assert_allclose(m["loss"], m["l1"] + m["mel"] + m["stft"] + m["commitment"],
                             rtol=1e-5)
  # step 1: it trains, and the codec's loss has the adversarial and feature-matching terms
  state, m = step(state, wav)
  m = jax.tree.map(float, m)
  assert all(np.isfinite(m[k]) for k in ("loss", "d_loss", "g_adv", "g_feat")) and m["finite"]
  assert m["g_feat"] > 0
  assert m["loss"] > m["l1"] + m["mel"] + m["stft"] + m["commitment"] + 2.9 * m["g_adv"]
  # every kernel moves (the logit bias may not: within the margins its two hinge gradients,
  # -1 for the real and +1 for the reconstruction, cancel)
  moved = {jax.tree_util.keystr(p): not np.array_equal(a, np.asarray(b)) for (p, a), b in
           zip(jax.tree_util.tree_leaves_with_path(first), jax.tree.leaves(state["disc"]))}
  assert all(v for k, v in moved.items() if "kernel" in k), moved
