"""Temporal video encoder: shapes from 1 to 600 frames, seconds as positions, chunking, freezing."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from random_params import random_variables
from vmas_jax.config_defaults import base_config
from vmas_jax.build import frame_backbone, load_pretrained, video_encoder
from vmas_jax.models.frame_features import adaptive_pool_matrix, frame_features
from vmas_jax.models.video_encoder import TemporalVideoEncoder
from vmas_jax.models.vision import tiny_vit

BB = tiny_vit(16, hidden_size=16, num_layers=1, num_heads=2, mlp_dim=32)


def _enc(**kw):
  args = dict(frame_backbone=BB, feature_dim=16, out_dim=24, embed_dim=12, chunk_size=4,
              num_layers=1, dim=16, num_heads=2, mlp_dim=32)
  args.update(kw)
  return TemporalVideoEncoder(**args)


ENC = _enc()
ENC_FEATS = _enc(use_features=True, frame_backbone=None)
apply = jax.jit(ENC.apply)
apply_feats = jax.jit(ENC_FEATS.apply)


@pytest.fixture(scope="module")
def variables():
  f = jnp.zeros((1, 1, 16, 16, 3), jnp.uint8)
  return random_variables(ENC.init, f, jnp.zeros((1, 1)), jnp.ones((1, 1), bool))


def _head(v):
  return {"params": {k: x for k, x in v["params"].items() if k != "backbone"}}


def _video(b, t, seed=0):
  frames = jax.random.randint(jax.random.key(seed), (b, t, 16, 16, 3), 0, 256).astype(jnp.uint8)
  times = jnp.tile(jnp.arange(t, dtype=jnp.float32) / 8.0, (b, 1))
  return frames, times, jnp.ones((b, t), bool)


@pytest.mark.parametrize("t", [1, 600])
def test_shapes_one_to_600_frames(variables, t):
  frames, times, mask = _video(1, t)
  out = apply(variables, frames, times, mask)
  assert out["tokens"].shape == (1, t * 5, 24)
  assert out["token_mask"].shape == (1, t * 5) and bool(out["token_mask"].all())
  assert out["global_embed"].shape == (1, 12)
  assert out["frame_embeds"].shape == (1, t, 16)
  assert np.isfinite(np.asarray(out["tokens"])).all()


def test_chunked_equals_unchunked(variables):
  frames = _video(2, 7)[0].reshape(14, 16, 16, 3)
  bb = variables["params"]["backbone"]
  run = jax.jit(lambda p, f: [frame_features(BB, p, f, 5, c) for c in (3, 4, 14, 50)])
  outs = run(bb, frames)
  assert all(o.shape == (14, 5, 16) for o in outs)
  for o in outs[1:]:
    np.testing.assert_allclose(np.asarray(o), np.asarray(outs[0]), atol=1e-5)
  # ...and the encoder's own path (chunks of 4) gives the same per-frame embeddings.
  enc_out = apply(variables, *_video(2, 7))
  np.testing.assert_allclose(enc_out["frame_embeds"].reshape(14, 16), outs[2][:, 0], atol=1e-5)


def test_frozen_backbone_has_zero_gradients(variables):
  frames, times, mask = _video(1, 3)
  params = variables["params"]

  def loss(enc, p):
    out = enc.apply({"params": p}, frames, times, mask)
    return jnp.sum(out["tokens"] ** 2) + jnp.sum(out["global_embed"] ** 2)

  grads = jax.jit(lambda p: [jax.grad(lambda q: loss(_enc(freeze_backbone=f), q))(p)
                             for f in (True, False)])(params)
  for frozen, g in zip((True, False), grads):
    bb_norm = sum(float(jnp.abs(x).sum()) for x in jax.tree.leaves(g["backbone"]))
    assert float(jnp.abs(g["in_proj"]["kernel"]).sum()) > 0
    assert (bb_norm == 0.0) == frozen, (frozen, bb_norm)


def test_times_are_seconds_not_indices(variables):
  rng = np.random.RandomState(0)
  feats = jnp.asarray(rng.randn(2, 7, 5, 16), jnp.float32)
  times = jnp.asarray([[0.0, 0.1, 0.15, 0.9, 1.0, 3.5, 3.6]] * 2)  # variable frame rate
  mask = jnp.ones((2, 7), bool)
  v = _head(variables)
  out = apply_feats(v, feats, times, mask)
  # Reordering frames together with their timestamps only reorders the tokens.
  perm = np.array([3, 0, 5, 1, 6, 4, 2])
  out_p = apply_feats(v, feats[:, perm], times[:, perm], mask)
  tok = np.asarray(out["tokens"]).reshape(2, 7, 5, -1)
  tok_p = np.asarray(out_p["tokens"]).reshape(2, 7, 5, -1)
  np.testing.assert_allclose(tok_p, tok[:, perm], atol=1e-5)
  np.testing.assert_allclose(out_p["global_embed"], out["global_embed"], atol=1e-5)
  # The same frames at other times (e.g. a constant 8 fps) encode differently.
  out_cfr = apply_feats(v, feats, jnp.tile(jnp.arange(7.0) / 8.0, (2, 1)), mask)
  assert not np.allclose(out_cfr["tokens"], out["tokens"], atol=1e-3)


def test_padded_frames_do_not_leak(variables):
  rng = np.random.RandomState(1)
  feats = jnp.asarray(rng.randn(2, 7, 5, 16), jnp.float32)
  times = jnp.tile(jnp.arange(7.0) / 4, (2, 1))
  mask = jnp.tile(jnp.arange(7) < 4, (2, 1))
  v = _head(variables)
  a = apply_feats(v, feats.at[:, 4:].set(0.0), times, mask)
  b = apply_feats(v, feats.at[:, 4:].multiply(9.0), times.at[:, 4:].add(5.0), mask)
  np.testing.assert_allclose(a["tokens"], b["tokens"], atol=1e-5)
  assert float(jnp.abs(b["tokens"][:, 20:]).max()) == 0.0
  assert not bool(b["token_mask"][:, 20:].any()) and bool(b["token_mask"][:, :20].all())
  np.testing.assert_allclose(a["global_embed"], b["global_embed"], atol=1e-5)


def test_features_path_matches_frames_path(variables):
  frames, times, mask = _video(2, 7)
  feats = jax.jit(lambda v, f: ENC.apply(v, f, method="extract_features"))(variables, frames)
  assert feats.shape == (2, 7, 5, 16)
  a = apply_feats(_head(variables), feats, times, mask)
  b = apply(variables, frames, times, mask)
  np.testing.assert_allclose(a["tokens"], b["tokens"], atol=1e-5)
  np.testing.assert_allclose(b["frame_embeds"], feats[:, :, 0], atol=1e-6)


def test_adaptive_pool_matches_torch_definition():
  m = adaptive_pool_matrix(7, 2)  # PyTorch bins for 7 -> 2: [0, 4) and [3, 7)
  np.testing.assert_allclose(m[0], [.25] * 4 + [0] * 3)
  np.testing.assert_allclose(m[1], [0] * 3 + [.25] * 4)


def test_load_pretrained_imports_backbone(tmp_path, variables):
  """config.video with an HF CLIP dir -> encoder whose frame_embeds are HF's pooled outputs."""
  torch = pytest.importorskip("torch")
  transformers = pytest.importorskip("transformers")
  torch.manual_seed(0)
  ref = transformers.CLIPVisionModel(transformers.CLIPVisionConfig(  # = BB's architecture
      hidden_size=16, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2,
      image_size=16, patch_size=4)).eval()
  ref.save_pretrained(tmp_path)
  config = base_config("tiny")
  cfg = config.video
  cfg.update(dict(backbone="clip_vit", backbone_path=str(tmp_path), image_size=16,
                  temporal_layers=1, temporal_dim=16, temporal_heads=2, temporal_mlp=32,
                  dtype="float32", chunk_size=4, attention_impl="einsum"))
  enc = video_encoder(cfg, out_dim=24, embed_dim=12)
  assert enc == ENC  # same architecture as the shared test encoder, so reuse its compile
  one = jax.sharding.NamedSharding(jax.make_mesh((1,), ("x",), devices=jax.devices()[:1]),
                                   jax.sharding.PartitionSpec())
  initial = {"video_encoder": nn.unbox(variables["params"])}
  params = load_pretrained(initial, config, jax.tree.map(lambda _: one, initial))["video_encoder"]
  got = params["backbone"]["layers_0"]["mlp"]["fc1"]["kernel"]
  np.testing.assert_array_equal(got, ref.encoder.layers[0].mlp.fc1.weight.detach().numpy().T)
  frames, times, mask = _video(2, 7)
  out = apply({"params": params}, frames, times, mask)
  x = (np.asarray(frames, np.float32) / 255 - np.asarray(enc.frame_backbone.mean)) / np.asarray(
      enc.frame_backbone.std)
  with torch.no_grad():
    pooled = ref(pixel_values=torch.from_numpy(
        x.reshape(14, 16, 16, 3).transpose(0, 3, 1, 2).astype(np.float32))).pooler_output
  np.testing.assert_allclose(out["frame_embeds"].reshape(14, 16), pooled.numpy(), atol=1e-4)
  np.testing.assert_array_equal(params["in_proj"]["kernel"],  # the rest is kept
                                initial["video_encoder"]["in_proj"]["kernel"])
  module, none = frame_backbone(cfg)
  assert none is None and module == BB
  cfg.backbone_path = str(tmp_path / "missing")
  with pytest.raises(FileNotFoundError, match="missing"):
    load_pretrained(initial, config, jax.tree.map(lambda _: one, initial))


