"""The bundled codec (`vmas_jax/assets/codec`): a small EnCodec fitted to licence-clean music.

  apt-get install fluidsynth fluid-soundfont-gm && pip install -e ".[corpus]"
  vmas codec make-corpus --out /tmp/codec_corpus --songs 160 --seconds 24 --seed 0
  vmas codec train --config codec_bundled --workdir /tmp/codec_bundled
  vmas codec export --workdir /tmp/codec_bundled --out vmas_jax/assets/codec

The run is the fit of `init.kind=lapped` (vmas_jax.train.codec_lapped_init) and no gradient
steps: the SEANet computes the 96-dimensional PCA transform of sine-windowed 1280-sample
frames (hop 640) of 150 batches of the input, and its 4 x 2048 codebooks are residual k-means
of those coefficients; ~2 minutes on a 2-core CPU.  Gradient steps from it
(`--config.total_steps=N`) need `--config.optim.param_scale=1e-3` (steps relative to each
tensor's size: the fitted weights span 1e-4..1e4); 1500 of them raise onset F1 on held-out
melodies but lower real-music log-mel and pitch (README, "Audio codec"), so none are taken.

The corpus is random MIDI songs rendered with FluidSynth and the MIT-licensed FluidR3 GM
sound font; 40 % of the segments come from the synthetic music generator.

Architecture: SEANet with 10 base filters (widths 10..160), 1-layer LSTMs, kernels of 3 at
the ends, 96-dim latents, 4 x 2048 codebooks; 32 kHz mono, hop 640 (50 Hz codes), the
interface of facebook/encodec_32khz.  1.8 M parameters, 7.3 MB in fp32.
"""

from vmas_jax.train.codec_config import codec_base_config


def get_config(arg: str | None = None):
  del arg
  c = codec_base_config()
  c.name = "codec_bundled"
  c.total_steps = 0
  c.codec.update(dict(num_filters=10, hidden_size=96, num_lstm_layers=1, kernel_size=3,
                      last_kernel_size=3))
  c.init.update(dict(kind="lapped", dims=96, batches=150, kmeans_iters=15))
  c.data.update(dict(audio="/tmp/codec_corpus", synthetic_fraction=0.4, global_batch_size=8,
                     segment_seconds=1.0))
  return c
