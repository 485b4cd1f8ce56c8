"""VMAS initialised from MusicGen (`decoder.hf_path`): step-0 parity with HF, LoRA and frozen
fine-tuning, merged export, config checks, sharded loading on a fake 8-device mesh."""

import jax
import numpy as np
import pytest

from train_support import run_python
from vmas_jax import cli, pretrained
from vmas_jax.config_defaults import tiny_config
from vmas_jax.models.music_decoder import DecoderConfig, MusicDecoder
from vmas_jax.train import finetune, load_checkpoint, train

V, K, D = 2048, 4, 32  # the tiny codec's 4 x 2048 codebooks


def _decoder_config(**kw):
  from transformers import MusicgenDecoderConfig
  return MusicgenDecoderConfig(vocab_size=V, max_position_embeddings=128, num_hidden_layers=2,
                               ffn_dim=48, num_attention_heads=4, hidden_size=D, num_codebooks=K,
                               dropout=0.0, pad_token_id=V, bos_token_id=V,
                               decoder_start_token_id=V, **kw)


@pytest.fixture(scope="module")
def decoder_dir(tmp_path_factory):
  torch = pytest.importorskip("torch")
  from transformers import MusicgenForCausalLM
  torch.manual_seed(0)
  hf = MusicgenForCausalLM(_decoder_config()).eval()
  path = tmp_path_factory.mktemp("musicgen_decoder")
  hf.save_pretrained(path)
  return path, hf


@pytest.fixture(scope="module")
def full_dir(tmp_path_factory):
  torch = pytest.importorskip("torch")
  from transformers import (EncodecConfig, MusicgenConfig, MusicgenForConditionalGeneration,
                            T5Config)
  torch.manual_seed(1)
  t5 = T5Config(vocab_size=50, d_model=24, d_ff=32, num_layers=1, num_heads=2, d_kv=8)
  enc = EncodecConfig(codebook_size=64, num_filters=4, upsampling_ratios=[2, 2],
                      hidden_size=8, codebook_dim=8, num_lstm_layers=1)
  full = MusicgenForConditionalGeneration(MusicgenConfig(
      text_encoder=t5, audio_encoder=enc, decoder=_decoder_config())).eval()
  path = tmp_path_factory.mktemp("musicgen_full")
  full.save_pretrained(path)
  return path, full


@pytest.fixture(scope="module")
def video(tmp_path_factory):
  from vmas_jax.data.synthetic import make_synthetic_videos
  d = tmp_path_factory.mktemp("videos")
  return make_synthetic_videos(d, 1, seconds=1.0, seed=3, size=48, fps=8)[0]["path"]


def _config(hf_path, **finetune_fields):
  c = tiny_config()
  c.decoder.update(dict(num_layers=2, d_model=D, num_heads=4, ffn_dim=48, hf_path=str(hf_path)))
  c.data.update(dict(source="memory", memory_examples=2, global_batch_size=2, clip_seconds=0.5))
  c.update(dict(total_steps=1, checkpoint_every=1, log_every=1, tensorboard=False))
  c.optim.update(dict(learning_rate=0.0, warmup_steps=0))
  c.finetune.update(finetune_fields)
  return c


def _hf_greedy(hf, encoder_states, num_frames):
  """HF greedy generation [1, K, F]; without encoder states: MusicGen unconditional."""
  import torch
  from vmas_jax.convert.hf_generate import empty_cache_kwargs
  kw = {} if encoder_states is None else dict(
      encoder_hidden_states=torch.tensor(encoder_states[None, None]))
  with torch.no_grad():
    out = hf.generate(input_ids=torch.full((K, 1), V),
                      attention_mask=torch.ones((K, 1), dtype=torch.long),
                      **empty_cache_kwargs(hf),
                      do_sample=False, max_length=num_frames + K, num_return_sequences=1, **kw)
  return out.numpy()[0]


def _generate(workdir, video, step=None, guidances=(1.0,)):
  """Greedy codes of the run's model for `video`, one array per guidance scale."""
  from vmas_jax.generate import MusicVideoPipeline
  pipe = MusicVideoPipeline.from_workdir(workdir, step=step)
  return [pipe.generate(video, seconds=0.5, top_k=1, guidance_scale=g).codes for g in guidances]


@pytest.mark.long
def test_full_musicgen_dir_step0_equals_hf_unconditional(full_dir, video, tmp_path):
  """Full checkpoint: HF's unconditional inputs reach the decoder as zero states (projected,
  then multiplied by their all-zero mask); VMAS's video memory starts as exactly that token."""
  path, full = full_dir
  train(_config(path), tmp_path / "run")
  zero = np.zeros_like(full.enc_to_dec_proj.bias.detach().numpy())
  ref = _hf_greedy(full.decoder, zero, 25)
  plain, guided = _generate(tmp_path / "run", video, guidances=(1.0, 3.0))
  np.testing.assert_array_equal(plain, ref)
  # guidance starts from MusicGen's own unconditional: conditional == unconditional at step 0
  np.testing.assert_array_equal(guided, ref)


