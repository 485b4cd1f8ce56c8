"""Text + video: the steering experiment's recipe (`vmas bench text-video`, CPU, ~12 min).

  vmas bench text-video --config text_video --workdir /tmp/vmas_text_video

The `alignment` recipe (bundled codec, stored tiny-ViT features, 4-second clips, a 4-layer
decoder, 600 steps) with text conditioning on: a random 2-layer T5 over UTF-8 bytes (ByT5
tokenizer, no files) whose captions name each clip's palette colour.  Text and video are
dropped independently (0.3 each), so guidance can weigh them: the video by 3, as the
alignment recipe, the text by 6 (with 3 a "red" prompt under a blue video made the note red
in 10 of 16 held-out clips, with 6 in 14; the beat stays the video's).
"""

from vmas_jax.configs import alignment


def get_config(arg: str | None = None):
  c = alignment.without_rhythm(alignment.get_config(arg))  # as its README figures were measured
  c.name = "text_video"
  c.checkpoint_every = 200  # a cut-short run still leaves a checkpoint to evaluate
  c.decoder.update(dict(cond_dropout=0.3))
  c.text.update(dict(enabled=True, tokenizer="byt5", max_tokens=8, cond_dropout=0.3,
                     d_model=64, d_kv=16, d_ff=128, num_layers=2, num_heads=4))
  c.sampling.update(dict(guidance_text=6.0, guidance_video=3.0))
  return c
