"""The VMAS model's wiring: shapes, temperature init, beat curve frame f -> decoder position f."""

import math

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from vmas_jax.build import build_model
from vmas_jax.config_utils import load_config
from vmas_jax.models.vmas import VMAS
from vmas_jax.train import memory_data

from tiny_vmas import tiny_vmas


def _tiny_model(lookahead: int, frame_conditioning: bool = False):
  """(model, a batch of 2 clips of 0.5 s, its params) of a tiny VMAS with that lookahead."""
  return tiny_vmas(f"--config.model.beat_lookahead={lookahead}",
                   f"--config.model.frame_conditioning={frame_conditioning}")


def test_vmas_outputs_and_beat_alignment():
  model, batch, params = _tiny_model(lookahead=0)
  b, k, f = batch["codes"].shape
  np.testing.assert_allclose(params["log_temperature"], math.log(0.07), rtol=1e-6)
  # The beat embedding starts at zero (a pretrained decoder is unperturbed); give it weight.
  params["beat_embed"]["kernel"] = jax.random.normal(jax.random.key(1), (1, 64))

  apply = jax.jit(lambda p, bt: model.apply({"params": p}, bt))
  out = apply(params, batch)
  s = f + k - 1
  assert out.logits.shape == (b, k, s, 64) and out.targets.shape == (b, k, s)
  assert out.target_mask.shape == (k, s) and out.beat_logits.shape == (b, f)
  for name in ("music_embed", "video_embed"):
    np.testing.assert_allclose(jnp.linalg.norm(getattr(out, name), axis=-1), 1.0, rtol=1e-5)
  # Delay pattern: target slot (k, s) holds frame s - k of codebook k.
  np.testing.assert_array_equal(out.targets[:, 0, :f], batch["codes"][:, 0])
  np.testing.assert_array_equal(out.targets[:, k - 1, k - 1:], batch["codes"][:, k - 1])

  # Changing the video beat at frame 10 changes nothing before decoder position 10 (causal)
  # and changes position 10 itself: the curve is aligned with codebook 0 of frame 10.
  bumped = dict(batch, video_beat=batch["video_beat"].copy())
  bumped["video_beat"][:, 10] += 1.0
  out2 = apply(params, bumped)
  np.testing.assert_allclose(out2.logits[:, :, :10], out.logits[:, :, :10], atol=1e-6)
  assert np.abs(out2.logits[:, :, 10] - out.logits[:, :, 10]).max() > 1e-4
  np.testing.assert_allclose(out2.beat_logits[:, :10], out.beat_logits[:, :10], atol=1e-6)

  cond = jax.jit(lambda p: model.apply({"params": p}, batch["features"], batch["frame_times"],
                                       batch["frame_mask"], batch["video_beat"],
                                       method=VMAS.encode_video))(params)
  assert cond["memory"].shape[:2] == cond["memory_mask"].shape
  assert cond["offsets"].shape == (b, f + k, 64)


def test_null_memory_contrastive_music_is_the_retrieval_embedding():
  """contrastive_music="null_memory": training embeds the music exactly as `embed_music`
  (retrieval) does -- blind to the video; "conditioned" (the default) sees the video."""
  overrides = ["--config.data.clip_seconds=0.5", "--config.video.use_features=True",
               "--config.data.frames_format=features", "--config.codec.codebook_size=64",
               "--config.decoder.vocab_size=64"]
  embeds = {}
  for how in ("conditioned", "null_memory"):
    config = load_config("tiny", overrides + [f"--config.model.contrastive_music={how}"])
    model = build_model(config)
    batch = memory_data.make_example_batch(config, 2, seed=0,
                                           feature_dim=model.video_encoder.feature_dim)
    params = nn.unbox(jax.jit(lambda: model.init({"params": jax.random.key(0)}, batch))()
                      )["params"]
    # a null memory unlike the video's, and a beat embedding with weight
    params["decoder"]["null_memory"] = jnp.full_like(params["decoder"]["null_memory"], 3.0)
    params["beat_embed"]["kernel"] = jax.random.normal(jax.random.key(1), (5, 64))
    out = model.apply({"params": params}, batch)
    alone = model.apply({"params": params}, batch["codes"], method=VMAS.embed_music)
    embeds[how] = (np.asarray(out.music_embed), np.asarray(alone))
  trained, alone = embeds["null_memory"]
  np.testing.assert_allclose(trained, alone, atol=1e-5)
  trained, alone = embeds["conditioned"]
  assert np.abs(trained - alone).max() > 1e-3


