"""Text and video side by side: a MusicGen start is exactly text-conditional
MusicGen; text and video are dropped independently; 3-row guidance; a text+video train step."""

import dataclasses
from pathlib import Path

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from vmas_jax import losses
from vmas_jax.build import build_model
from vmas_jax.config_utils import load_config
from vmas_jax.models import delay_pattern
from vmas_jax.models.music_decoder import MusicDecoder
from vmas_jax.models.text.musicgen import MusicGen, MusicGenConfig
from vmas_jax.models.vmas import VMAS
from vmas_jax.sample import Sampler, guide
from vmas_jax.train import memory_data

from random_params import init_variables

OVERRIDES = ["--config.data.clip_seconds=0.5", "--config.video.use_features=True",
             "--config.data.frames_format=features", "--config.codec.codebook_size=64",
             "--config.decoder.vocab_size=64", "--config.loss.chunked_logits=False",
             "--config.text.enabled=True", "--config.text.d_model=48",
             "--config.text.num_layers=1"]


def _model(*extra):
  config = load_config("tiny", OVERRIDES + list(extra))
  model = build_model(config)
  batch = memory_data.make_example_batch(config, 2, seed=0,
                                         feature_dim=model.video_encoder.feature_dim)
  params = nn.unbox(jax.jit(lambda: model.init({"params": jax.random.key(0)}, batch))())
  return config, model, batch, params["params"]


@pytest.fixture(scope="module")
def tiny_text():
  return _model()


def test_start_is_text_conditional_musicgen(tiny_text):
  """At init (gates and type embeddings zero) the text + video model's logits are those of
  MusicGen with the same text encoder and decoder, whatever the video tokens hold."""
  _, model, batch, params = tiny_text
  apply = jax.jit(lambda p, b: model.apply({"params": p}, b))
  out = apply(params, batch)
  cond = jax.jit(lambda p: model.apply(
      {"params": p}, batch["features"], batch["frame_times"], batch["frame_mask"],
      text_ids=batch["text_ids"], text_mask=batch["text_mask"], method=VMAS.encode_video))(params)
  video_tokens = cond["memory"][cond["video_mask"]]
  assert float(jnp.abs(video_tokens).max()) > 0.1  # the video memory is not zero

  dec_cfg = dataclasses.replace(model.decoder_config, video_gate=False)
  musicgen = MusicGen(MusicGenConfig(text=model.text_conditioner.config, decoder=dec_cfg))
  decoder = {k: v for k, v in params["decoder"].items()}
  decoder["layers"] = {k: v for k, v in decoder["layers"].items() if k != "encoder_attn_gate"}
  mg_params = dict(params["text_conditioner"], decoder=decoder)
  tokens = delay_pattern.build(jnp.asarray(batch["codes"]), 64)[:, :, :-1]
  ref = jax.jit(musicgen.apply)({"params": mg_params}, batch["text_ids"], batch["text_mask"],
                                tokens)
  np.testing.assert_allclose(out.logits, ref, rtol=1e-5, atol=1e-5)

  # ... and the video path is live: an open gate changes the logits (and at init the gate
  # already has a gradient: test_text_video_loss_trains_the_text_path)
  opened = jax.tree.map(lambda x: x, params)
  opened["decoder"]["layers"]["encoder_attn_gate"] = jnp.full((2,), 0.5)
  assert float(jnp.abs(apply(opened, batch).logits - ref).max()) > 1e-3


