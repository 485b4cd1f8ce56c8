"""Sampler: HF generate equality (greedy, with and without CFG), determinism, prompts."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from vmas_jax import sample
from vmas_jax.models import delay_pattern

V, K, D = 32, 4, 16


@pytest.fixture(scope="module")
def hf_and_ours(tmp_path_factory):
  torch = pytest.importorskip("torch")
  from transformers import MusicgenDecoderConfig, MusicgenForCausalLM
  from vmas_jax.convert import from_hf
  torch.manual_seed(0)
  torch.set_num_threads(1)  # tiny model: extra threads only add contention on a shared CPU
  cfg = MusicgenDecoderConfig(vocab_size=V, max_position_embeddings=128, num_hidden_layers=2,
                              ffn_dim=48, num_attention_heads=4, hidden_size=D, num_codebooks=K,
                              dropout=0.0, pad_token_id=V, bos_token_id=V,
                              decoder_start_token_id=V)
  hf = MusicgenForCausalLM(cfg).eval()
  path = tmp_path_factory.mktemp("hf_tiny")
  hf.save_pretrained(path)
  module, variables = from_hf(path)
  variables["params"]["null_memory"] = np.random.RandomState(5).randn(D).astype(np.float32)
  return hf, module, variables


def _hf_generate(hf, memory, null, num_frames, guidance):
  """HF greedy generate; returns codes [B, K, F] (delay already undone by HF)."""
  import torch
  from vmas_jax.convert.hf_generate import empty_cache_kwargs
  b = memory.shape[0]
  ehs = memory if guidance <= 1 else np.concatenate([memory, np.broadcast_to(null, memory.shape)])
  ids = np.full((b, K, 1), V)
  with torch.no_grad():
    # transformers 5.x: without an attention mask generate masks the BOS (pad id == bos id).
    out = hf.generate(input_ids=torch.tensor(ids.reshape(b * K, -1)),
                      attention_mask=torch.ones((b * K, ids.shape[-1]), dtype=torch.long),
                      **empty_cache_kwargs(hf),
                      encoder_hidden_states=torch.tensor(ehs), do_sample=False,
                      max_length=num_frames + K, guidance_scale=guidance,
                      num_return_sequences=1)
  return out.numpy()


@pytest.mark.parametrize("guidance", [1.0, 3.0])
def test_greedy_equals_hf_generate(hf_and_ours, guidance):
  hf, module, variables = hf_and_ours
  sampler = sample.Sampler(module.config, variables)
  memory = np.random.RandomState(1).randn(2, 5, D).astype(np.float32)
  ref = _hf_generate(hf, memory, variables["params"]["null_memory"], 52, guidance)
  ours = sampler.sample(memory, None, 52, jax.random.key(0), top_k=1,
                         guidance_scale=guidance)
  assert ours.shape == (2, K, 52) and ours.dtype == jnp.int32
  np.testing.assert_array_equal(np.asarray(ours), ref)


def _hf_greedy_by_full_forwards(hf, memory, prompt, num_frames):
  """Greedy decoding with one uncached HF forward per position (reference for prompts:
  transformers 5.x `generate` drops all but the last prompt token once a cache exists)."""
  import torch
  b, p = memory.shape[0], prompt.shape[-1]
  codes = np.full((b, K, num_frames), -1)
  codes[:, :, :p] = prompt
  forced = np.asarray(delay_pattern.build(codes, V))
  tokens = forced[:, :, :p + 1].copy()
  for j in range(p + 1, num_frames + K):
    with torch.no_grad():
      logits = hf(input_ids=torch.tensor(tokens.reshape(b * K, -1)),
                  encoder_hidden_states=torch.tensor(memory)).logits
    nxt = logits.reshape(b, K, j, V)[:, :, -1].argmax(-1).numpy()
    nxt = np.where(forced[:, :, j] == -1, nxt, forced[:, :, j])
    tokens = np.concatenate([tokens, nxt[..., None]], axis=2)
  return np.asarray(delay_pattern.undo(tokens))


def test_prompt_continuation_equals_hf_greedy(hf_and_ours):
  hf, module, variables = hf_and_ours
  sampler = sample.Sampler(module.config, variables)
  memory = np.random.RandomState(2).randn(2, 5, D).astype(np.float32)
  prompt = np.random.RandomState(3).randint(0, V, (2, K, 7))
  ref = _hf_greedy_by_full_forwards(hf, memory, prompt, 20)
  ours = sampler.sample(memory, None, 20, jax.random.key(0), top_k=1,
                         prompt_codes=prompt)
  np.testing.assert_array_equal(np.asarray(ours)[:, :, :7], prompt)
  np.testing.assert_array_equal(np.asarray(ours), ref)


def test_sampling_is_deterministic_per_seed_and_self_consistent(hf_and_ours):
  _, module, variables = hf_and_ours
  sampler = sample.Sampler(module.config, variables)
  rs = np.random.RandomState(4)
  memory = rs.randn(3, 5, D).astype(np.float32)
  mask = np.ones((3, 5), bool)
  mask[2, 3:] = False
  offsets = rs.randn(3, 16 + K, D).astype(np.float32)
  run = lambda seed, **kw: np.asarray(sampler.sample(
      memory, mask, 16, jax.random.key(seed), top_k=8, top_p=0.9,
      temperature=1.3, guidance_scale=2.0, input_offsets=offsets, **kw))
  a, b, c = run(0), run(0), run(1)
  np.testing.assert_array_equal(a, b)
  assert not np.array_equal(a, c)
  assert a.min() >= 0 and a.max() < V
  # greedy with offsets and mask agrees with a teacher-forced full forward
  g = np.asarray(sampler.sample(memory, mask, 16, jax.random.key(0), top_k=1,
                                 input_offsets=offsets))
  tokens = delay_pattern.build(g, V)
  logits = jax.jit(module.apply)(variables, tokens[:, :, :-1], memory, mask,
                                 input_offsets=offsets[:, :-1])
  valid = delay_pattern.valid_mask(K, 16 + K)[:, 1:]
  pred = np.asarray(logits.argmax(-1))
  np.testing.assert_array_equal(pred[:, valid], np.asarray(tokens)[:, :, 1:][:, valid])


def test_on_cpu_a_bf16_decoder_samples_in_fp32(hf_and_ours):
  """CPU's bf16 products are no faster, and fp32 ones run on the rows kernel."""
  import dataclasses
  _, module, variables = hf_and_ours
  bf16 = sample.Sampler(dataclasses.replace(module.config, dtype="bfloat16"), variables)
  fp32 = sample.Sampler(module.config, variables)
  assert bf16.config.dtype == "float32"
  assert {x.dtype for x in jax.tree.leaves(bf16.variables)} == {jnp.dtype(jnp.float32)}
  memory = np.random.RandomState(6).randn(2, 5, D).astype(np.float32)
  run = lambda s: np.asarray(s.sample(memory, None, 12, jax.random.key(0), top_k=1,
                                      guidance_scale=3.0))
  np.testing.assert_array_equal(run(bf16), run(fp32))


