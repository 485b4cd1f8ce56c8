"""The bundled codec (`vmas_jax/assets/codec`): a small EnCodec fitted to licence-clean music.

  apt-get install fluidsynth fluid-soundfont-gm && pip install -e ".[corpus]"
  vmas codec make-corpus --out /tmp/codec_corpus --songs 160 --seconds 24 --seed 0
  vmas codec train --config codec_bundled --workdir /tmp/codec_bundled
  vmas codec export --workdir /tmp/codec_bundled --out vmas_jax/assets/codec

The run is the fit of `init.kind=gainshape` (vmas_jax.train.codec_gainshape_init) and no
gradient steps: the SEANet computes the 96-dimensional PCA transform of the band below 4 kHz
in sine-windowed 1280-sample frames (hop 640), and the log-amplitude of 4 bands from 4 to
16 kHz, which its decoder renders as noise of that loudness; the 4 x 2048 codebooks are
residual k-means of its latents on 150 batches of the input; ~2 minutes on a 2-core CPU.

The corpus is random MIDI songs rendered with FluidSynth and the MIT-licensed FluidR3 GM
sound font; 40 % of the segments come from the synthetic music generator.

`--config.init.kind=lapped --config.codec.hidden_size=96` fits the previous bundled codec (the
lapped transform of the whole band: better onsets on synthetic melodies, worse log-mel on real
music; README, "Audio codec").

Architecture: SEANet with 10 base filters (widths 10..160), 1-layer LSTMs, kernels of 3 at
the ends, 100-dim latents (96 PCA + 4 bands), 4 x 2048 codebooks; 32 kHz mono, hop 640 (50 Hz
codes), the interface of facebook/encodec_32khz.  1.8 M parameters, 7.2 MB in fp32.
"""

from vmas_jax.train.codec_config import codec_base_config


def get_config(arg: str | None = None):
  del arg
  c = codec_base_config()
  c.name = "codec_bundled"
  c.total_steps = 0
  c.codec.update(dict(num_filters=10, hidden_size=100, num_lstm_layers=1, kernel_size=3,
                      last_kernel_size=3))
  c.init.update(dict(kind="gainshape", dims=96, split_hz=4000.0, bands=4, log_gain=1.0,
                     batches=150, kmeans_iters=15))
  c.data.update(dict(audio="/tmp/codec_corpus", synthetic_fraction=0.4, global_batch_size=8,
                     segment_seconds=1.0))
  return c
