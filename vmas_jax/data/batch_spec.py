"""The training batch, in one place: `batch_spec(config, batch_size)` gives every field's
shape and dtype.  The Grain pipeline, the in-memory source, the model, the training loop,
the benchmarks and the tests all follow it (docs/ARCHITECTURE.md, "The batch").

  codes        int32   [B, K, F]          codec tokens of the clip's music
  frames       uint8   [B, T, H, H, 3]    RGB frames (data.frames_format "jpeg"), or
  features     float32 [B, T, P, Df]      pre-extracted frame-backbone tokens ("features")
  frame_times  float32 [B, T]             seconds from the clip's start
  frame_mask   bool    [B, T]             False on padding frames past the video's end
  video_beat   float32 [B, F]             video beat curve in [0, 1], one value a codec frame
  music_beat   float32 [B, F]             music beat curve in [0, 1] (the beat head's target)
  has_video    bool    [B]                False: a music-only clip (no picture; data.mode)
  text_ids     int32   [B, L]             caption tokens (text.enabled only; L = text.max_tokens)
  text_mask    int32   [B, L]             1 on the caption's tokens, 0 on padding

K = codec.num_codebooks, F = data.clip_seconds * codec.frame_rate, T = data.clip_seconds *
video.video_fps, H = video.image_size, P = video.tokens_per_frame, Df = the frame backbone's
width.  A new field is one more entry in `_fields` (and in each source that fills it).
"""

from __future__ import annotations

import jax
import numpy as np


def uses_features(config) -> bool:
  """Whether batches carry pre-extracted frame features instead of frames."""
  return config.data.frames_format == "features" or bool(config.video.use_features)


def clip_sizes(config, feature_dim: int | None = None) -> dict[str, int]:
  """Sizes of one clip: K codebooks, F codec frames, T video frames, H, P, Df.

  feature_dim: the frame backbone's width (`TemporalVideoEncoder.feature_dim`); default
  video.temporal_dim.
  """
  v, seconds = config.video, config.data.clip_seconds
  return dict(K=int(config.codec.num_codebooks), F=int(round(seconds * config.codec.frame_rate)),
              T=int(round(seconds * v.video_fps)), H=int(v.image_size), P=int(v.tokens_per_frame),
              Df=int(feature_dim or v.temporal_dim))


def _fields(config, feature_dim):
  s = clip_sizes(config, feature_dim)
  k, f, t = s["K"], s["F"], s["T"]
  video = (("features", (t, s["P"], s["Df"]), np.float32) if uses_features(config) else
           ("frames", (t, s["H"], s["H"], 3), np.uint8))
  return [("codes", (k, f), np.int32), video, ("frame_times", (t,), np.float32),
          ("frame_mask", (t,), np.bool_), ("video_beat", (f,), np.float32),
          ("music_beat", (f,), np.float32), ("has_video", (), np.bool_)] + (
              [("text_ids", (config.text.max_tokens,), np.int32),
               ("text_mask", (config.text.max_tokens,), np.int32)] if config.text.enabled else [])


def batch_spec(config, batch_size: int, feature_dim: int | None = None,
               sharding=None) -> dict[str, jax.ShapeDtypeStruct]:
  """{field: ShapeDtypeStruct [batch_size, ...]} of a batch of `config` (see the module
  docstring); `sharding`, when given, is set on every field."""
  return {name: jax.ShapeDtypeStruct((batch_size,) + shape, np.dtype(dtype), sharding=sharding)
          for name, shape, dtype in _fields(config, feature_dim)}


def check_batch(batch: dict, spec: dict, where: str) -> None:
  """Raise naming the first field of `batch` (numpy or jax arrays, any batch size) that is
  missing from, or does not match, `spec`."""
  for name, want in spec.items():
    if name not in batch:
      raise ValueError(f"{where}: the batch has no {name!r} field (fields: {sorted(batch)})")
    got = batch[name]
    if tuple(got.shape[1:]) != tuple(want.shape[1:]) or np.dtype(got.dtype) != want.dtype:
      raise ValueError(f"{where}: batch field {name!r} is {got.dtype}{list(got.shape)}, the "
                       f"config's batch has {want.dtype}[B, {', '.join(map(str, want.shape[1:]))}]")