def test_guidance_offsets_condition_only_the_conditional_rows(hf_and_ours):
  """Greedy CFG == argmax of uncond + g (cond - uncond), teacher-forced, where only the
  conditional forward sees the offsets (the unconditional one: null memory, no offsets)."""
  _, module, variables = hf_and_ours
  sampler = sample.Sampler(module.config, variables)
  rs = np.random.RandomState(5)
  memory = rs.randn(2, 5, D).astype(np.float32)
  offsets = rs.randn(2, 12 + K, D).astype(np.float32)
  g = np.asarray(sampler.sample(memory, None, 12, jax.random.key(0), top_k=1,
                                 guidance_scale=3.0, input_offsets=offsets))
  tokens = delay_pattern.build(g, V)[:, :, :-1]
  fwd = jax.jit(module.apply)
  cond = fwd(variables, tokens, memory, None, input_offsets=offsets[:, :-1])
  uncond = fwd(variables, tokens, memory, None, drop_condition=np.ones(2, bool))
  pred = np.asarray((uncond + (cond - uncond) * 3.0).argmax(-1))
  valid = delay_pattern.valid_mask(K, 12 + K)[:, 1:]
  np.testing.assert_array_equal(pred[:, valid], np.asarray(delay_pattern.build(g, V))[:, :, 1:][:, valid])


def test_filter_logits_top_k_and_top_p():
  logits = jnp.log(jnp.array([[0.5, 0.3, 0.15, 0.05]]))
  kept = lambda x: np.isfinite(np.asarray(x))[0].tolist()
  assert kept(sample.filter_logits(logits, top_k=2)) == [True, True, False, False]
  assert kept(sample.filter_logits(logits, top_p=0.7)) == [True, True, False, False]
  assert kept(sample.filter_logits(logits, top_p=0.9)) == [True, True, True, False]
  assert kept(sample.filter_logits(logits, top_p=0.1)) == [True, False, False, False]


