"""A tiny CLIP-like ViT for tests and the `tiny` config (same code path as CLIP-B/16)."""

from __future__ import annotations

import jax.numpy as jnp

from vmas_jax.models.vision.clip import CLIPVision


def tiny_vit(image_size: int = 32, patch_size: int | None = None, hidden_size: int = 32,
             num_layers: int = 2, num_heads: int = 4, mlp_dim: int = 64,
             dtype=jnp.float32) -> CLIPVision:
  """A `CLIPVision` with a 4x4 patch grid by default (patch = image_size // 4)."""
  patch_size = patch_size or max(image_size // 4, 1)
  return CLIPVision(image_size=image_size, patch_size=patch_size, hidden_size=hidden_size,
                    num_layers=num_layers, num_heads=num_heads, mlp_dim=mlp_dim, dtype=dtype)
