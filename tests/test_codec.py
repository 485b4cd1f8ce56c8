"""The codec as the rest of the system uses it: `make_codec`, jit, bf16, config checks."""

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest

from vmas_jax.config_defaults import base_config
from vmas_jax.models.codec import EncodecConfig, make_codec, probe_signal


def _codec_cfg(**kw):
  c = base_config("tiny").codec
  c.update({"hf_path": "", "arch": "tiny", **kw})
  return c


def test_make_codec_random_tiny_codes_vary_and_round_trip():
  module, variables = make_codec(_codec_cfg())
  assert module.config == EncodecConfig.tiny()
  wav = jnp.asarray(probe_signal(32000, seconds=1.0)[:, 1000:1000 + 20_000])
  encode = jax.jit(lambda v, w: module.apply(v, w, method="encode"))
  decode = jax.jit(lambda v, c: module.apply(v, c, method="decode"))
  codes = encode(variables, wav)
  assert codes.shape == (1, 4, 32) and codes.dtype == jnp.int32
  assert int(codes.min()) >= 0 and int(codes.max()) < 2048
  # Random codebooks must not be degenerate: most frames get distinct codes in every stage.
  assert all(len(np.unique(np.asarray(codes[0, k]))) >= 16 for k in range(4))
  audio = decode(variables, codes)
  assert audio.shape == (1, 32 * 640) and audio.dtype == jnp.float32
  assert np.isfinite(np.asarray(audio)).all() and float(jnp.abs(audio).max()) > 0
  # Same seed -> same weights; another seed -> different weights.
  _, again = make_codec(_codec_cfg())
  _, other = make_codec(_codec_cfg(init_seed=1))
  enc_kernel = lambda v: np.asarray(v["params"]["encoder"]["conv_in"]["kernel"])
  np.testing.assert_array_equal(enc_kernel(again), enc_kernel(variables))
  assert not np.allclose(enc_kernel(other), enc_kernel(variables))

  # bf16 compute: same parameters, audio from the same codes close to fp32.
  module16 = module.clone(dtype=jnp.bfloat16)
  audio16 = jax.jit(lambda v, c: module16.apply(v, c, method="decode"))(variables, codes)
  codes16 = jax.jit(lambda v, w: module16.apply(v, w, method="encode"))(variables, wav)
  assert audio16.dtype == jnp.float32 and codes16.shape == codes.shape
  scale = float(jnp.abs(audio).max())
  assert float(jnp.abs(audio16 - audio).max()) < 0.1 * scale
  assert float((codes16[:, 0] == codes[:, 0]).mean()) > 0.5  # first stage mostly agrees


def test_make_codec_rejects_mismatched_config():
  with pytest.raises(ValueError, match="codec.num_codebooks=8"):
    make_codec(_codec_cfg(num_codebooks=8))
  with pytest.raises(ValueError, match="codec.arch='huge'"):
    make_codec(_codec_cfg(arch="huge"))
  with pytest.raises(FileNotFoundError, match="no such model directory"):
    make_codec(_codec_cfg(hf_path="/nonexistent/encodec"))


def test_from_hf_config_rejects_unsupported():
  with pytest.raises(ValueError, match="normalize"):
    EncodecConfig.from_hf_config({"model_type": "encodec", "normalize": True,
                                  "chunk_length_s": 1.0, "audio_channels": 2})


def test_hf_config_round_trip():
  for cfg in (EncodecConfig.tiny(), EncodecConfig.encodec_32khz()):
    assert EncodecConfig.from_hf_config(cfg.to_hf_config()) == cfg
  assert EncodecConfig.encodec_32khz().frame_rate == 50
  assert EncodecConfig.encodec_32khz().hop_length == 640


def test_bench_codec_runs(capsys):
  from vmas_jax.cli import main
  assert main(["bench", "codec", "--arch", "tiny", "--seconds", "0.5", "--repeats", "1"]) == 0
  out = capsys.readouterr().out
  assert "codes (1, 4, 25)" in out and "x real time" in out