def test_kth_largest_mask_keeps_exactly_the_top_k_and_their_ties():
  """Against `lax.top_k`'s k-th value on rows with ties, negatives only, -inf entries
  (filtered logits), huge and tiny magnitudes and signed zeros."""
  rs = np.random.RandomState(3)
  rows = [rs.randn(2048) * 4, -np.abs(rs.randn(2048)) - 50, np.round(rs.randn(2048), 1),
          np.where(rs.rand(2048) < 0.9, -np.inf, rs.randn(2048)),
          rs.randn(2048) * 1e30, rs.randn(2048) * 1e-38, np.zeros(2048)]
  rows[-1][::3] = -0.0
  logits = jnp.asarray(np.stack(rows).astype(np.float32))
  for k in (1, 7, 250, 2047):
    kth = jax.lax.top_k(logits, k)[0][:, -1:]
    np.testing.assert_array_equal(sample.kth_largest_mask(logits, k), logits >= kth)


def test_bad_arguments_are_reported(hf_and_ours):
  _, module, variables = hf_and_ours
  sampler = sample.Sampler(module.config, variables)
  memory = np.zeros((1, 5, D), np.float32)
  with pytest.raises(ValueError, match="prompt_codes"):
    sampler.sample(memory, None, 4, jax.random.key(0),
                    prompt_codes=np.zeros((1, K, 5), int))
  with pytest.raises(ValueError, match="memory must be"):
    sampler.sample(memory[..., :3], None, 4, jax.random.key(0))


def test_inverse_cdf_equals_a_plain_cumulative_sum():
  """The two-level search picks the id whose CDF interval holds u * total, never a zero."""
  rs = np.random.RandomState(6)
  probs = rs.rand(3, 128).astype(np.float32) * (rs.rand(3, 128) > 0.7)
  u = rs.rand(3, 50).astype(np.float32)
  ids = np.asarray(jax.vmap(sample.inverse_cdf, in_axes=(None, 1), out_axes=1)(probs, u))
  cdf = np.cumsum(probs.astype(np.float64), axis=-1)
  ref = np.stack([np.searchsorted(cdf[r], u[r] * cdf[r, -1]) for r in range(3)])
  assert (probs[np.arange(3)[:, None], ids] > 0).all()
  np.testing.assert_array_equal(ids, ref)
  small = np.array([[0.0, 0.25, 0.0, 0.75]], np.float32)
  got = [int(sample.inverse_cdf(small, np.float32([x]))[0]) for x in (1e-6, 0.2, 0.3, 1.0)]
  assert got == [1, 1, 3, 3]


def test_bench_decode_runs_both_samplers_and_counts_the_bytes_a_step_reads(capsys):
  """`vmas bench decode` at the tiny size: ours, HF and the bandwidth lines.  A step reads
  every decoder matrix but the embeddings and cross-attention K/V: 2 layers x (6 x 64^2 +
  2 x 64 x 128) + 4 heads x 64 x 2048 = 606,208 fp32 = 2.4 MB."""
  pytest.importorskip("transformers")
  from vmas_jax import cli
  rc = cli.main(["bench", "decode", "--size", "tiny", "--frames", "8", "--repeats", "1",
                 "--codec", "none", "--torch-threads", "1", "--command-buffers"])
  out = capsys.readouterr().out
  assert rc == 0
  assert "ratio ours/hf:" in out
  assert "ours, command buffers (cpu):" in out and "same tokens: True" in out
  assert "weights read per step: 2.4 MB" in out
  assert "streaming read of those weights (" in out


def test_gpu_command_buffer_options_are_ones_xla_accepts(monkeypatch):
  """XLA parses every backend's options on any backend, so a kind it does not know fails
  here rather than on a user's GPU; off (the default) leaves XLA's GPU defaults alone."""
  monkeypatch.setattr(jax, "default_backend", lambda: "gpu")
  on, off = sample.compiler_options(True), sample.compiler_options(False)
  monkeypatch.undo()
  assert off is None
  assert on == {"xla_gpu_enable_command_buffer": ",".join(sample.GPU_COMMAND_BUFFER_KINDS)}
  assert {"WHILE", "CONDITIONAL"} <= set(sample.GPU_COMMAND_BUFFER_KINDS)
  loop = lambda x: jax.lax.while_loop(lambda s: s[0] < 3, lambda s: (s[0] + 1, 2 * s[1]),
                                      (0, x))[1]
  assert float(jax.jit(loop, compiler_options=on)(1.0)) == 8.0
  with pytest.raises(Exception, match="not a valid enum"):
    jax.jit(loop, compiler_options={"xla_gpu_enable_command_buffer": "WHILE,LOOPS"})(1.0)
  monkeypatch.setenv("VMAS_GPU_COMMAND_BUFFERS", "1")
  assert sample.command_buffers_requested()
  monkeypatch.setenv("VMAS_GPU_COMMAND_BUFFERS", "0")
  assert not sample.command_buffers_requested()
