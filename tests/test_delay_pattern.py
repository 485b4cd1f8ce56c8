import numpy as np
import pytest

from vmas_jax.models import delay_pattern

S = 9  # special id in these examples


def test_build_matches_hand_written_layout():
  codes = np.array([[[1, 2, 3], [4, 5, 6], [7, 8, 0]]])  # [B=1, K=3, F=3]
  want = np.array([[[S, 1, 2, 3, S, S],
                    [S, S, 4, 5, 6, S],
                    [S, S, S, 7, 8, 0]]])
  np.testing.assert_array_equal(delay_pattern.build(codes, S), want)


def test_undo_inverts_build_for_random_codes():
  codes = np.random.RandomState(0).randint(0, 8, (2, 4, 5))
  tokens = delay_pattern.build(codes, S)
  assert tokens.shape == (2, 4, 9)
  np.testing.assert_array_equal(delay_pattern.undo(tokens), codes)


def test_valid_mask_hand_written():
  want = np.array([[0, 1, 1, 0, 0],
                   [0, 0, 1, 1, 0],
                   [0, 0, 0, 1, 1]], bool)  # K=3, F=2 -> S=5
  np.testing.assert_array_equal(delay_pattern.valid_mask(3, 5), want)
  tokens = np.asarray(delay_pattern.build(np.zeros((1, 3, 2), int), S))[0]
  np.testing.assert_array_equal(tokens != S, want)


def test_build_matches_hf_delay_pattern_mask():
  torch = pytest.importorskip("torch")
  from transformers import MusicgenDecoderConfig, MusicgenForCausalLM
  cfg = MusicgenDecoderConfig(vocab_size=S, num_hidden_layers=1, hidden_size=8, ffn_dim=8,
                              num_attention_heads=2, num_codebooks=4, pad_token_id=S,
                              bos_token_id=S)
  model = MusicgenForCausalLM(cfg)
  codes = np.random.RandomState(1).randint(0, S, (2, 4, 6))
  # HF takes [BOS, codes...] per codebook and max_length = F + K
  ids = np.concatenate([np.full((2, 4, 1), S), codes], axis=2).reshape(8, 7)
  _, pattern = model.build_delay_pattern_mask(torch.tensor(ids), pad_token_id=S, max_length=10)
  np.testing.assert_array_equal(pattern.numpy().reshape(2, 4, 10), delay_pattern.build(codes, S))


def test_undo_rejects_too_short():
  with pytest.raises(ValueError, match="shorter"):
    delay_pattern.undo(np.zeros((1, 4, 3), int))