def test_text_and_video_drop_independently(tiny_text):
  config, _, batch, params = tiny_text
  config = load_config("tiny", OVERRIDES + ["--config.text.cond_dropout=0.3",
                                                        "--config.decoder.cond_dropout=0.5"])
  model = build_model(config)  # the same parameters, other dropout rates
  big = {k: np.repeat(v, 256, axis=0) for k, v in batch.items()}  # 512 rows, 2 draws

  @jax.jit
  def decoder_drops(key):
    """The drop_condition and video_mask the decoder receives (jitted: XLA prunes the
    decoder's own work, which these outputs do not need)."""
    seen = []

    def record(next_fun, args, kwargs, context):
      if isinstance(context.module, MusicDecoder) and context.method_name == "__call__":
        seen.append((kwargs["drop_condition"], kwargs["video_mask"]))
      return next_fun(*args, **kwargs)

    with nn.intercept_methods(record):
      model.apply({"params": params}, big, deterministic=False,
                  rngs={"cond": key, "dropout": key})
    return seen[-1]

  drops = []
  for i in range(2):
    drop, video_mask = (np.asarray(x) for x in decoder_drops(jax.random.key(i)))
    text_drop, video_drop = drop[:, ~video_mask[0]], drop[:, video_mask[0]]
    # a group is dropped whole or not at all
    assert np.all(text_drop.all(1) == text_drop.any(1))
    assert np.all(video_drop.all(1) == video_drop.any(1))
    drops.append(np.stack([text_drop[:, 0], video_drop[:, 0]], 1))
  d = np.concatenate(drops)  # [1024, 2]
  p_text, p_video, p_both = d[:, 0].mean(), d[:, 1].mean(), (d[:, 0] & d[:, 1]).mean()
  tol = 4 * np.sqrt(0.25 / len(d))  # 4 sigma
  assert abs(p_text - 0.3) < tol and abs(p_video - 0.5) < tol
  assert abs(p_both - 0.15) < tol  # independent: P(both) = P(text) P(video)


def _guidance_setup():
  """A random decoder with open video gates, a text + video memory, beat offsets."""
  cfg = dataclasses.replace(
      build_model(load_config("tiny", OVERRIDES)).decoder_config, scan_layers=False)
  module = MusicDecoder(cfg)
  params = jax.tree.map(lambda x: x * 10.0 if x.ndim == 2 else x,
                        init_variables(module, seed=3, norm_noise=0.2))
  for i in range(cfg.num_layers):  # init_variables draws the gates ~N(0, 0.02): open them
    params["params"][f"layers_{i}"]["encoder_attn_gate"] = np.float32(0.8)
  rs = np.random.RandomState(0)
  b, lt, lv, f = 2, 3, 4, 4
  memory = jnp.asarray(rs.randn(b, lt + lv, cfg.d_model), jnp.float32)
  mask = jnp.asarray(np.array([[1, 1, 0, 1, 1, 1, 1], [1, 1, 1, 1, 1, 0, 0]], bool))
  video = jnp.zeros((b, lt + lv), bool).at[:, lt:].set(True)
  offsets = jnp.asarray(rs.randn(b, f + cfg.num_codebooks, cfg.d_model), jnp.float32)
  return cfg, module, params, memory, mask, video, offsets, f


def _greedy_by_hand(module, logits, memory, video, offsets, f, g_text, g_video):
  """Greedy decoding with full (uncached) forwards `logits(tokens, drop, offsets)` of the
  three rows, combined by hand.  Every forward reads the whole sequence (one shape, one
  compilation per row kind): causal attention makes position pos - 1's logits independent of
  the tokens after it."""
  cfg = module.config
  forced = np.asarray(delay_pattern.build(jnp.full((memory.shape[0], cfg.num_codebooks, f), -1),
                                          cfg.special_token))
  toks = forced.copy()
  n = f + cfg.num_codebooks - 1  # input positions
  rows = {"both": (None, offsets[:, :n]), "text": (video, None),
          "uncond": (jnp.ones_like(video), None)}
  for pos in range(1, n + 1):
    inputs = jnp.asarray(np.where(toks[:, :, :n] == -1, cfg.special_token, toks[:, :, :n]))
    lg = {name: logits(inputs, drop, off)[:, :, pos - 1] for name, (drop, off) in rows.items()}
    guided = lg["uncond"] + g_text * (lg["text"] - lg["uncond"]) + g_video * (
        lg["both"] - lg["text"])
    new = np.asarray(jnp.argmax(guided, -1))
    toks[:, :, pos] = np.where(forced[:, :, pos] == -1, new, forced[:, :, pos])
  return np.asarray(delay_pattern.undo(jnp.asarray(toks)))


