"""Calling `transformers` MusicGen `generate` across its 5.x releases (a reference for tests
and benchmarks; the project's own sampler is `vmas_jax.sample`)."""

from __future__ import annotations

import inspect


def empty_cache_kwargs(hf_model) -> dict:
  """`{name: EncoderDecoderCache(DynamicCache(), DynamicCache())}` for `hf_model.generate`.

  transformers 5.x `MusicgenForCausalLM.generate`, given no cache, appends the cross-attention
  K/V to the self-attention cache; an explicit empty encoder-decoder cache keeps them apart.
  The argument was `past_key_values` and is `cache` from 5.24 on: the name is read from the
  model's `forward` signature.
  """
  from transformers.cache_utils import DynamicCache, EncoderDecoderCache
  params = inspect.signature(hf_model.forward).parameters
  name = "cache" if "cache" in params else "past_key_values"
  return {name: EncoderDecoderCache(DynamicCache(), DynamicCache())}
