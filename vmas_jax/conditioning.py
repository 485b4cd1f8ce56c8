"""A clip's video conditioning, computed one way for dataset preparation and for generation.

  c = clip_conditioning("clip.mp4", start=0.0, seconds=10.0, settings=clips.clip_settings(cfg))
  c.video            # frames uint8 [T, S, S, 3] or features [T, P, Df] (settings' frames_format)
  c.video_beat       # float32 [F]: the video beat curve on the codec frame grid

The backbone frames are sampled at `fps` (the config's `video.video_fps`); the motion part
of the beat curve comes from a second, cheap decode of low-resolution grey frames at
`motion_fps` (>= 24 fps), since a few frames per second put a flash up to a frame period
away from where it happened.  `vmas prepare` stores exactly what this returns and
`vmas generate` feeds it to the model, so training and inference see the same curve.
"""

from __future__ import annotations

import dataclasses
import functools
import json

import numpy as np

from vmas_jax import beats
from vmas_jax.data.video_io import read_clip, read_frames

MOTION_SIZE = 32  # pixels of the grey frames the motion energy is measured on


@dataclasses.dataclass
class ClipConditioning:
  frames: np.ndarray           # uint8 [T, S, S, 3], padded past the end of the video
  times: np.ndarray            # float32 [T] seconds from the clip start
  mask: np.ndarray             # bool [T]: False for padding
  features: np.ndarray | None  # float32 [T, P, Df] frame-backbone tokens (slot 0 = embedding)
  video_beat: np.ndarray       # float32 [F], F = round(seconds * frame_rate)
  frames_format: str           # "jpeg" (the model reads frames) | "features"

  @property
  def video(self) -> np.ndarray:
    """What the model's video encoder reads: features or frames."""
    return self.features if self.frames_format == "features" else self.frames

  @property
  def num_valid(self) -> int:
    return int(self.mask.sum())


def motion_frames(path, start: float, seconds: float, fps: float):
  """Grey frames float32 [T_m, MOTION_SIZE, MOTION_SIZE] sampled at `fps` and their times
  [T_m] (seconds from `start`).

  A sample that repeats the previous one exactly (the source's own rate is below `fps`, or
  it holds a frame) is dropped: the change is then measured between distinct frames, so a
  source at a few fps gives one peak per change, not a spike at every new frame.
  """
  frames, times = read_frames(path, fps, MOTION_SIZE, start=start, duration=seconds)
  keep = np.concatenate([[True], np.any(frames[1:] != frames[:-1], axis=(1, 2, 3))])
  grey = beats.low_res_gray(frames[keep], MOTION_SIZE)
  return grey, np.asarray(times, np.float64)[keep] - start


def clip_conditioning(path, start: float, seconds: float, settings: dict) -> ClipConditioning:
  """Frames (+ backbone features) and the video beat curve of `seconds` of `path` from
  `start`; `settings` from `vmas_jax.data.clips.clip_settings`.  Raises MediaError for
  unusable files."""
  s = settings
  frames, times, mask = read_clip(path, start, seconds, s["fps"], s["image_size"])
  times = (times - start).astype(np.float32)
  n = int(mask.sum())
  features = None
  if s["frames_format"] == "features" or s["beat_embeddings"]:
    features = frame_features(frames, s)
  grey, grey_times = motion_frames(path, start, seconds, s["motion_fps"])
  curve = beats.video_beat_curve(
      int(round(seconds * s["frame_rate"])), s["frame_rate"],
      embeds=None if features is None else features[:n, 0], embed_times=times[:n],
      motion=grey, motion_times=grey_times)
  return ClipConditioning(frames=frames, times=times, mask=mask, features=features,
                          video_beat=curve, frames_format=s["frames_format"])


@functools.lru_cache(maxsize=2)
def _backbone(video_json: str):
  """Frame backbone + its variables (imported, or random with a fixed seed) and a jitted
  feature extractor, built once per process (Beam worker)."""
  import jax
  import jax.numpy as jnp
  import ml_collections
  from flax import linen as nn
  from vmas_jax.build import frame_backbone
  from vmas_jax.models.frame_features import frame_features as features_fn
  cfg = ml_collections.ConfigDict(json.loads(video_json))
  module, variables = frame_backbone(cfg, load_weights=True)
  if variables is None:  # no pretrained weights: deterministic random init, same everywhere
    size = int(cfg.image_size)
    init = jax.jit(functools.partial(module.init, method="frame_tokens"))  # one compile
    variables = init(jax.random.PRNGKey(0), jnp.zeros((1, size, size, 3)))
  params = nn.unbox(variables)["params"]
  extract = jax.jit(lambda p, f: features_fn(module, p, f, int(cfg.tokens_per_frame),
                                             int(cfg.chunk_size)))
  return extract, params


def frame_features(frames: np.ndarray, settings: dict) -> np.ndarray:
  """uint8 [T, H, W, 3] -> float32 [T, P, Df] pre-extracted frame-backbone tokens."""
  extract, params = _backbone(json.dumps(settings["video"], sort_keys=True))
  return np.asarray(extract(params, frames), np.float32)
