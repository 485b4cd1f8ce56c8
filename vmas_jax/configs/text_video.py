"""Text + video: the steering experiment's recipe (`vmas bench text-video`, CPU, ~15 min).

  vmas bench text-video --config text_video --workdir /tmp/vmas_text_video

The `alignment` recipe (bundled codec, stored tiny-ViT features) made smaller -- 2-second
clips, a 3-layer decoder -- with text conditioning on: a random 2-layer T5 over UTF-8 bytes
(ByT5 tokenizer, no files) whose captions name each clip's palette colour.  Text and video
are dropped independently (0.3 each), so guidance can weigh them.
"""

from vmas_jax.configs import alignment


def get_config(arg: str | None = None):
  c = alignment.get_config(arg)
  c.name = "text_video"
  c.total_steps = 500
  c.checkpoint_every = 100  # a cut-short run still leaves a checkpoint to evaluate
  c.log_every = 50
  c.decoder.update(dict(num_layers=3, d_model=128, num_heads=4, ffn_dim=256, cond_dropout=0.3))
  c.text.update(dict(enabled=True, tokenizer="byt5", max_tokens=8, cond_dropout=0.3,
                     d_model=64, d_kv=16, d_ff=128, num_layers=2, num_heads=4))
  c.data.update(dict(synthetic_examples=96, clip_seconds=2.0, global_batch_size=16))
  c.sampling.update(dict(top_k=50, guidance_text=3.0, guidance_video=1.0))
  return c
