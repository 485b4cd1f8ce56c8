"""Music-only training on synthetic music, the recipe of `vmas bench music-only` (CPU, minutes).

  vmas bench music-only --workdir /tmp/vmas_music_only

The `alignment` config (bundled codec, 4-second clips, 4 fps features, a random tiny ViT)
with `data.mode="music_only"`: the training clips are the synthetic videos' soundtracks
alone (WAV files, no pictures), each conditioned on its own jittered, thinned onset curve
through the null memory; a smaller decoder and fewer steps, so it trains in minutes.
"""

from vmas_jax.configs import alignment


def get_config(arg: str | None = None):
  c = alignment.without_rhythm(alignment.get_config(arg))  # as its README figures were measured
  c.name = "music_only"
  c.total_steps = 240
  c.checkpoint_every = 240
  c.eval_every = 0
  c.log_every = 20
  c.decoder.update(dict(num_layers=2, d_model=96, num_heads=4, ffn_dim=384))
  c.optim.update(dict(learning_rate=2e-3, warmup_steps=30))
  c.data.update(dict(mode="music_only", synthetic_examples=64, global_batch_size=8))
  return c