def test_three_row_guidance_is_the_hand_combined_logits():
  """The sampler's guided greedy decoding (cached, 3 rows, 2 rows for equal weights, 1 row
  at 1 / 1) equals greedy decoding on hand-combined uncached logits."""
  cfg, module, params, memory, mask, video, offsets, f = _guidance_setup()
  sampler = Sampler(module.config, params)
  run = lambda gt, gv: np.asarray(sampler.sample(
      memory, mask, f, jax.random.key(0), top_k=1, guidance_scale=gt, guidance_video=gv,
      video_mask=video, input_offsets=offsets))
  logits = jax.jit(lambda t, drop, off: module.apply(
      params, t, memory, mask, drop_condition=drop, video_mask=video, input_offsets=off))
  results = {}
  for gt, gv in ((3.0, 1.5), (2.0, 2.0), (1.0, 1.0)):
    results[gt, gv] = run(gt, gv)  # 3 rows, 2 rows, the single conditional row
    ref = _greedy_by_hand(module, logits, memory, video, offsets, f, gt, gv)
    np.testing.assert_array_equal(results[gt, gv], ref)
  assert not np.array_equal(results[3.0, 1.5], results[1.0, 1.0])  # guidance matters here
  logits = jax.random.normal(jax.random.key(1), (6, 4, 8))
  np.testing.assert_allclose(guide(logits, 2, 3, jnp.array([1.0, 1.0])), logits[:2], atol=1e-5)


def test_a_blank_prompt_is_the_video_alone():
  """A row without a text token (blank prompt) reads the null memory in place of its text in
  every guidance row, so its guided logits are ordinary guidance on the video by g_video:
  the text weight no longer matters (3 rows, 2 rows and 1 row), while it does for a row
  with text."""
  cfg, module, params, memory, mask, video, offsets, f = _guidance_setup()
  mask = mask.at[1, :3].set(False)  # row 1: no text token
  sampler = Sampler(module.config, params)
  run = lambda gt, gv: np.asarray(sampler.sample(
      memory, mask, f, jax.random.key(0), top_k=1, guidance_scale=gt, guidance_video=gv,
      video_mask=video, input_offsets=offsets))
  a, b, c = run(3.0, 2.0), run(5.0, 2.0), run(2.0, 2.0)
  np.testing.assert_array_equal(a[1], b[1])
  np.testing.assert_array_equal(a[1], c[1])
  assert not np.array_equal(a[0], b[0])  # the row with text follows its text weight
  # the single conditional row, by hand: the blank text is the null memory
  drop = jnp.zeros_like(video).at[1, :3].set(True)
  ref = _greedy_by_hand(module, jax.jit(lambda t, d, off: module.apply(
      params, t, memory, mask, drop_condition=drop if d is None else d | drop,
      video_mask=video, input_offsets=off)), memory, video, offsets, f, 1.0, 1.0)
  np.testing.assert_array_equal(run(1.0, 1.0)[1], ref[1])


def test_a_blank_caption_trains_as_dropped_text(tiny_text):
  """In the model a blank caption is dropped text: whatever ids sit under its all-zero
  mask, the logits are the same and finite; a real caption gives others."""
  _, model, batch, params = tiny_text
  apply = jax.jit(lambda p, b: model.apply({"params": p}, b).logits)
  blank = dict(batch, text_mask=jnp.zeros_like(batch["text_mask"]))
  other = dict(blank, text_ids=(batch["text_ids"] + 7) % 200)
  out = apply(params, blank)
  assert bool(jnp.isfinite(out).all())
  np.testing.assert_array_equal(out, apply(params, other))
  assert float(jnp.abs(out - apply(params, batch)).max()) > 1e-4


