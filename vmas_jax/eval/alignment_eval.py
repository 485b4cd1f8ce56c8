"""Generate music for held-out synthetic videos three ways and measure each from the audio.

  conditions: "video"          the model, given each clip's own video and beat curve
              "shuffled"       the same model given another clip's video (a fixed derangement)
              "unconditional"  the same model's own unconditional samples (null memory, no
                               beat curve)
  reference:  "codec"          the clip's true soundtrack through the codec (the ceiling)

All clips of a condition are sampled in one batch.  Every figure is scored against the
ground truth of the clip's *own* video (`alignment_metrics.clip_metrics`); retrieval ranks,
for each video, the music generated for every clip by contrastive similarity.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from vmas_jax.conditioning import clip_conditioning
from vmas_jax.data import clips
from vmas_jax.data.audio_io import load_audio
from vmas_jax.eval import alignment_metrics as am
from vmas_jax.build import make_codec
from vmas_jax.models.codec import jitted_codec
from vmas_jax.sample import Sampler

CONDITIONS = ("video", "shuffled", "unconditional")
METRICS = ("beat_f1", "beat_hit", "beat_alignment", "tempo_error", "colour_correct")


def derangement(n: int, seed: int = 0) -> np.ndarray:
  """A permutation of range(n) with no fixed point (n >= 2)."""
  rng = np.random.default_rng(seed)
  while True:
    p = rng.permutation(n)
    if n < 2 or not np.any(p == np.arange(n)):
      return p


def heldout_inputs(labels, config) -> dict:
  """Stacked conditioning of every held-out video's first clip: video [N, T, ...], times,
  mask [N, T], video_beat [N, F]."""
  settings = clips.clip_settings(config)
  seconds = float(config.data.clip_seconds)
  cs = [clip_conditioning(v["path"], 0.0, seconds, settings) for v in labels]
  return dict(video=np.stack([c.video for c in cs]), times=np.stack([c.times for c in cs]),
              mask=np.stack([c.mask for c in cs]), video_beat=np.stack([c.video_beat
                                                                        for c in cs]))


def _summary(per_clip: list[dict]) -> dict:
  return {m: float(np.mean([c[m] for c in per_clip])) for m in METRICS}


def _score_audio(wavs, sample_rate, labels) -> list[dict]:
  return [am.clip_metrics(w, sample_rate, truth) for w, truth in zip(wavs, labels)]


@functools.lru_cache(maxsize=4)
def _model_fns(model):
  encode = jax.jit(lambda p, v, t, m, c: model.apply({"params": p}, v, t, m, c,
                                                     method="encode_video"))
  embed = jax.jit(lambda p, codes: model.apply({"params": p}, codes, method="embed_music"))
  return encode, embed


def evaluate_model(model, params, config, labels, inputs, *, seed: int = 0) -> dict:
  """{condition: {"mean": {metric: value, "r@1", "r@5"}, "clips": [...]}} for a trained
  VMAS `model` with `params` on the held-out `labels` / `inputs` (`heldout_inputs`)."""
  codec, codec_vars = make_codec(config.codec)
  decode = jitted_codec(codec.config, codec.dtype)[1]
  encode_video, embed_music = _model_fns(model)
  sc = config.sampling
  sr, fr = int(config.codec.sample_rate), int(config.codec.frame_rate)
  n, frames = inputs["video_beat"].shape
  cond = encode_video(params, inputs["video"], inputs["times"], inputs["mask"],
                      inputs["video_beat"])
  memory, memory_mask, offsets = cond["memory"], cond["memory_mask"], cond["offsets"]
  # unconditional rows: the null memory and no beat curve, in the conditional rows' shapes
  # (one sampler compilation serves all three; guidance between two null rows is a no-op)
  null = jnp.broadcast_to(params["decoder"]["null_memory"].astype(memory.dtype), memory.shape)
  perm = derangement(n, seed)
  setups = {
      "video": (memory, memory_mask, offsets),
      "shuffled": (memory[perm], memory_mask[perm], None if offsets is None else offsets[perm]),
      "unconditional": (null, jnp.ones_like(memory_mask),
                        None if offsets is None else jnp.zeros_like(offsets))}
  sampler = Sampler(model.decoder_config, params["decoder"])
  out = {}
  for i, (name, (mem, mask, offs)) in enumerate(setups.items()):
    codes = sampler.sample(mem, mask, frames, jax.random.key(seed * 100 + i),
                           top_k=int(sc.top_k), top_p=float(sc.top_p),
                           temperature=float(sc.temperature),
                           guidance_scale=float(sc.guidance_scale), input_offsets=offs)
    wavs = np.asarray(decode(codec_vars, codes))[:, :int(round(frames / fr * sr))]
    per_clip = _score_audio(wavs, sr, labels)
    sim = np.asarray(cond["video_embed"] @ embed_music(params, codes).T)  # video i, music j
    mean = dict(_summary(per_clip), **{"r@1": am.recall_at_k(sim, 1),
                                       "r@5": am.recall_at_k(sim, 5)})
    out[name] = dict(mean=mean, clips=per_clip, codes=np.asarray(codes), wavs=wavs)
  return out


def soundtracks(labels, config) -> np.ndarray:
  """The held-out clips' own audio, float32 `[N, clip_seconds * sample_rate]` (zero-padded)."""
  sr = int(config.codec.sample_rate)
  n = int(round(float(config.data.clip_seconds) * sr))
  wav = np.zeros((len(labels), n), np.float32)
  for i, v in enumerate(labels):
    w = np.asarray(load_audio(v["path"], sr, duration=n / sr), np.float32).reshape(-1)[:n]
    wav[i, :len(w)] = w
  return wav


def evaluate_codec(config, labels) -> dict:
  """The reference row: each clip's true soundtrack encoded and decoded by the codec."""
  codec, codec_vars = make_codec(config.codec)
  encode, decode = jitted_codec(codec.config, codec.dtype)
  sr = int(config.codec.sample_rate)
  wav = soundtracks(labels, config)
  n = wav.shape[1]
  recon = np.asarray(decode(codec_vars, encode(codec_vars, jnp.asarray(wav))))[:, :n]
  per_clip = _score_audio(recon, sr, labels)
  return dict(mean=_summary(per_clip), clips=per_clip, wavs=recon)
