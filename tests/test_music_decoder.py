"""MusicDecoder: HF parity, cached decoding, scan/remat/condition options."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from vmas_jax.config_defaults import base_config
from random_params import init_variables
from vmas_jax.models.music_decoder import (DecoderConfig, MusicDecoder, empty_cache, stack_layers,
                                           unstack_layers)

TINY = DecoderConfig(num_layers=2, d_model=32, num_heads=4, ffn_dim=48, num_codebooks=4,
                     vocab_size=40, max_positions=64)


def _hf_parity(tmp_path, hf_kwargs, b, s, m, seed):
  torch = pytest.importorskip("torch")
  from transformers import MusicgenDecoderConfig, MusicgenForCausalLM
  from vmas_jax.convert import from_hf
  torch.manual_seed(seed)
  v = hf_kwargs["vocab_size"]
  hf = MusicgenForCausalLM(MusicgenDecoderConfig(dropout=0.0, pad_token_id=v, bos_token_id=v,
                                                  **hf_kwargs)).eval()
  with torch.no_grad():  # HF inits norms to exactly 1/0; randomize so their mapping is tested
    for mod in hf.modules():
      if isinstance(mod, torch.nn.LayerNorm):
        mod.weight.normal_(1.0, 0.2)
        mod.bias.normal_(0.0, 0.2)
  hf.save_pretrained(tmp_path)
  module, variables = from_hf(tmp_path)
  k, d = hf_kwargs["num_codebooks"], hf_kwargs["hidden_size"]
  rs = np.random.RandomState(seed)
  tokens = rs.randint(0, v + 1, (b, k, s))
  memory = rs.randn(b, m, d).astype(np.float32)
  mask = np.ones((b, m), bool)
  mask[-1, m // 2:] = False
  with torch.no_grad():
    ref = hf(input_ids=torch.tensor(tokens).reshape(b * k, s),
             encoder_hidden_states=torch.tensor(memory),
             encoder_attention_mask=torch.tensor(mask.astype(np.int64))).logits
  ref = ref.reshape(b, k, s, v).numpy()
  del hf
  out = jax.jit(module.apply)(variables, tokens, memory, mask)
  assert out.shape == (b, k, s, v) and out.dtype == jnp.float32
  return float(np.abs(np.asarray(out) - ref).max())


def test_hf_parity_tiny(tmp_path):
  err = _hf_parity(tmp_path, dict(vocab_size=40, num_hidden_layers=2, hidden_size=32,
                                  num_attention_heads=4, ffn_dim=48, num_codebooks=4), 2, 9, 5, 0)
  print("tiny parity max abs err", err)
  assert err <= 1e-4, err


def test_hf_parity_musicgen_small_layer_sizes(tmp_path):
  # musicgen-small's layers (width 1024, 16 heads, FFN 4096, 2048-entry codebooks); two of its
  # 24: the layers repeat, and the tiny test above covers the stacking
  err = _hf_parity(tmp_path, dict(vocab_size=2048, num_hidden_layers=2, hidden_size=1024,
                                  num_attention_heads=16, ffn_dim=4096, num_codebooks=4),
                   1, 8, 4, 1)
  print("musicgen-small layer parity max abs err", err)
  assert err <= 1e-4, err


@pytest.fixture(scope="module")
def tiny_vars():
  return init_variables(MusicDecoder(TINY), seed=0, norm_noise=0.2)


def _inputs(cfg, b=2, s=11, m=5, seed=0):
  rs = np.random.RandomState(seed)
  tokens = jnp.asarray(rs.randint(0, cfg.vocab_size + 1, (b, cfg.num_codebooks, s)))
  memory = jnp.asarray(rs.randn(b, m, cfg.d_model).astype(np.float32))
  mask = jnp.asarray(rs.rand(b, m) > 0.3).at[:, 0].set(True)
  return tokens, memory, mask


def test_cached_step_by_step_equals_full_forward(tiny_vars):
  module, variables = MusicDecoder(TINY), tiny_vars
  tokens, memory, mask = _inputs(TINY)
  offsets = jax.random.normal(jax.random.key(3), (2, 11, TINY.d_model))
  full = jax.jit(module.apply)(variables, tokens, memory, mask, input_offsets=offsets)
  cache = empty_cache(TINY, 2, 16, mask)
  with pytest.raises(ValueError, match="unrolled"):  # decoding runs the unrolled layers
    module.apply(variables, tokens[:, :, :3], cache, 0, memory, method=module.decode)
  unrolled = MusicDecoder(dataclasses.replace(TINY, scan_layers=False))
  params_u = {"params": unstack_layers(variables["params"])}
  decode = jax.jit(lambda c, t, i, o, mem: unrolled.apply(params_u, t, c, i, mem, input_offsets=o,
                                                          method=unrolled.decode))
  # prefill 3 positions (computes cross K/V), then one position at a time
  out, cache = decode(cache, tokens[:, :, :3], 0, offsets[:, :3], memory)
  steps = [out]
  for i in range(3, 11):
    out, cache = decode(cache, tokens[:, :, i:i + 1], i, offsets[:, i:i + 1], None)
    steps.append(out)
  np.testing.assert_allclose(jnp.concatenate(steps, axis=2), full, atol=1e-5)


def test_scan_and_unrolled_layers_agree(tiny_vars):
  scanned = MusicDecoder(TINY)
  unrolled = MusicDecoder(dataclasses.replace(TINY, scan_layers=False))
  variables = tiny_vars
  params_u = unstack_layers(variables["params"])
  assert "layers_1" in params_u and "layers" not in params_u
  tokens, memory, mask = _inputs(TINY)
  a = jax.jit(scanned.apply)(variables, tokens, memory, mask)
  b = jax.jit(unrolled.apply)({"params": params_u}, tokens, memory, mask)
  np.testing.assert_allclose(a, b, atol=1e-5)
  back = stack_layers(params_u, TINY.num_layers)
  jax.tree.map(np.testing.assert_array_equal, back, jax.tree.map(np.asarray, variables["params"]))


def test_remat_policies_keep_values_and_grads(tiny_vars):
  tokens, memory, mask = _inputs(TINY, s=6)
  mods = [MusicDecoder(dataclasses.replace(TINY, remat_policy=p))
          for p in ("none", "full", "dots_saveable", "dots_no_batch", "names")]

  @jax.jit
  def grads(params):
    return [jax.grad(lambda p: (m.apply({"params": p}, tokens, memory, mask) ** 2).mean())(params)
            for m in mods]

  g0, *rest = grads(tiny_vars["params"])
  for g in rest:
    jax.tree.map(lambda x, y: np.testing.assert_allclose(x, y, atol=1e-6, rtol=1e-4), g0, g)
  assert float(np.abs(g0["layers"]["mlp"]["fc1"]["kernel"]).max()) > 0


def test_drop_condition_uses_null_memory_and_hidden_is_returned(tiny_vars):
  module, variables = MusicDecoder(TINY), tiny_vars
  tokens, memory, mask = _inputs(TINY)
  apply = jax.jit(module.apply, static_argnames="return_hidden")
  drop = jnp.array([False, True])
  logits, hidden = apply(variables, tokens, memory, mask, drop_condition=drop,
                         return_hidden=True)
  assert hidden.shape == (2, 11, TINY.d_model)
  null = jnp.broadcast_to(variables["params"]["null_memory"], memory.shape)
  plain = apply(variables, tokens, memory, mask)
  np.testing.assert_allclose(logits[1], apply(variables, tokens, null, mask | True)[1], atol=1e-5)
  np.testing.assert_allclose(logits[0], plain[0], atol=1e-5)
  assert not np.allclose(logits[1], plain[1], atol=1e-3)


def test_bf16_compute_keeps_fp32_params_and_logits():
  cfg = DecoderConfig.from_config(base_config("tiny").decoder, dtype="bfloat16", max_positions=64)
  assert cfg.num_layers == 2 and cfg.scan_layers
  module = MusicDecoder(cfg)
  variables = init_variables(module, seed=5)
  assert all(x.dtype == jnp.float32 for x in jax.tree.leaves(variables))
  tokens, memory, mask = _inputs(cfg)
  out = jax.jit(module.apply)(variables, tokens, memory, mask)
  ref = jax.jit(MusicDecoder(dataclasses.replace(cfg, dtype="float32")).apply)(
      variables, tokens, memory, mask)
  assert out.dtype == jnp.float32
  np.testing.assert_allclose(out, ref, atol=0.1)


def test_params_carry_logical_axis_names():
  module = MusicDecoder(TINY)
  tokens, memory, _ = _inputs(TINY)
  boxed = jax.eval_shape(module.init, jax.random.key(0), tokens, memory)
  import flax.linen as nn
  specs = nn.get_partition_spec(boxed)["params"]
  assert tuple(specs["embed"]) == ("codebooks", "vocab", "embed")
  assert tuple(specs["layers"]["self_attn"]["q_proj"]["kernel"]) == ("layers", "embed", "heads", "kv")
  assert tuple(specs["layers"]["mlp"]["fc1"]["kernel"]) == ("layers", "embed", "mlp")


def test_shape_errors_are_clear(tiny_vars):
  tokens, memory, _ = _inputs(TINY)
  with pytest.raises(ValueError, match="tokens must be"):
    MusicDecoder(TINY).apply(tiny_vars, tokens[:, :3], memory)
  with pytest.raises(ValueError, match="memory must be"):
    MusicDecoder(TINY).apply(tiny_vars, tokens, memory[..., :7])


def test_config_errors_are_clear():
  with pytest.raises(ValueError, match="divisible"):
    DecoderConfig(d_model=30, num_heads=4)
  with pytest.raises(ValueError, match="remat_policy"):
    DecoderConfig(remat_policy="some")
