"""Frame backbones: CLIP ViT, Hiera and a tiny CLIP-like ViT for tests.

Every backbone maps `pixels[B, H, W, 3]` (normalized with its `mean`/`std`) to
`(last_hidden, pooled)` like the Hugging Face reference, and exposes
`frame_tokens(pixels) -> (cls[B, D], grid[B, h, w, D])` for the temporal video encoder.
"""

from vmas_jax.models.vision.clip import CLIPVision
from vmas_jax.models.vision.hiera import Hiera
from vmas_jax.models.vision.tiny_vit import tiny_vit

__all__ = ["CLIPVision", "Hiera", "tiny_vit"]