@pytest.mark.long
def test_lora_and_frozen_from_musicgen_decoder(decoder_dir, video, tmp_path):
  path, hf = decoder_dir
  groups = "lora,cross_attention,heads"
  config = _config(path, trainable=groups, lora_rank=2)
  # 4 steps; the warmup's first learning rate is 0, so the step-1 checkpoint holds the
  # initial parameters
  config.update(dict(total_steps=4, checkpoint_every=1, keep_checkpoints=4))
  config.optim.update(dict(learning_rate=1e-2, warmup_steps=1))
  wd = tmp_path / "run"
  train(config, wd)
  # step 0 (LoRA adapters present, decoder frozen) generates MusicGen's unconditional music
  np.testing.assert_array_equal(_generate(wd, video, step=1)[0], _hf_greedy(hf, None, 25))
  before, after = load_checkpoint(wd, 1)["params"], load_checkpoint(wd, 4)["params"]
  flat = lambda t: {jax.tree_util.keystr(p): (p, np.asarray(x))
                    for p, x in jax.tree_util.tree_leaves_with_path(t)}
  b, a = flat(before), flat(after)
  changed = {k for k in b if not np.array_equal(b[k][1], a[k][1])}
  keys = lambda path: tuple(p.key for p in path)
  assert all(finetune.is_trainable(keys(b[k][0]), groups.split(",")) for k in changed), changed
  for must in ("['lora']['decoder']['layers']['self_attn']['q_proj']['b']",
               "['lora']['decoder']['layers']['mlp']['fc2']['b']", "['beat_head']['kernel']"):
    assert must in changed, must
  for frozen in ("['decoder']['layers']['self_attn']['q_proj']['kernel']",
                 "['video_encoder']['out_proj']['kernel']", "['decoder']['embed']"):
    assert frozen not in changed, frozen

  # no optimizer state for frozen parameters
  from vmas_jax.train import state as state_lib
  tx = finetune.wrap_optimizer(state_lib.make_optimizer(config.optim, 4)[0], config)
  opt = jax.eval_shape(tx.init, jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype),
                                             after))
  size = lambda t: sum(int(np.prod(x.shape)) for x in jax.tree.leaves(t) if x.ndim)
  trainable = sum(x.size for p, x in a.values()
                  if x.ndim and finetune.is_trainable(keys(p), groups.split(",")))
  assert size(opt) == 2 * trainable and trainable < size(after) // 4  # AdamW's mu and nu only

  # the merged export loads in HF and gives our merged decoder's logits
  import torch
  from transformers import MusicgenForCausalLM
  merged = finetune.merged_params(after, config)
  assert "lora" not in merged
  dec = MusicDecoder(DecoderConfig.from_config(config.decoder))
  assert cli.main(["convert", "--from-run", str(wd), "--out", str(tmp_path / "export")]) == 0
  back = MusicgenForCausalLM.from_pretrained(tmp_path / "export").eval()
  tokens = np.random.RandomState(0).randint(0, V, (1, K, 6))
  memory = np.random.RandomState(1).randn(1, 3, D).astype(np.float32)
  ours = np.asarray(dec.apply({"params": merged["decoder"]}, tokens, memory))
  with torch.no_grad():
    ref = back(input_ids=torch.tensor(tokens.reshape(K, 6)),
               encoder_hidden_states=torch.tensor(memory)).logits.numpy()
  np.testing.assert_allclose(ref.reshape(1, K, 6, V), ours, atol=1e-4)
  base = np.asarray(dec.apply({"params": after["decoder"]}, tokens, memory))
  assert np.abs(base - ours).max() > 1e-4  # the adapters did change the decoder


def test_config_size_mismatch_names_the_field(decoder_dir, tmp_path):
  import json
  path, _ = decoder_dir
  c = _config(path)
  c.decoder.ffn_dim = 64
  with pytest.raises(ValueError, match=r"config.decoder.ffn_dim=64 .* has 48"):
    pretrained.load_decoder({}, {}, path, c.decoder)
  (tmp_path / "config.json").write_text(json.dumps({"model_type": "hiera"}))
  with pytest.raises(ValueError, match="not a MusicGen checkpoint"):
    pretrained.load_decoder({}, {}, tmp_path, c.decoder)


def test_sharded_load_on_fsdp_mesh(decoder_dir):
  path, _ = decoder_dir
  run_python(["tests/sharded_load_worker.py", str(path)], devices=8)