def test_text_video_loss_trains_the_text_path(tiny_text):
  """The training loss (with condition dropout) is finite and reaches the video gates, the
  type embeddings and the text encoder."""
  config, model, batch, params = tiny_text

  def loss(p):
    out = model.apply({"params": p}, batch, deterministic=False,
                      rngs={"cond": jax.random.key(1), "dropout": jax.random.key(2)})
    return losses.vmas_loss(out, batch, config.loss)[0]

  value, grads = jax.jit(jax.value_and_grad(loss))(params)
  assert np.isfinite(float(value))
  assert all(bool(jnp.isfinite(g).all()) for g in jax.tree.leaves(grads))
  for path in (("decoder", "layers", "encoder_attn_gate"), ("type_embed",),
               ("text_conditioner", "text_encoder", "shared", "embedding")):
    g = grads
    for key in path:
      g = g[key]
    assert float(jnp.abs(g).max()) > 0, path


def test_caption_column_goes_through_prepare_into_the_batch(tmp_path):
  from vmas_jax.data import synthetic, tfds_builder
  from vmas_jax.data.pipeline import make_dataset
  from vmas_jax.build import text_tokenizer
  from vmas_jax.models.text.tokenizer import tokenize_fixed
  labels = synthetic.make_synthetic_videos(tmp_path / "v", 3, seconds=1.0, seed=0, size=32,
                                           fps=4.0)
  captions = ["a red square, fast", "", "ünïcode tags that run past the length"]
  rows = ["path,caption"] + [f"v/{Path(x['path']).name},\"{c}\"" for x, c in zip(labels, captions)]
  (tmp_path / "manifest.csv").write_text("\n".join(rows) + "\n")
  config = load_config("tiny", [
      "--config.data.clip_seconds=1.0", "--config.data.validation_fraction=0.0",
      "--config.data.beat_embeddings=False", "--config.data.global_batch_size=3",
      "--config.text.enabled=True", "--config.text.max_tokens=12"])
  tfds_builder.build_dataset(tmp_path / "manifest.csv", tmp_path / "data", config,
                             progress=False)
  ds = make_dataset(config, data_dir=tmp_path / "data", shuffle=False, repeat=False,
                    with_ids=True)
  batch = ds[0]
  assert batch["text_ids"].shape == batch["text_mask"].shape == (3, 12)
  want = dict(zip((Path(x["path"]).stem for x in labels), captions))
  got = [want[i.decode().split("-")[0]] for i in batch["id"]]
  ids, mask = tokenize_fixed(text_tokenizer(config.text), got, 12)
  np.testing.assert_array_equal(batch["text_ids"], ids)
  np.testing.assert_array_equal(batch["text_mask"], mask)
  # a blank caption is no text at all (the model reads it as dropped text)
  assert batch["text_mask"].sum(1).tolist() == [
      0 if not c else len(c.encode()) + 1 if len(c.encode()) < 12 else 12 for c in got]


def test_token_classifier_scores_red_tokens_above_blue_and_names_a_missing_colour():
  from vmas_jax.bench.text_video import TokenClassifier
  rng = np.random.default_rng(0)
  red = rng.integers(0, 4, (6, 2, 20))   # red clips use tokens 0-3, blue ones 4-7
  blue = rng.integers(4, 8, (6, 2, 20))
  clf = TokenClassifier({"red": red, "blue": blue}, vocab=8)
  llr = clf.llr(np.concatenate([red[:2], blue[:2]]))
  assert (llr[:2] > 0).all() and (llr[2:] < 0).all()
  with pytest.raises(ValueError, match="no training clip is captioned 'red'"):
    TokenClassifier({"blue": blue}, vocab=8).llr(blue)
