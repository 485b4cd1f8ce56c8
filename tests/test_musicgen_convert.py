"""MusicGen weight conversion: to_hf round trip, full-model dirs, audiocraft state dicts."""

import json

import jax
import numpy as np
import pytest

from vmas_jax import convert
from vmas_jax.convert import musicgen
from random_params import init_variables
from vmas_jax.models.music_decoder import DecoderConfig, MusicDecoder

CFG = DecoderConfig(num_layers=2, d_model=32, num_heads=4, ffn_dim=48, num_codebooks=4,
                    vocab_size=40, max_positions=64)


def _inputs(seed=0, b=2, s=7, m=3):
  rs = np.random.RandomState(seed)
  return (rs.randint(0, CFG.vocab_size + 1, (b, CFG.num_codebooks, s)),
          rs.randn(b, m, CFG.d_model).astype(np.float32))


def _hf_logits(model, tokens, memory):
  import torch
  b, k, s = tokens.shape
  with torch.no_grad():
    out = model(input_ids=torch.tensor(tokens).reshape(b * k, s),
                encoder_hidden_states=torch.tensor(memory)).logits
  return out.reshape(b, k, s, -1).numpy()


def test_to_hf_then_from_pretrained_gives_identical_logits(tmp_path):
  pytest.importorskip("torch")
  from transformers import MusicgenForCausalLM
  module = MusicDecoder(CFG)
  variables = init_variables(module, seed=0, norm_noise=0.2)
  convert.to_hf(module, variables, tmp_path)
  hf = MusicgenForCausalLM.from_pretrained(tmp_path).eval()
  tokens, memory = _inputs()
  ours = np.asarray(jax.jit(module.apply)(variables, tokens, memory))
  np.testing.assert_allclose(_hf_logits(hf, tokens, memory), ours, atol=1e-5)
  # and back again, bit-exact weights
  module2, variables2 = convert.from_hf(tmp_path)
  assert module2.config == CFG
  np.testing.assert_array_equal(variables2["params"]["null_memory"],
                                variables["params"]["null_memory"])
  for a, b in zip(jax.tree.leaves(variables["params"]["layers"]),
                  jax.tree.leaves(variables2["params"]["layers"])):
    np.testing.assert_array_equal(a, b)


def test_full_musicgen_dir_gives_its_decoder_with_a_zero_null_memory(tmp_path):
  torch = pytest.importorskip("torch")
  from transformers import (EncodecConfig, MusicgenConfig, MusicgenDecoderConfig,
                            MusicgenForConditionalGeneration, T5Config)
  torch.manual_seed(0)
  dec = MusicgenDecoderConfig(vocab_size=40, num_hidden_layers=2, hidden_size=32,
                              num_attention_heads=4, ffn_dim=48, num_codebooks=4,
                              pad_token_id=40, bos_token_id=40, dropout=0.0)
  t5 = T5Config(vocab_size=50, d_model=24, d_ff=32, num_layers=1, num_heads=2, d_kv=8)
  enc = EncodecConfig(codebook_size=64, num_filters=4, upsampling_ratios=[2, 2],
                      hidden_size=8, codebook_dim=8, num_lstm_layers=1)
  full = MusicgenForConditionalGeneration(MusicgenConfig(text_encoder=t5, audio_encoder=enc,
                                                         decoder=dec)).eval()
  full.save_pretrained(tmp_path)
  assert json.loads((tmp_path / "config.json").read_text())["model_type"] == "musicgen"
  module, variables = musicgen.decoder_from_hf(tmp_path)  # from_hf: the text-to-music model
  # our memory = HF encoder states after enc_to_dec_proj (T5 width 24 -> d_model 32)
  text_states = torch.randn(2, 3, 24)
  with torch.no_grad():
    memory = full.enc_to_dec_proj(text_states).numpy()
  tokens, _ = _inputs()
  ours = np.asarray(jax.jit(module.apply)(variables, tokens, memory))
  np.testing.assert_allclose(_hf_logits(full.decoder, tokens, memory), ours, atol=1e-5)
  # MusicGen's unconditional memory: zero states (HF zeroes masked states after projecting)
  assert not np.any(variables["params"]["null_memory"])


