"""The bundled codec (`vmas_jax/assets/codec`): a small EnCodec trained on 2 CPU cores.

It was trained in five stages, each resuming the one before from WORKDIR's checkpoint (the
data stream resumes exactly; settings are changed by overrides).  To reproduce it:

  apt-get install fluidsynth fluid-soundfont-gm && pip install pretty-midi
  vmas codec make-corpus --out /tmp/codec_corpus --songs 160 --seconds 24 --seed 0
  T="vmas codec train --config codec_bundled --workdir /tmp/codec_bundled"
  $T --config.total_steps=2000 --config.stop_step=1457 --config.loss.l1_weight=1.0 \
     --config.loss.stft_weight=0.0 --config.loss.log_eps=1e-5
  $T --config.total_steps=2550 --config.stop_step=1854 --config.loss.l1_weight=1.0 \
     --config.loss.stft_weight=1.0 --config.loss.log_eps=1e-5
  $T --config.total_steps=2550 --config.stop_step=2153 --config.loss.stft_weight=1.0 \
     --config.loss.log_eps=1e-5
  $T --config.stop_step=2268 --config.loss.log_eps=1e-5
  $T --config.stop_step=2638
  vmas codec export --workdir /tmp/codec_bundled --out vmas_jax/assets/codec

(~52 min of training at ~1 step/s on this project's shared 2-core CPU machine.)  The corpus is
random MIDI songs rendered with FluidSynth and the MIT-licensed FluidR3 GM sound font; 40 %
of the segments come from the synthetic music generator.

Architecture: SEANet with 8 base filters (widths 8..128), 2-layer LSTMs, 64-dim latents,
4 x 2048 EMA codebooks; 32 kHz mono, hop 640 (50 Hz codes), the interface of
facebook/encodec_32khz.  1.5 M parameters, 6.1 MB in fp32.
"""

from vmas_jax.train.codec_config import codec_base_config


def get_config(arg: str | None = None):
  del arg
  c = codec_base_config()
  c.name = "codec_bundled"
  c.total_steps = 3200
  c.checkpoint_every = 200
  c.nan_policy = "skip"
  c.loss.update(dict(l1_weight=30.0, stft_weight=5.0, log_eps=3e-4))
  c.optim.update(dict(learning_rate=8e-4, warmup_steps=100))
  c.data.update(dict(audio="/tmp/codec_corpus", synthetic_fraction=0.4, global_batch_size=8,
                     segment_seconds=1.0))
  return c
