"""The `demo` VMAS configuration: a small-ish model on synthetic data, for one GPU.

  vmas train --config demo --workdir /tmp/vmas_demo

A 6-layer, 384-wide decoder over 4 x 2048 tokens of the bundled codec (vmas_jax/assets/codec,
trained with the `codec_bundled` config), a randomly initialised tiny frame
backbone (no downloads) under a 2-layer temporal encoder, 5-second clips, bf16 compute with
fp32 master weights.
"""

from vmas_jax.config_defaults import base_config
from vmas_jax.models.codec import BUNDLED_CODEC


def get_config(arg: str | None = None):
  del arg
  c = base_config("tiny")
  c.name = "demo"
  c.total_steps = 2000
  c.checkpoint_every = 500
  c.log_every = 20
  c.codec.hf_path = str(BUNDLED_CODEC)
  c.codec.arch = "tiny"  # the random-init codec when hf_path is set to ""
  c.decoder.update(dict(num_layers=6, d_model=384, num_heads=6, ffn_dim=1536,
                        max_positions=1024, dtype="bfloat16", scan_layers=True))
  c.video.update(dict(backbone="tiny_vit", backbone_path="", image_size=64, video_fps=4.0,
                      chunk_size=16, temporal_layers=2, temporal_dim=256, temporal_heads=4,
                      temporal_mlp=1024, dtype="bfloat16"))
  c.model.contrastive_dim = 128
  c.optim.update(dict(learning_rate=3e-4, warmup_steps=100))
  c.data.update(dict(synthetic_examples=256, clip_seconds=5.0, global_batch_size=16))
  return c
