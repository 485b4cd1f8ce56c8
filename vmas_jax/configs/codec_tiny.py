"""A codec-training config that runs in seconds per step on a laptop CPU (tests, trying out).

  vmas codec train --config codec_tiny --workdir /tmp/codec_tiny

Synthetic music only, 4 base filters, 16-dim latents, the real 32 kHz / 50 Hz / 4 x 2048
interface.
"""

from vmas_jax.train.codec_config import codec_base_config


def get_config(arg: str | None = None):
  del arg
  c = codec_base_config()
  c.name = "codec_tiny"
  c.total_steps = 100
  c.checkpoint_every = 100
  c.log_every = 10
  c.tensorboard = False
  c.codec.update(dict(num_filters=4, hidden_size=16, num_lstm_layers=1))
  c.loss.update(dict(mel_scales=(256, 1024), stft_scales=(512, 2048)))
  c.optim.update(dict(learning_rate=2e-3, warmup_steps=10))
  c.data.update(dict(audio="", synthetic_fraction=1.0, global_batch_size=8, segment_seconds=0.2))
  return c
