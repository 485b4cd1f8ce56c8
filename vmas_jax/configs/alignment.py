"""The alignment experiment's recipe, and the bundled demo model's (CPU, under an hour).

  vmas bench alignment --config alignment --workdir /tmp/vmas_alignment
  vmas bench alignment --config alignment --variants full \
      --export vmas_jax/assets/demo_model           # the bundled demo model

A 4-layer, 128-wide decoder over the bundled codec's tokens (vmas_jax/assets/codec; a
random tiny codec when it is absent), reading the video beat curve 4 codec frames ahead
(`model.beat_lookahead`, the default), trained on 512 synthetic aligned videos of 4 s whose
frame features (random tiny ViT, 4 fps) are stored in the dataset, so training never runs
the backbone.  Their tempos are any between 60 and 150 bpm except within 5 bpm of the
held-out ones, their beats lie on the codec's 20 ms frames, and at each beat the colour (and
note) changes with probability 0.5: the music so far then predicts neither when the next
note falls nor which it is, and the decoder learns to read both from the video.  Both
contrastive embeddings also read their clip's rhythm (`model.contrastive_rhythm`), at a
contrastive weight of 0.03; sampling at temperature 0.7 and guidance 2.5 was chosen on a
validation split of 32 other held-out-style clips, not on the held-out set.
`get_config("codec=DIR")` uses another codec.
"""

import json
from pathlib import Path

from vmas_jax.config_defaults import base_config
from vmas_jax.models.codec import BUNDLED_CODEC



def _use_codec(c, folder: Path) -> None:
  """Point the config at an HF EnCodec folder and match its codebooks."""
  from vmas_jax.models.codec import EncodecConfig
  codec = EncodecConfig.from_hf_config(json.loads((folder / "config.json").read_text()))
  c.codec.hf_path = str(folder)
  c.codec.update(dict(sample_rate=codec.sample_rate, frame_rate=codec.frame_rate,
                      num_codebooks=codec.num_codebooks, codebook_size=codec.codebook_size))


def get_config(arg: str | None = None):
  c = base_config("tiny")
  c.name = "alignment"
  c.total_steps = 600
  c.checkpoint_every = 600
  c.keep_checkpoints = 1
  c.log_every = 50
  c.codec.update(dict(hf_path="", arch="tiny"))
  codec = Path(arg.split("=", 1)[1]) if arg and arg.startswith("codec=") else BUNDLED_CODEC
  if (codec / "config.json").is_file():
    _use_codec(c, codec)
  c.decoder.update(dict(num_layers=4, d_model=128, num_heads=4, ffn_dim=512,
                        max_positions=256, dtype="float32", scan_layers=True))
  c.video.update(dict(backbone="tiny_vit", backbone_path="", image_size=32, video_fps=4.0,
                      use_features=True, standardize_features=True, chunk_size=16, temporal_layers=1, temporal_dim=64,
                      temporal_heads=4, temporal_mlp=128, dtype="float32"))
  c.model.contrastive_dim = 64
  c.model.frame_conditioning = True
  c.model.contrastive_rhythm = True
  c.loss.contrastive_weight = 0.03
  c.optim.update(dict(learning_rate=1e-3, warmup_steps=50))
  c.data.update(dict(synthetic_examples=512, clip_seconds=4.0, global_batch_size=16,
                     frames_format="features", synthetic_beat_grid=0.02,
                     synthetic_continuous_tempo=True, synthetic_colour_change=0.5))
  c.sampling.update(dict(top_k=50, temperature=0.7, guidance_scale=2.5, overlap_seconds=1.0,
                         best_of=1))
  return c


def without_rhythm(c):
  """The recipe before the rhythm-aware contrastive embeddings and the sampling chosen with
  them (contrastive weight 0.1, temperature 1.0, guidance 3.0): the recipe that the
  `music_only` and `text_video` experiments were measured with."""
  c.model.contrastive_rhythm = False
  c.loss.contrastive_weight = 0.1
  c.sampling.update(dict(temperature=1.0, guidance_scale=3.0))
  return c
