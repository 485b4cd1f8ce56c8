"""EnCodec parity against HF `EncodecModel` on random weights, imported with `from_hf`.

The random codebooks are drawn around the random encoder's own latents of a probe signal
(`codebooks_from_latents`): codebooks drawn around zero would all pick one entry."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from vmas_jax.convert import from_hf  # noqa: E402
from vmas_jax.convert.encodec import import_audiocraft  # noqa: E402
from vmas_jax.models.codec import EncodecConfig, jitted_codec  # noqa: E402
from vmas_jax.models.codec_init import codebooks_from_latents, probe_signal  # noqa: E402

pytestmark = pytest.mark.usefixtures("torch_one_thread")


def _hf_model(tmp_path, cfg: EncodecConfig, seed=0):
  """A random HF EncodecModel of `cfg`'s architecture, saved with `save_pretrained`."""
  torch.manual_seed(seed)
  hf_cfg = transformers.EncodecConfig(**{k: v for k, v in cfg.to_hf_config().items()
                                         if k not in ("model_type", "architectures")})
  model = transformers.EncodecModel(hf_cfg).eval()
  probe = torch.from_numpy(probe_signal(cfg.sample_rate, seconds=1.0))[:, None]
  with torch.no_grad():
    z = model.encoder(probe)[0].T.numpy()  # [F, D]
    books = codebooks_from_latents(z, cfg.num_quantizers, cfg.codebook_size,
                                   np.random.default_rng(seed))
    for layer, book in zip(model.quantizer.layers, books):
      layer.codebook.embed.copy_(torch.from_numpy(book))
  model.save_pretrained(tmp_path)
  return model


def _hf_encode_decode(model, wav):
  with torch.no_grad():
    codes = model.encode(torch.from_numpy(wav)[:, None]).audio_codes[0]
    audio = model.decode(codes[None], [None]).audio_values[:, 0]
  return codes.numpy(), audio.numpy()


def _check(module, variables, model, wav):
  """Codes from both, and both decoders on the SAME (HF) codes."""
  hf_codes, hf_audio = _hf_encode_decode(model, wav)
  encode, decode = jitted_codec(module.config, module.dtype)
  codes = np.asarray(encode(variables, wav))
  audio = np.asarray(decode(variables, jnp.asarray(hf_codes, jnp.int32)))
  assert codes.shape == hf_codes.shape and codes.dtype == np.int32
  assert audio.shape == hf_audio.shape
  match = float((codes == hf_codes).mean())
  err = float(np.abs(audio - hf_audio).max())
  peak = float(np.abs(hf_audio).max())
  print(f"  reference audio peak {peak:.3f}, std {hf_audio.std():.3f}")
  assert peak > 1e-2 and hf_audio.std() > 1e-3  # a real signal, not a trivial comparison
  return match, err, hf_codes


