"""The lapped-transform start of codec training (`vmas_jax.train.codec_lapped_init`): SEANet
weights written by hand compute the windowed PCA transform and its overlap-add inverse, the
k-means codebooks quantise it, and `vmas codec train` with `init.kind=lapped` fits, saves and
exports it (loaded by `transformers.EncodecModel` with the same codes: no 0/0 in the weight
norm of its many zero kernels)."""

import json

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from vmas_jax import cli
from vmas_jax.models.codec import EncodecConfig, EncodecModel, jitted_codec
from vmas_jax.train import codec_lapped_init as lapped

# 8 kHz, hop 32: encoder strides 4, 4, 2 need 4 and 16 polyphase channels (have 16 and 32)
SMALL = EncodecConfig(sample_rate=8000, num_filters=8, hidden_size=64, upsampling_ratios=(2, 4, 4),
                      num_residual_layers=1, num_lstm_layers=1, kernel_size=3, last_kernel_size=3,
                      codebook_size=64, num_quantizers=2, num_codebooks=2)


def _params(config, basis):
  module = EncodecModel(config)
  shapes = jax.eval_shape(lambda: nn.meta.unbox(
      module.init(jax.random.PRNGKey(0), jnp.zeros((1, config.hop_length)))))["params"]
  return module, lapped.lapped_seanet_params(
      config, basis, {k: v for k, v in shapes.items() if k != "codebooks"})


def _music(seconds, sr, seed=0):
  rng = np.random.default_rng(seed)
  t = np.arange(int(seconds * sr)) / sr
  wav = 0.3 * np.sin(2 * np.pi * 330 * t) * (t % 0.4 < 0.25) + 0.05 * rng.standard_normal(t.size)
  return wav.astype(np.float32)


def test_complete_basis_round_trip_is_the_identity_and_latents_are_the_transform():
  hop = SMALL.hop_length
  wav = _music(1.0, SMALL.sample_rate)
  frames = lapped.windowed_frames(wav, hop)
  basis = lapped.lapped_pca_basis(frames, 2 * hop)  # complete: perfect reconstruction
  np.testing.assert_allclose(basis.T @ basis, np.eye(2 * hop), atol=1e-9)
  module, params = _params(SMALL, basis)
  v = {"params": {**jax.tree.map(jnp.asarray, params),
                  "codebooks": jnp.zeros((2, 64, SMALL.hidden_size))}}
  z = np.asarray(module.apply(v, jnp.asarray(wav)[None, :, None],
                              method=lambda m, x: m.encoder(x)))[0]
  want = frames @ basis
  inner = slice(2, len(z) - 2)  # the edge frames read the convs' reflect padding
  assert z.shape == want.shape == (len(wav) // hop, 2 * hop)
  np.testing.assert_allclose(z[inner], want[inner], atol=2e-3 * np.abs(want).max())
  out = np.asarray(module.apply(v, jnp.asarray(z)[None], method=lambda m, x: m.decoder(x)))
  mid = slice(4 * hop, len(wav) - 4 * hop)
  np.testing.assert_allclose(out[0, mid, 0], wav[mid], atol=2e-3)


def test_kmeans_codebooks_quantise_better_than_a_random_pick():
  rng = np.random.default_rng(0)
  centres = rng.standard_normal((16, 8))
  x = (centres[rng.integers(0, 16, 4000)] + 0.05 * rng.standard_normal((4000, 8))).astype(
      np.float32)
  books = lapped.kmeans_rvq(x, 2, 16, np.random.default_rng(1))
  assert books.shape == (2, 16, 8)
  residual = x - books[0][lapped.nearest(x, books[0])]
  assert np.mean(residual ** 2) < 0.01  # the 16 clusters found (a random pick misses some)
  residual2 = residual - books[1][lapped.nearest(residual, books[1])]
  assert np.mean(residual2 ** 2) < np.mean(residual ** 2)


def test_architecture_check_names_the_field():
  narrow = EncodecConfig(**{**SMALL.__dict__, "num_filters": 1})
  with pytest.raises(ValueError, match="num_filters"):
    lapped.check_lapped_architecture(narrow, 8)
  with pytest.raises(ValueError, match="hidden_size"):
    lapped.check_lapped_architecture(SMALL, 65)


@pytest.mark.long
@pytest.mark.parametrize("kind,dims,steps", [("lapped", 48, 2), ("gainshape", 32, 0)])
def test_codec_train_with_fitted_init_fits_saves_trains_and_exports(tmp_path, kind, dims,
                                                                    steps):
  """`vmas codec train` fits the lapped (or gain-shape: `codec_gainshape_init`) codec, saves
  it as step 0 and takes `steps` finite training steps from it; the export of step 0 loads
  in transformers' EncodecModel with our codes and audio (the gain-shape codec's rectifying
  weights are ~1e10: parity holds through the weight norm)."""
  torch = pytest.importorskip("torch")
  transformers = pytest.importorskip("transformers")
  from vmas_jax.train import load_checkpoint
  work, out = tmp_path / "run", tmp_path / "hf"
  assert cli.main([
      "codec", "train", "--config", "codec_tiny", "--workdir", str(work),
      f"--config.total_steps={steps}", f"--config.init.kind={kind}", f"--config.init.dims={dims}",
      "--config.init.batches=3", "--config.init.kmeans_iters=3", "--config.codec.num_filters=10",
      "--config.codec.hidden_size=48", "--config.codec.kernel_size=3",
      "--config.codec.last_kernel_size=3", "--config.checkpoint_every=1",
      "--config.keep_checkpoints=3"]) == 0
  fitted = load_checkpoint(work, 0)
  assert int(fitted["step"]) == 0
  # every fitted entry starts alive, so none was replaced by a random frame
  np.testing.assert_array_less(0, np.asarray(fitted["vq"]["count"]))
  if steps:
    assert int(load_checkpoint(work, steps)["step"]) == steps
    rows = [json.loads(l) for l in (work / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == list(range(1, steps + 1))
    assert all(np.isfinite(r["loss"]) for r in rows)
    assert all(r["vq0_replaced"] == 0 for r in rows)

  assert cli.main(["codec", "export", "--workdir", str(work), "--out", str(out),
                   "--step", "0"]) == 0
  from vmas_jax.convert import from_hf
  module, variables = from_hf(out)
  sr = module.config.sample_rate
  t = np.arange(sr) / sr
  wav = (0.4 * np.sin(2 * np.pi * 440 * t) * (t % 0.3 < 0.2)).astype(np.float32)[None]
  encode, decode = jitted_codec(module.config)
  codes = np.asarray(encode(variables, jnp.asarray(wav)))
  audio = np.asarray(decode(variables, codes))[0]
  assert np.isfinite(audio).all() and len(np.unique(codes[0, 0])) > 3
  ref = transformers.EncodecModel.from_pretrained(out).eval()
  with torch.no_grad():
    ref_codes = ref.encode(torch.from_numpy(wav)[:, None]).audio_codes[0].numpy()
    ref_audio = ref.decode(torch.from_numpy(codes.copy())[None].long(), [None]).audio_values[0, 0]
  assert (ref_codes == codes).mean() > 0.99
  np.testing.assert_allclose(ref_audio.numpy(), audio, atol=1e-4)
