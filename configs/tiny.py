"""The `tiny` VMAS configuration: every part shrunk so a laptop CPU trains it in seconds.

  vmas train --config configs/tiny.py --workdir /tmp/vmas_tiny

Uses a randomly initialised tiny codec and frame backbone and a small synthetic dataset
(built on first use), so it needs no downloads.
"""

from vmas_jax.config_defaults import base_config


def get_config(arg: str | None = None):
  del arg
  c = base_config("tiny")
  c.total_steps = 50
  c.checkpoint_every = 25
  c.log_every = 5
  c.codec.hf_path = ""
  c.codec.arch = "tiny"
  c.decoder.dtype = "float32"
  c.decoder.max_positions = 512
  c.video.update(dict(backbone="tiny_vit", backbone_path="", image_size=32, video_fps=4.0,
                      chunk_size=8, temporal_layers=1, temporal_dim=32, temporal_heads=2,
                      temporal_mlp=64, dtype="float32"))
  c.model.contrastive_dim = 32
  c.optim.update(dict(learning_rate=1e-3, warmup_steps=5))
  c.data.update(dict(synthetic_examples=16, clip_seconds=2.0, global_batch_size=4))
  return c
