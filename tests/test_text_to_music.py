"""MusicGen text-to-music: full-directory import and greedy generation equal to HF's."""

import jax
import numpy as np
import pytest

from text_fixtures import save_tiny_musicgen
from vmas_jax import convert
from vmas_jax.models.text.musicgen import MusicGen
from vmas_jax.text_to_music import TextToMusic

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.usefixtures("torch_one_thread")

PROMPTS = ["calm piano music for a quiet evening", "drums", ""]


@pytest.fixture(scope="module")
def hf_dir(tmp_path_factory):
  path = tmp_path_factory.mktemp("musicgen")
  torch.set_num_threads(1)
  return save_tiny_musicgen(path), path


def _hf_inputs(path, prompts):
  from transformers import AutoTokenizer
  return AutoTokenizer.from_pretrained(path)(prompts, padding=True, return_tensors="pt")


def test_full_dir_imports_text_encoder_projection_and_decoder(hf_dir):
  hf, path = hf_dir
  module, variables = convert.from_hf(path)
  assert isinstance(module, MusicGen) and module.config.project  # T5 width 24 -> 32
  assert not np.any(variables["params"]["decoder"]["null_memory"])  # MusicGen's uncond: zeros
  inputs = _hf_inputs(path, PROMPTS)
  tokens = np.random.RandomState(0).randint(0, 33, (3, 4, 6))
  with torch.no_grad():
    ref = hf(**inputs, decoder_input_ids=torch.tensor(tokens.reshape(12, 6))).logits
  ids, mask = inputs["input_ids"].numpy(), inputs["attention_mask"].numpy()
  ours = jax.jit(module.apply)(variables, ids, mask, tokens)
  np.testing.assert_allclose(np.asarray(ours), ref.numpy().reshape(3, 4, 6, -1), atol=1e-4)


def test_same_width_text_states_enter_the_decoder_unprojected(tmp_path):
  hf = save_tiny_musicgen(tmp_path, t5_width=32, seed=1)
  assert not hasattr(hf, "enc_to_dec_proj")
  module, variables = convert.from_hf(tmp_path)
  assert not module.config.project and "enc_to_dec_proj" not in variables["params"]
  inputs = _hf_inputs(tmp_path, PROMPTS)
  with torch.no_grad():
    ref = hf.text_encoder(**inputs).last_hidden_state * inputs["attention_mask"][..., None]
  memory, mask = jax.jit(lambda v, i, m: module.apply(v, i, m, method="encode_text"))(
      variables, inputs["input_ids"].numpy(), inputs["attention_mask"].numpy())
  np.testing.assert_allclose(np.asarray(memory), ref.numpy(), atol=1e-4)
  np.testing.assert_array_equal(np.asarray(mask), inputs["attention_mask"].numpy() == 1)


def _hf_generate(hf, inputs, num_frames, guidance):
  """HF greedy text-to-music; the codes [B, K, F] as HF hands them to its codec."""
  codes = []
  decode = hf.audio_encoder.decode

  def capture(audio_codes, *args, **kw):
    codes.append(audio_codes[0].numpy())
    return decode(audio_codes, *args, **kw)

  hf.audio_encoder.decode = capture
  try:
    with torch.no_grad():
      hf.generate(**inputs, do_sample=False, guidance_scale=guidance, num_return_sequences=1,
                  max_new_tokens=num_frames + hf.decoder.num_codebooks - 1)
  finally:
    hf.audio_encoder.decode = decode
  return codes[0]


@pytest.mark.parametrize("guidance", [1.0, 3.0])
def test_greedy_text_to_music_equals_hf_generate(hf_dir, guidance):
  hf, path = hf_dir
  ref = _hf_generate(hf, _hf_inputs(path, PROMPTS), 52, guidance)
  t2m = TextToMusic.from_pretrained(path)
  ours = t2m.generate(PROMPTS, 52, jax.random.key(0), top_k=1, guidance_scale=guidance)
  assert ref.shape == ours.shape == (3, 4, 52)
  np.testing.assert_array_equal(ours, ref)


def test_from_pretrained_rejects_a_decoder_only_dir(tmp_path):
  from random_params import init_variables
  from vmas_jax.models.music_decoder import DecoderConfig, MusicDecoder
  module = MusicDecoder(DecoderConfig(num_layers=1, d_model=16, num_heads=2, ffn_dim=16,
                                      vocab_size=32))
  convert.to_hf(module, init_variables(module), tmp_path)
  with pytest.raises(ValueError, match="full 'musicgen' model"):
    TextToMusic.from_pretrained(tmp_path)