def test_beat_lookahead_shows_each_position_the_next_frames_of_the_curve():
  """model.beat_lookahead=2: decoder position p reads the curve at frames p..p+2, so a beat
  at frame 10 reaches positions 8, 9 and 10 and nothing before 8."""
  model, batch, params = _tiny_model(lookahead=2)
  assert params["beat_embed"]["kernel"].shape == (3, 64)
  params["beat_embed"]["kernel"] = jax.random.normal(jax.random.key(1), (3, 64))
  offsets = jax.jit(lambda p, beat: model.apply({"params": p}, beat, 20,
                                                method=VMAS.beat_offsets))
  # two arrays, not one edited in place: JAX on CPU may read a numpy buffer without copying
  # it, after an asynchronous dispatch has returned
  curve = np.zeros((1, 12), np.float32)
  bumped_curve = curve.copy()
  bumped_curve[:, 10] = 1.0
  base = np.asarray(offsets(params, curve))
  moved = np.abs(np.asarray(offsets(params, bumped_curve)) - base).max(-1)[0]  # [20]
  assert set(np.nonzero(moved > 1e-6)[0]) == {8, 9, 10}
  # the whole model: the bump changes no logits before position 8
  bumped = dict(batch, video_beat=batch["video_beat"].copy())
  bumped["video_beat"][:, 10] += 1.0
  apply = jax.jit(lambda p, bt: model.apply({"params": p}, bt))
  out, out2 = apply(params, batch), apply(params, bumped)
  np.testing.assert_allclose(out2.logits[:, :, :8], out.logits[:, :, :8], atol=1e-6)
  assert np.abs(out2.logits[:, :, 8] - out.logits[:, :, 8]).max() > 1e-4


def test_frame_conditioning_shows_each_position_the_frame_at_or_after_its_time():
  """model.frame_conditioning (lookahead 2): position p reads the video tokens of the first
  valid frame at or after (p + 2) / 50 s, the last valid one past the end; a row trained
  without its video loses them."""
  model, batch, params = _tiny_model(lookahead=2, frame_conditioning=True)
  assert np.abs(params["frame_embed"]["kernel"]).max() == 0  # starts as the model without it
  d = params["frame_embed"]["kernel"].shape[0]
  params["frame_embed"]["kernel"] = jnp.eye(d)
  # 4 frames 0.1 s apart (the last one padding), 2 tokens each: frame i's tokens hold i + 1
  times = jnp.array([[0.0, 0.1, 0.2, 0.3]])
  mask = jnp.array([[True, True, True, False]])
  tokens = jnp.repeat(jnp.arange(1.0, 5.0)[None, :, None], 2, axis=1)  # [1, 8, 1]
  tokens = jnp.broadcast_to(tokens.reshape(1, 8, 1), (1, 8, d))
  offsets = jax.jit(lambda p: model.apply({"params": p}, tokens, times, mask, 20,
                                          method=VMAS.frame_offsets))(params)
  got = np.asarray(offsets[0, :, 0] - params["frame_embed"]["bias"][0])
  at = (np.arange(20) + 2) / 50.0
  want = np.minimum(np.searchsorted([0.0, 0.1, 0.2], at - 1e-6), 2) + 1.0
  np.testing.assert_allclose(got, want, atol=1e-6)
  assert set(want) == {2.0, 3.0}  # positions before and after a frame boundary
  # the whole model: a dropped row's logits ignore the picture, the other row's do not
  params["frame_embed"]["kernel"] = jax.random.normal(jax.random.key(2), (d, d))
  changed = dict(batch, features=batch["features"] + jax.random.normal(
      jax.random.key(3), batch["features"].shape))
  apply = jax.jit(lambda p, bt, drop: model.apply({"params": p}, bt, drop_condition=drop))
  drop = jnp.array([True, False])
  out, out2 = apply(params, batch, drop), apply(params, changed, drop)
  np.testing.assert_allclose(out2.logits[0], out.logits[0], atol=1e-6)
  assert np.abs(out2.logits[1] - out.logits[1]).max() > 1e-4
