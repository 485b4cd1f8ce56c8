"""vmas_jax: video-to-music generation (VMAS) in JAX/Flax."""

__version__ = "0.1.0"
