"""T5 encoder: parity with HF `T5EncoderModel` on random configurations; tokenization."""

import jax
import numpy as np
import pytest

from text_fixtures import randomize_norms, save_t5_tokenizer
from vmas_jax import convert
from vmas_jax.models.text.t5 import T5Encoder, relative_position_bucket
from vmas_jax.models.text.tokenizer import load_tokenizer, tokenize

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.usefixtures("torch_one_thread")

# held-out random configurations: plain and gated FFNs, several bucket layouts
CONFIGS = [
    dict(d_model=32, d_kv=8, d_ff=48, num_heads=4, relative_attention_num_buckets=32,
         relative_attention_max_distance=128, feed_forward_proj="relu"),
    dict(d_model=32, d_kv=16, d_ff=40, num_heads=2, relative_attention_num_buckets=8,
         relative_attention_max_distance=12, feed_forward_proj="gated-gelu"),
    dict(d_model=32, d_kv=8, d_ff=24, num_heads=3, relative_attention_num_buckets=12,
         relative_attention_max_distance=20, feed_forward_proj="gated-silu",
         layer_norm_epsilon=1e-3),
]


def test_relative_position_buckets_match_hf():
  from transformers.models.t5.modeling_t5 import T5Attention
  rel = np.arange(-300, 301)
  for buckets, distance in ((32, 128), (8, 12), (12, 20), (6, 7)):
    ref = T5Attention._relative_position_bucket(torch.tensor(rel), bidirectional=True,
                                                num_buckets=buckets, max_distance=distance)
    np.testing.assert_array_equal(np.asarray(relative_position_bucket(rel, buckets, distance)),
                                  ref.numpy())


@pytest.mark.parametrize("index", range(len(CONFIGS)))
def test_t5_encoder_matches_hf(tmp_path, index):
  from transformers import T5Config, T5EncoderModel
  torch.manual_seed(index)
  hf = T5EncoderModel(T5Config(vocab_size=64, num_layers=2, dropout_rate=0.0,
                               **CONFIGS[index])).eval()
  randomize_norms(hf, index)
  hf.save_pretrained(tmp_path)
  module, variables = convert.from_hf(tmp_path)
  assert isinstance(module, T5Encoder)
  assert module.config.gated == CONFIGS[index]["feed_forward_proj"].startswith("gated")
  rs = np.random.RandomState(index)
  # 40 tokens: relative distances beyond the exact buckets and past max_distance
  ids = rs.randint(0, 64, (3, 40))
  mask = (np.arange(40)[None] < np.array([[40], [17], [1]])).astype(np.int64)
  with torch.no_grad():
    ref = hf(input_ids=torch.tensor(ids), attention_mask=torch.tensor(mask)).last_hidden_state
  ours = jax.jit(module.apply)(variables, ids, mask)
  assert ours.shape == (3, 40, 32)
  np.testing.assert_allclose(np.asarray(ours), ref.numpy(), atol=1e-4, rtol=1e-4)


def test_missing_weight_is_named(tmp_path):
  from transformers import T5Config, T5EncoderModel
  from vmas_jax.convert import hf_io
  T5EncoderModel(T5Config(vocab_size=64, num_layers=2, **CONFIGS[0])).save_pretrained(tmp_path)
  sd = hf_io.load_state_dict(tmp_path)
  del sd["encoder.block.1.layer.1.DenseReluDense.wo.weight"]
  hf_io.save_safetensors(sd, tmp_path)
  with pytest.raises(ValueError, match="block.1.layer.1.DenseReluDense.wo.weight"):
    convert.from_hf(tmp_path)


PROMPTS = ["calm piano music", "", "Café déjà vu — 音楽 🎵 naïve",
           "  upbeat   synthwave\twith a driving beat  ",
           " ".join(["red and blue lights flash in the night"] * 6)]  # > model_max_length


def test_tokenization_equals_hf_tokenizer(tmp_path):
  from transformers import T5Tokenizer
  save_t5_tokenizer(tmp_path, model_max_length=16)
  ids, mask = tokenize(load_tokenizer(tmp_path), PROMPTS)
  ref = T5Tokenizer.from_pretrained(tmp_path)(PROMPTS, padding=True, truncation=True,
                                              return_tensors="pt")
  np.testing.assert_array_equal(ids, ref["input_ids"].numpy())
  np.testing.assert_array_equal(mask, ref["attention_mask"].numpy())
  lengths = mask.sum(1)
  assert ids.shape == (5, 16) and lengths[1] == 1 and lengths[4] == 16  # "" = </s>; truncated
  assert all(ids[i, n - 1] == 1 for i, n in enumerate(lengths))  # every row ends in </s>
  assert (ids[mask == 0] == 0).all()  # right-padded with <pad>
  # padding to a multiple of 8 only appends masked <pad>
  two, _ = tokenize(load_tokenizer(tmp_path), PROMPTS[:2])
  padded, padded_mask = tokenize(load_tokenizer(tmp_path), PROMPTS[:2], pad_to_multiple_of=8)
  n = two.shape[1]
  assert padded.shape[1] % 8 == 0 and n <= padded.shape[1] < n + 8
  np.testing.assert_array_equal(padded[:, :n], two)
  assert not padded_mask[:, n:].any() and not padded[:, n:].any()
  # an explicit max_length truncates further, still ending in </s>
  short, _ = tokenize(load_tokenizer(tmp_path), PROMPTS[-1:], max_length=5)
  assert short.shape == (1, 5) and short[0, -1] == 1
  with pytest.raises(ValueError, match="no usable tokenizer"):
    load_tokenizer(tmp_path / "missing")
