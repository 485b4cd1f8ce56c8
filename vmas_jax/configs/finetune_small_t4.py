"""Fine-tune `facebook/musicgen-small` on your videos on one 16 GB GPU (Colab T4-class).

  vmas prepare --input VIDEOS_DIR --output DATA --config finetune_small_t4
  vmas train --config finetune_small_t4 --workdir RUN --config.data.dir=DATA

The decoder starts as MusicGen-small (everything VMAS adds starts at zero, so step 0 is
MusicGen unconditional); it stays frozen except for LoRA adapters (rank 16) on its attention
and MLP projections, its cross-attention layers and its LayerNorms.  The temporal video
encoder and the VMAS heads train in full.  Frame-backbone features are extracted once by
`vmas prepare` (use_features), so Hiera never runs during training.  bf16 compute, fp32
master weights, decoder layers rematerialised.  Offline, point the paths at local copies:
  --config.decoder.hf_path=/models/musicgen-small --config.codec.hf_path=/models/encodec_32khz
  --config.video.backbone_path=/models/hiera-base-224-hf
Memory plan (`vmas bench train --config finetune_small_t4 --estimate`): see README.
"""

from vmas_jax.config_defaults import base_config


def get_config(arg: str | None = None):
  del arg
  c = base_config("small")
  c.name = "finetune_small_t4"
  c.total_steps = 2000
  c.checkpoint_every = 250
  c.decoder.update(dict(hf_path="facebook/musicgen-small", remat_policy="full"))
  c.codec.hf_path = "facebook/encodec_32khz"
  c.video.update(dict(use_features=True))
  c.finetune.update(dict(trainable="lora,cross_attention,layer_norms,video_encoder,heads",
                         lora_rank=16, lora_alpha=32.0))
  c.optim.update(dict(learning_rate=2e-4, warmup_steps=100))
  c.data.update(dict(frames_format="features", global_batch_size=8))
  return c