def _audiocraft_state_dict(sd: dict, cfg: DecoderConfig) -> dict:
  """Rename a HF MusicgenForCausalLM state dict into audiocraft LMModel names."""
  out = {}
  for k in range(cfg.num_codebooks):
    out[f"emb.{k}.weight"] = sd[f"model.decoder.embed_tokens.{k}.weight"]
    out[f"linears.{k}.weight"] = sd[f"lm_heads.{k}.weight"]
  out["out_norm.weight"] = sd["model.decoder.layer_norm.weight"]
  out["out_norm.bias"] = sd["model.decoder.layer_norm.bias"]
  names = {"norm1": "self_attn_layer_norm", "norm_cross": "encoder_attn_layer_norm",
           "norm2": "final_layer_norm"}
  for i in range(cfg.num_layers):
    a, h = f"transformer.layers.{i}.", f"model.decoder.layers.{i}."
    for ac, hf in (("self_attn", "self_attn"), ("cross_attention", "encoder_attn")):
      out[a + ac + ".in_proj_weight"] = np.concatenate(
          [sd[f"{h}{hf}.{p}_proj.weight"] for p in "qkv"], axis=0)
      out[a + ac + ".out_proj.weight"] = sd[f"{h}{hf}.out_proj.weight"]
    for ac, hf in names.items():
      out[a + ac + ".weight"], out[a + ac + ".bias"] = sd[h + hf + ".weight"], sd[h + hf + ".bias"]
    out[a + "linear1.weight"], out[a + "linear2.weight"] = sd[h + "fc1.weight"], sd[h + "fc2.weight"]
  out["condition_provider.conditioners.description.output_proj.weight"] = np.zeros((32, 8))
  return out


def test_audiocraft_state_dict_import_matches_hf(tmp_path):
  torch = pytest.importorskip("torch")
  from transformers import MusicgenDecoderConfig, MusicgenForCausalLM
  torch.manual_seed(1)
  hf = MusicgenForCausalLM(MusicgenDecoderConfig(
      vocab_size=40, num_hidden_layers=2, hidden_size=32, num_attention_heads=4, ffn_dim=48,
      num_codebooks=4, pad_token_id=40, bos_token_id=40, dropout=0.0)).eval()
  sd = {k: v.numpy() for k, v in hf.state_dict().items()}
  ac = _audiocraft_state_dict(sd, CFG)
  path = tmp_path / "lm.pt"
  torch.save({k: torch.tensor(v) for k, v in ac.items()}, path)
  module, variables = musicgen.import_audiocraft(path, CFG)
  tokens, memory = _inputs(seed=2)
  ours = np.asarray(jax.jit(module.apply)(variables, tokens, memory))
  np.testing.assert_allclose(_hf_logits(hf, tokens, memory), ours, atol=1e-5)
  del ac["transformer.layers.1.norm2.weight"]
  with pytest.raises(ValueError, match="transformer.layers.1.norm2.weight"):
    musicgen.import_audiocraft(ac, CFG)


def test_module_from_hf_config_and_missing_weights(tmp_path):
  cfg = musicgen.hf_config_dict(CFG)
  assert musicgen.module_from_hf_config(cfg).config == CFG
  module = MusicDecoder(CFG)
  convert.to_hf(module, init_variables(module, seed=0, norm_noise=0.2), tmp_path)
  from vmas_jax.convert import hf_io
  sd = hf_io.load_state_dict(tmp_path)
  del sd["lm_heads.3.weight"]
  hf_io.save_safetensors(sd, tmp_path)
  with pytest.raises(ValueError, match="lm_heads.3.weight"):
    convert.from_hf(tmp_path)
