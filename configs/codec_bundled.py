"""The bundled codec (`vmas_jax/assets/codec`): a small EnCodec trained on CPU in ~45 min.

Reproduce it (2 CPU cores; the corpus is random MIDI songs rendered with FluidSynth and the
MIT-licensed FluidR3 GM sound font, plus the synthetic music generator):

  apt-get install fluidsynth fluid-soundfont-gm && pip install pretty-midi
  vmas codec make-corpus --out /tmp/codec_corpus --songs 160 --seconds 24 --seed 0
  vmas codec train --config configs/codec_bundled.py --workdir /tmp/codec_bundled \
      --audio /tmp/codec_corpus
  vmas codec export --workdir /tmp/codec_bundled --out vmas_jax/assets/codec

Architecture: SEANet with 8 base filters (widths 8..128), 2-layer LSTMs, 64-dim latents,
4 x 2048 EMA codebooks; 32 kHz mono, hop 640 (50 Hz codes), the interface of
facebook/encodec_32khz.  About 1.6 M parameters (6.5 MB in fp32).
"""

from vmas_jax.train.codec_config import codec_base_config


def get_config(arg: str | None = None):
  del arg
  c = codec_base_config()
  c.name = "codec_bundled"
  c.total_steps = 2550
  c.checkpoint_every = 200
  c.nan_policy = "skip"
  c.optim.update(dict(learning_rate=8e-4, warmup_steps=100))
  c.data.update(dict(audio="/tmp/codec_corpus", synthetic_fraction=0.4, global_batch_size=8,
                     segment_seconds=1.0))
  return c