def test_every_parameter_has_logical_axes():
  from vmas_jax.models.vision import Hiera
  from vmas_jax.sharding import DEFAULT_RULES, make_mesh
  hiera = Hiera(image_size=(64, 64), embed_dim=8, depths=(1, 2, 1, 1), num_heads=(1, 2, 2, 4))
  f = jnp.zeros((1, 1, 16, 16, 3), jnp.uint8)
  trees = [jax.eval_shape(ENC.init, jax.random.key(0), f, jnp.zeros((1, 1)), jnp.ones((1, 1), bool)),
           jax.eval_shape(hiera.init, jax.random.key(0), jnp.zeros((1, 64, 64, 3)))]
  is_box = lambda v: isinstance(v, nn.Partitioned)
  for tree in trees:
    leaves = jax.tree.leaves(tree, is_leaf=is_box)
    assert leaves and all(is_box(v) for v in leaves)
    nn.logical_to_mesh_sharding(nn.get_partition_spec(tree), make_mesh((1, 1, 1), jax.devices()[:1]),
                                DEFAULT_RULES)  # no axis used twice


def test_hiera_frame_tokens_in_chunks():
  from vmas_jax.models.frame_features import normalize_frames
  from vmas_jax.models.vision import Hiera
  hiera = Hiera(image_size=(64, 64), embed_dim=8, depths=(1, 2, 1, 1), num_heads=(1, 2, 2, 4))
  frames = jax.random.randint(jax.random.key(0), (5, 64, 64, 3), 0, 256).astype(jnp.uint8)
  params = random_variables(hiera.init, jnp.zeros((1, 64, 64, 3)))["params"]
  feats, (last, pooled) = jax.jit(lambda p, f: (
      frame_features(hiera, p, f, 5, chunk_size=2),
      hiera.apply({"params": p}, normalize_frames(f, hiera))))(params, frames)
  assert feats.shape == (5, 5, 64) and hiera.grid_size == (2, 2)
  np.testing.assert_allclose(feats[:, 0], pooled, atol=1e-5)  # CLS slot = pooled embedding
  np.testing.assert_allclose(feats[:, 1:], last, atol=1e-5)  # 2x2 grid pooled to 2x2


