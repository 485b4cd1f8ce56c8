"""Prompts -> T5 token ids through `transformers`' tokenizer (the `tokenizers` backend: no
torch needed), padded and truncated as MusicGen's processor does."""

from __future__ import annotations

import os
from typing import Sequence

import numpy as np


def load_tokenizer(directory: str | os.PathLike):
  """The tokenizer saved in a model directory (tokenizer.json / spiece.model + configs)."""
  from transformers import AutoTokenizer
  try:
    return AutoTokenizer.from_pretrained(str(directory))
  except (OSError, ValueError, TypeError) as e:
    raise ValueError(f"{directory}: no usable tokenizer ({e})") from None


def tokenize(tokenizer, prompts: Sequence[str], max_length: int | None = None,
             pad_to_multiple_of: int | None = None) -> tuple[np.ndarray, np.ndarray]:
  """prompts [B] -> input_ids int32 [B, L], attention_mask int32 [B, L].

  Right-padded to the longest prompt (rounded up to `pad_to_multiple_of`: fewer distinct
  shapes to compile for), each ending in </s>; longer than `max_length` (default the
  tokenizer's `model_max_length`, 512 for MusicGen's t5-base) is truncated, keeping </s>.
  """
  if isinstance(prompts, str):
    raise TypeError("prompts must be a list of strings, not one string")
  enc = tokenizer(list(prompts), padding=True, truncation=True, max_length=max_length,
                  pad_to_multiple_of=pad_to_multiple_of, return_tensors="np")
  return enc["input_ids"].astype(np.int32), enc["attention_mask"].astype(np.int32)


def tokenize_fixed(tokenizer, prompts: Sequence[str], length: int
                   ) -> tuple[np.ndarray, np.ndarray]:
  """prompts [B] -> input_ids int32 [B, length], attention_mask int32 [B, length]: padded or
  truncated (keeping </s>) to `length`, the static shape training batches need.  A blank
  prompt (empty or whitespace) is no text: all padding, mask all 0, which the VMAS model
  reads as dropped text (`models.text_video.text_absent`)."""
  if isinstance(prompts, str):
    raise TypeError("prompts must be a list of strings, not one string")
  enc = tokenizer(list(prompts), padding="max_length", truncation=True, max_length=length,
                  return_tensors="np")
  ids, mask = enc["input_ids"].astype(np.int32), enc["attention_mask"].astype(np.int32)
  blank = np.asarray([not p.strip() for p in prompts])
  ids[blank] = tokenizer.pad_token_id
  mask[blank] = 0
  return ids, mask
