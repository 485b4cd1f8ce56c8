"""Small offline text models for tests: a T5 tokenizer trained on a few sentences, random T5
encoders and random full MusicGen models, saved with `save_pretrained` (nothing downloads)."""

import dataclasses
import json


SENTENCES = ["calm piano music for a quiet evening", "upbeat synthwave with a driving beat",
             "red and blue lights flash in the night", "a slow sad violin melody",
             "happy acoustic guitar strumming in the sun", "drums and bass, fast and loud"]


def save_t5_tokenizer(path, vocab_size=60, model_max_length=16):
  """A T5 tokenizer (Unigram; <pad>=0, </s>=1, <unk>=2, no sentinels) saved to `path`."""
  from tokenizers import Tokenizer, models, pre_tokenizers, trainers
  from transformers import T5Tokenizer
  raw = Tokenizer(models.Unigram())
  raw.pre_tokenizer = pre_tokenizers.Metaspace()
  trainer = trainers.UnigramTrainer(vocab_size=vocab_size, unk_token="<unk>",
                                    special_tokens=["<pad>", "</s>", "<unk>"])
  raw.train_from_iterator(SENTENCES * 4, trainer)
  vocab = [tuple(v) for v in json.loads(raw.to_str())["model"]["vocab"]]
  tok = T5Tokenizer(vocab=vocab, extra_ids=0, model_max_length=model_max_length)
  tok.save_pretrained(path)
  return tok


def randomize_norms(model, seed=0):
  """HF initialises norm scales to 1; random ones make the parity tests check them."""
  import torch
  g = torch.Generator().manual_seed(seed)
  with torch.no_grad():
    for name, p in model.named_parameters():
      if "layer_norm" in name and p.ndim == 1:
        p.copy_(1.0 + 0.3 * torch.randn(p.shape, generator=g))


def tiny_musicgen(t5_width=24, vocab=32, d_model=32, seed=0, feed_forward_proj="relu"):
  """A random `MusicgenForConditionalGeneration`: 2-layer T5, tiny 32 kHz codec, tiny decoder,
  with the generation config HF's `generate` needs."""
  import torch
  from transformers import (EncodecConfig, MusicgenConfig, MusicgenDecoderConfig,
                            MusicgenForConditionalGeneration, T5Config)
  from vmas_jax.models.codec import EncodecConfig as OurEncodec
  torch.manual_seed(seed)
  t5 = T5Config(vocab_size=64, d_model=t5_width, d_kv=8, d_ff=40, num_layers=2, num_heads=3,
                relative_attention_num_buckets=8, relative_attention_max_distance=16,
                dropout_rate=0.0, feed_forward_proj=feed_forward_proj)
  codec = dataclasses.replace(OurEncodec.tiny(), codebook_size=vocab).to_hf_config()
  enc = EncodecConfig(**{k: v for k, v in codec.items() if k not in ("model_type", "architectures")})
  dec = MusicgenDecoderConfig(vocab_size=vocab, num_hidden_layers=2, hidden_size=d_model,
                              num_attention_heads=4, ffn_dim=48, num_codebooks=4,
                              max_position_embeddings=256, pad_token_id=vocab,
                              bos_token_id=vocab, decoder_start_token_id=vocab, dropout=0.0)
  model = MusicgenForConditionalGeneration(
      MusicgenConfig(text_encoder=t5, audio_encoder=enc, decoder=dec)).eval()
  randomize_norms(model, seed)
  with torch.no_grad():  # HF's init (std 0.02) makes a decoder that all but ignores the text
    for p in model.decoder.parameters():
      p.mul_(10.0 if p.ndim == 2 else 1.0)
    if hasattr(model, "enc_to_dec_proj"):
      model.enc_to_dec_proj.weight.mul_(30.0)
  model.generation_config.pad_token_id = vocab
  model.generation_config.decoder_start_token_id = vocab
  return model


def save_tiny_musicgen(path, **kw):
  """`tiny_musicgen(**kw)` and a tokenizer saved together in `path`; returns the model."""
  model = tiny_musicgen(**kw)
  model.save_pretrained(path)
  save_t5_tokenizer(path, model_max_length=64)  # prompts are not truncated, as HF's processor
  return model