# 1 sample is shorter than every reflect pad (the zero-extension rule); 641 and 3001 are not
# multiples of the hop.  The causal variant (HF's default, e.g. encodec_24khz) pads left only.
@pytest.mark.parametrize("causal,lengths", [(False, (1, 641, 3001)), (True, (3001,))])
def test_tiny_parity_and_output_lengths(tmp_path, causal, lengths):
  cfg = EncodecConfig.tiny()
  cfg = EncodecConfig(**{**cfg.__dict__, "use_causal_conv": causal})
  model = _hf_model(tmp_path, cfg)
  module, variables = from_hf(tmp_path)
  assert module.config == cfg
  rng = np.random.default_rng(1)
  for length in lengths:
    wav = (0.3 * rng.standard_normal((2, length))).astype(np.float32)
    match, err, hf_codes = _check(module, variables, model, wav)
    assert hf_codes.shape == (2, 4, -(-length // 640))
    print(f"tiny causal={causal} T={length}: codes {100 * match:.3f}% identical, "
          f"decode max abs err {err:.2e}")
    assert match >= 0.999, (length, match)
    assert err <= 1e-4, (length, err)
  assert all(len(np.unique(hf_codes[:, k])) > 2 for k in range(4)), "degenerate codes"


def test_encodec_32khz_parity(tmp_path):
  cfg = EncodecConfig.encodec_32khz()
  model = _hf_model(tmp_path, cfg)
  module, variables = from_hf(tmp_path)
  assert module.config == cfg and module.config.frame_rate == 50
  t = np.arange(41_601) / 32000  # 1.3 s, not a multiple of the hop
  wav = (0.4 * np.sin(2 * np.pi * 330 * t) + 0.05 * np.random.default_rng(2).standard_normal(
      t.shape)).astype(np.float32)[None]
  match, err, hf_codes = _check(module, variables, model, wav)
  print(f"encodec_32khz parity: codes {100 * match:.3f}% identical, decode max abs err {err:.2e}")
  assert hf_codes.shape == (1, 4, 66)
  assert match >= 0.999
  assert err <= 1e-4
  assert all(len(np.unique(hf_codes[:, k])) > 5 for k in range(4)), "degenerate codes"


def test_audiocraft_names_import(tmp_path):
  """An audiocraft-named state dict (renamed from HF with the table below) imports to the same
  params as the HF directory."""
  cfg = EncodecConfig.tiny()
  model = _hf_model(tmp_path, cfg)
  _, hf_vars = from_hf(tmp_path)
  # HF name fragment -> audiocraft name fragment (audiocraft's StreamableConv1d wraps
  # NormConv1d wraps nn.Conv1d, hence `.conv.conv`; transposed convs are `.convtr.convtr`;
  # older weight_norm stores weight_g / weight_v).
  transposed = {"decoder.layers.3.", "decoder.layers.6.", "decoder.layers.9.",
                "decoder.layers.12."}
  renamed = {}
  for name, value in model.state_dict().items():
    new = name.replace("parametrizations.weight.original0", "weight_g")
    new = new.replace("parametrizations.weight.original1", "weight_v")
    if any(new.startswith(p) for p in transposed):
      new = new.replace(".conv.", ".convtr.convtr.")
    elif ".lstm." not in new and new.startswith(("encoder.", "decoder.")):
      new = new.replace(".conv.", ".conv.conv.")
    new = new.replace("encoder.layers.", "encoder.model.").replace("decoder.layers.",
                                                                    "decoder.model.")
    new = new.replace("quantizer.layers.", "quantizer.vq.layers.").replace(".codebook.",
                                                                            "._codebook.")
    renamed[new] = value
  assert "encoder.model.0.conv.conv.weight_g" in renamed
  assert "quantizer.vq.layers.0._codebook.embed" in renamed
  assert "decoder.model.3.convtr.convtr.weight_v" in renamed
  path = tmp_path / "compression_state_dict.bin"
  torch.save({"best_state": renamed}, path)
  for source in (renamed, path):
    module, variables = import_audiocraft(source, cfg)
    assert module.config == cfg
    jax.tree.map(lambda a, b: np.testing.assert_array_equal(np.asarray(a), np.asarray(b)),
                 variables, hf_vars)
  broken = dict(renamed)
  del broken["encoder.model.0.conv.conv.bias"]
  with pytest.raises(ValueError, match="encoder.layers.0.conv.bias"):
    import_audiocraft(broken, cfg)


def test_output_lengths_follow_reference(tmp_path):
  """Shapes only (traced, not compiled) for many lengths around the strides' multiples."""
  cfg = EncodecConfig.tiny()
  model = _hf_model(tmp_path, cfg)
  module, variables = from_hf(tmp_path)
  for length in (2, 7, 9, 33, 161, 639, 640, 1281, 5000):
    with torch.no_grad():
      hf_latent = model.encoder(torch.zeros(1, 1, length))
      hf_audio = model.decoder(hf_latent)
    codes = jax.eval_shape(lambda v, w: module.apply(v, w, method="encode"), variables,
                           jax.ShapeDtypeStruct((1, length), jnp.float32))
    audio = jax.eval_shape(lambda v, c: module.apply(v, c, method="decode"), variables, codes)
    assert codes.shape == (1, 4, hf_latent.shape[2]), length
    assert audio.shape == (1, hf_audio.shape[2]), length
