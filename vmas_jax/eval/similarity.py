"""Video–music similarity and retrieval with a trained run's contrastive heads.

For each (video, music) pair, the first trained-length window of both: the video through the
run's video encoder and projection, the music through its codec and the decoder with the
null memory (so the music embedding does not see the video), then the cosine similarity.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from tqdm import tqdm

from vmas_jax.data.audio_io import load_audio
from vmas_jax.data.errors import MediaError
from vmas_jax.eval.retrieval import retrieval_metrics


def video_music_similarity(workdir, pairs: list[dict], *, progress: bool = True
                           ) -> tuple[dict[str, float], list[dict], dict[str, float]]:
  """pairs [{"video", "wav"}] -> ({wav: cosine similarity}, skipped [{path, reason}],
  retrieval metrics over the scored pairs (empty for fewer than 2))."""
  from vmas_jax.generate import MusicVideoPipeline
  from vmas_jax.models.codec import jitted_codec
  pipe = MusicVideoPipeline.from_workdir(workdir)
  s = pipe.settings
  encode = jitted_codec(pipe.codec.config, pipe.codec.dtype)[0]
  embed = jax.jit(lambda p, batch: pipe.model.apply(
      {"params": p}, batch, drop_condition=jnp.ones((1,), bool)))
  key = "features" if s["frames_format"] == "features" else "frames"
  sims, skipped, music, video = {}, [], [], []
  for pair in tqdm(pairs, desc="similarity", disable=not progress or not pairs):
    try:
      wav = load_audio(pair["wav"], s["sample_rate"])
      seconds = min(float(pipe.config.data.clip_seconds), len(wav) / s["sample_rate"])
      frames, times, mask, curve = pipe._window_inputs(pair["video"], 0.0, seconds)
    except (MediaError, FileNotFoundError) as e:
      skipped.append({"path": pair["wav"], "reason": str(e)})
      continue
    codes = encode(pipe.codec_vars, jnp.asarray(wav[None, :int(seconds * s["sample_rate"])]))
    n = min(codes.shape[-1], curve.shape[0])
    batch = {"codes": codes[..., :n].astype(jnp.int32), key: jnp.asarray(frames)[None],
             "frame_times": jnp.asarray(times)[None], "frame_mask": jnp.asarray(mask)[None],
             "video_beat": jnp.asarray(curve[:n])[None],
             **pipe.text_inputs("")}  # a text + video run reads a caption: the empty one
    out = embed(pipe.params, batch)
    m, v = np.asarray(out.music_embed[0]), np.asarray(out.video_embed[0])
    sims[pair["wav"]] = float(m @ v)
    music.append(m)
    video.append(v)
  retrieval = retrieval_metrics(np.stack(music), np.stack(video)) if len(music) > 1 else {}
  return sims, skipped, retrieval
