"""The codec as the rest of the system uses it: `make_codec`, jit, bf16, config checks."""

import jax.numpy as jnp
import numpy as np
import pytest

from vmas_jax.config_defaults import base_config
from vmas_jax.build import make_codec
from vmas_jax.models.codec import EncodecConfig, jitted_codec
from vmas_jax.models.codec_init import probe_signal


def _codec_cfg(**kw):
  c = base_config("tiny").codec
  c.update({"hf_path": "", "arch": "tiny", **kw})
  return c


def test_make_codec_random_tiny_codes_vary_and_round_trip():
  module, variables = make_codec(_codec_cfg())
  assert module.config == EncodecConfig.tiny()
  # [2, 3001]: the shapes of the tiny parity test, so the jitted functions are shared.
  wav = jnp.asarray(probe_signal(32000, seconds=1.0)[0, 1000:7002].reshape(2, 3001))
  encode, decode = jitted_codec(module.config, module.dtype)
  codes = encode(variables, wav)
  assert codes.shape == (2, 4, 5) and codes.dtype == jnp.int32
  assert int(codes.min()) >= 0 and int(codes.max()) < 2048
  # Random codebooks must not be degenerate: most of the 10 frames get distinct codes.
  assert all(len(np.unique(np.asarray(codes[:, k]))) >= 6 for k in range(4))
  audio = decode(variables, codes)
  assert audio.shape == (2, 5 * 640) and audio.dtype == jnp.float32
  assert np.isfinite(np.asarray(audio)).all() and float(jnp.abs(audio).max()) > 0
  # Same seed -> same weights; another seed -> different weights.
  _, again = make_codec(_codec_cfg())
  _, other = make_codec(_codec_cfg(init_seed=1))
  enc_kernel = lambda v: np.asarray(v["params"]["encoder"]["conv_in"]["kernel"])
  np.testing.assert_array_equal(enc_kernel(again), enc_kernel(variables))
  assert not np.allclose(enc_kernel(other), enc_kernel(variables))

  # bf16 compute (make_codec's dtype): same parameters, close to fp32.
  module16, _ = make_codec(_codec_cfg(dtype="bfloat16"))
  assert module16.dtype == jnp.bfloat16
  encode16, decode16 = jitted_codec(module16.config, module16.dtype)
  audio16, codes16 = decode16(variables, codes), encode16(variables, wav)
  assert audio16.dtype == jnp.float32 and codes16.shape == codes.shape
  scale = float(jnp.abs(audio).max())
  assert float(jnp.abs(audio16 - audio).max()) < 0.1 * scale
  assert float((codes16[:, 0] == codes[:, 0]).mean()) >= 0.5  # first stage mostly agrees


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
  # 2 x 3001 samples: the tiny parity test's shapes, whose compilations it reuses.
  argv = ["bench", "codec", "--arch", "tiny", "--seconds", str(3001 / 32000), "--batch", "2",
          "--repeats", "1"]
  assert main(argv) == 0
  out = capsys.readouterr().out
  assert "codes (2, 4, 5)" in out and "x real time" in out