def test_backbone_memory_is_flat_in_frames():
  """XLA's own buffer plan: chunked temp memory is the same for 16 and 256 frames."""
  params = random_variables(BB.init, jnp.zeros((1, 16, 16, 3)))["params"]

  def temp_bytes(n, chunk):
    f = jax.ShapeDtypeStruct((n, 16, 16, 3), jnp.uint8)
    fn = jax.jit(lambda p, x: frame_features(BB, p, x, 5, chunk))
    return fn.lower(params, f).compile().memory_analysis().temp_size_in_bytes

  small, large = temp_bytes(16, 8), temp_bytes(256, 8)
  assert large == small
  assert temp_bytes(256, 256) > 4 * large  # one chunk of everything does grow


@pytest.mark.parametrize("name,use_features", [("tiny", False), ("tiny", True), ("small", False)])
def test_configs_build(name, use_features):
  """Shapes only (eval_shape): `small` is Hiera-base + the default temporal encoder."""
  from vmas_jax.config_utils import load_config
  cfg = load_config(f"configs/{name}.py", [f"--config.video.use_features={use_features}"])
  cfg.video.backbone_path = ""  # random init: no download
  enc = video_encoder(cfg.video, out_dim=cfg.decoder.d_model,
                      embed_dim=cfg.model.contrastive_dim)
  assert (enc.frame_backbone is None) == use_features
  t, s, p = 8, cfg.video.image_size, cfg.video.tokens_per_frame
  x = (jax.ShapeDtypeStruct((2, t, p, enc.feature_dim), jnp.float32) if use_features
       else jax.ShapeDtypeStruct((2, t, s, s, 3), jnp.uint8))
  args = (x, jax.ShapeDtypeStruct((2, t), jnp.float32), jax.ShapeDtypeStruct((2, t), bool))
  v = jax.eval_shape(enc.init, jax.random.key(0), *args)
  out = jax.eval_shape(enc.apply, v, *args)
  assert out["tokens"].shape == (2, t * p, cfg.decoder.d_model)
  assert out["global_embed"].shape == (2, cfg.model.contrastive_dim)
  assert ("backbone" in v["params"]) != use_features


def test_standardized_features_read_as_the_plain_encoder_reads_standardized_input():
  """video.standardize_features: statistics over the valid frames of the batches read, put
  in the params; the encoder then sees (features - mean) / std, and gets no gradient to them."""
  from vmas_jax.train.feature_stats import feature_statistics, with_feature_statistics
  rng = np.random.default_rng(0)
  p, d = 5, 16
  batches = []
  for _ in range(3):
    feats = (3.0 + 0.1 * rng.standard_normal((2, 4, p, d))).astype(np.float32)
    mask = np.array([[True] * 4, [True, True, False, False]])
    feats[~mask] = 1e3  # padding frames must not count
    batches.append(dict(features=feats, frame_mask=mask))
  mean, std = feature_statistics(iter(batches), batches=3)
  valid = np.concatenate([b["features"][b["frame_mask"]] for b in batches])
  np.testing.assert_allclose(mean, valid.mean(0), rtol=1e-5)
  np.testing.assert_allclose(std, valid.std(0), rtol=1e-4)

  enc = _enc(use_features=True, frame_backbone=None, standardize_features=True)
  feats, mask = jnp.asarray(batches[0]["features"]), batches[0]["frame_mask"]
  times = jnp.broadcast_to(jnp.arange(4.0) / 4, (2, 4))
  params = nn.unbox(jax.jit(enc.init)(jax.random.key(0), feats, times, mask))["params"]
  shardings = jax.tree.map(lambda _: jax.sharding.SingleDeviceSharding(jax.devices()[0]),
                           {"video_encoder": params})
  params = with_feature_statistics({"video_encoder": params}, mean, std, shardings)["video_encoder"]
  plain = {k: v for k, v in params.items() if k not in ("feature_shift", "feature_scale")}
  out = jax.jit(enc.apply)({"params": params}, feats, times, mask)
  want = apply_feats({"params": plain}, (feats - mean) / std, times, mask)
  for key in ("tokens", "global_embed"):
    np.testing.assert_allclose(out[key], want[key], atol=1e-5)
  grads = jax.jit(jax.grad(lambda q: enc.apply({"params": q}, feats, times, mask)["tokens"].sum()
                           ))(params)
  assert not np.any(grads["feature_shift"]) and not np.any(grads["feature_scale"])
  assert np.any(grads["in_proj"]["kernel"])
