"""One source video -> its training clips: probe, decode, encode, beat curves, JPEG/features
(or, for music alone, `local_music_clips`: codes and the onset curve, no frames).

`video_clips(path, settings)` is the unit of work of the dataset builder (one call per source
file, in plain Python or inside an Apache Beam worker).  It raises `MediaError` naming the
file and the problem for every kind of unusable input, so the builder can skip and report it.
`settings` is a plain dict (picklable for Beam) made by `clip_settings(config)`.
"""

from __future__ import annotations

import functools
import hashlib
import io
import json
import math
import os
from pathlib import Path

import av
import numpy as np

from vmas_jax.data.errors import MediaError

# a clip may lose this fraction of its frames/samples at the end of a file (rounding,
# slightly short streams) before the file counts as truncated; the pipeline masks padding
MISSING_TOLERANCE = 0.05


def clip_settings(config) -> dict:
  """The fields of a full config that decide what the builder writes (a plain dict)."""
  d, v, c = config.data, config.video, config.codec
  return dict(
      clip_seconds=float(d.clip_seconds), fps=float(v.video_fps), image_size=int(v.image_size),
      motion_fps=float(v.motion_fps),
      frames_format=str(d.frames_format), store_waveform=bool(d.store_waveform),
      beat_embeddings=bool(d.beat_embeddings), mode=str(d.mode),
      validation_fraction=float(d.validation_fraction),
      jpeg_quality=int(d.jpeg_quality), sample_rate=int(c.sample_rate),
      frame_rate=int(c.frame_rate), num_codebooks=int(c.num_codebooks),
      codec=c.to_dict(), video=v.to_dict())


def split_of(key: str, validation_fraction: float) -> str:
  """Deterministic train/validation assignment of a whole source video from its `key` (its
  path relative to the input root), so all clips of a video land in one split."""
  h = int(hashlib.sha256(key.encode()).hexdigest()[:8], 16)
  return "validation" if h / 16**8 < validation_fraction else "train"


def probe_streams(path) -> float:
  """Usable duration in seconds (shorter of the audio and video streams); raises MediaError
  for empty/unreadable files and files without an audio or a video stream."""
  if not os.path.isfile(path):
    raise MediaError(path, "no such file")
  if os.path.getsize(path) == 0:
    raise MediaError(path, "empty file (0 bytes)")
  try:
    with av.open(str(path)) as box:
      video = [s for s in box.streams if s.type == "video"]
      audio = [s for s in box.streams if s.type == "audio"]
      if not video:
        raise MediaError(path, "no video stream")
      if not audio:
        raise MediaError(path, "no audio stream")
      whole = box.duration / 1e6 if box.duration else None
      lengths = []
      for s in (video[0], audio[0]):
        if s.duration is not None and s.time_base is not None:
          lengths.append(float(s.duration * s.time_base))
        elif whole is not None:
          lengths.append(whole)
  except av.error.FFmpegError as e:
    raise MediaError(path, f"unreadable media ({type(e).__name__}: {e.strerror or e})") from e
  if not lengths:
    raise MediaError(path, "unknown duration")
  return min(lengths)


@functools.lru_cache(maxsize=2)
def _codec(codec_json: str):
  """Codec module + variables and a jitted encoder, built once per process (Beam worker)."""
  import jax

  import ml_collections
  from vmas_jax.build import make_codec
  module, variables = make_codec(ml_collections.ConfigDict(json.loads(codec_json)))
  encode = jax.jit(lambda v, wav: module.apply(v, wav, method="encode"))
  return encode, variables


def encode_codes(wav: np.ndarray, settings: dict) -> np.ndarray:
  """wav float32 [S] -> codes int16 [K, F] with F = clip_seconds * frame_rate."""
  encode, variables = _codec(json.dumps(settings["codec"], sort_keys=True))
  codes = np.asarray(encode(variables, wav[None].astype(np.float32)))[0]
  num = int(round(settings["clip_seconds"] * settings["frame_rate"]))
  codes = codes[:, :num]
  if codes.shape[1] < num:  # the codec may drop a partial last frame
    codes = np.pad(codes, ((0, 0), (0, num - codes.shape[1])), mode="edge")
  return codes.astype(np.int16)


def jpeg_bytes(frames: np.ndarray, quality: int) -> np.ndarray:
  """uint8 [T, H, W, 3] -> object [T] of JPEG bytes."""
  from PIL import Image
  out = np.empty(len(frames), dtype=object)
  for i, f in enumerate(frames):
    buf = io.BytesIO()
    Image.fromarray(f).save(buf, format="JPEG", quality=quality)
    out[i] = buf.getvalue()
  return out


def _check_length(path, have: int, want: int, what: str, start: float) -> None:
  if have < want * (1 - MISSING_TOLERANCE) - 1:
    raise MediaError(path, f"truncated: decoded {have} of {want} {what} "
                     f"in the clip at {start:.2f} s")


def video_clips(path, settings: dict):
  """Yield (key, example) for every whole clip of `path` (local, or gs:// etc. via a local
  copy); raises MediaError if unusable.  See `local_video_clips`."""
  path = str(path)
  if "://" not in path:
    return local_video_clips(path, settings)
  import tempfile
  from etils import epath
  with tempfile.TemporaryDirectory() as tmp:
    local = Path(tmp) / Path(path).name
    try:
      epath.Path(path).copy(local)
    except Exception as e:  # pylint: disable=broad-except
      raise MediaError(path, f"cannot copy to a local file ({type(e).__name__}: {e})") from e
    try:
      return local_video_clips(local, settings, name=path)
    except MediaError as e:
      raise MediaError(path, e.reason) from e


def local_video_clips(path, settings: dict, name: str | None = None):
  """(key, example) for every whole clip of a local file; raises MediaError if unusable.

  Clips are consecutive windows of clip_seconds; the remainder shorter than a clip is dropped.
  All clips are decoded before the first is yielded, so a file is either fully in the
  dataset or fully skipped.
  """
  from vmas_jax.beats import music_beat_curve
  from vmas_jax.conditioning import clip_conditioning
  from vmas_jax.data.audio_io import load_audio

  path = str(path)
  mode = settings["mode"]
  if mode != "paired":  # files without a picture (or, music_only, every file): music alone
    from vmas_jax.data.music_only import has_picture
    if mode == "music_only" or not has_picture(path):
      return local_music_clips(path, settings, name)
  seconds, fps = settings["clip_seconds"], settings["fps"]
  sr = settings["sample_rate"]
  num_frames = int(round(seconds * fps))
  num_codes = int(round(seconds * settings["frame_rate"]))
  num_samples = int(round(seconds * sr))
  duration = probe_streams(path)
  count = int(math.floor(duration / seconds + 0.01))  # a few ms short still makes a clip
  if count == 0:
    raise MediaError(path, f"shorter than one clip ({duration:.2f} s < {seconds:g} s)")
  name = name or path  # what ids, keys and `source` are derived from
  stem = hashlib.sha1(name.encode()).hexdigest()[:10]
  examples = []
  for i in range(count):
    start = i * seconds
    cond = clip_conditioning(path, start, seconds, settings)
    n = cond.num_valid
    _check_length(path, n, num_frames, "video frames", start)
    wav = np.asarray(load_audio(path, sr, start=start, duration=seconds), np.float32)
    wav = wav.reshape(-1)
    _check_length(path, len(wav), num_samples, "audio samples", start)
    wav = np.pad(wav[:num_samples], (0, max(0, num_samples - len(wav))))
    frames, rel_times = cond.frames[:n], cond.times[:n]
    features = None if cond.features is None else cond.features[:n]
    music, _ = music_beat_curve(wav, sr, num_codes, frame_rate=settings["frame_rate"])
    video = cond.video_beat
    example = dict(
        id=f"{Path(name).stem}-{stem}-{i:04d}", source=name, start=np.float32(start),
        frame_times=rel_times, codes=encode_codes(wav, settings),
        music_beat=np.asarray(music, np.float32), video_beat=np.asarray(video, np.float32),
        has_video=True)
    if settings["frames_format"] == "features":
      example["features"] = features.astype(np.float16)
    else:
      example["frames"] = jpeg_bytes(frames, settings["jpeg_quality"])
    if settings["store_waveform"]:
      example["waveform"] = wav
    examples.append((f"{stem}-{i:04d}", example))
  return examples


def _no_frames(settings: dict) -> dict:
  """The video field of a clip without a picture: no JPEGs, or one zero frame of features
  (TFDS cannot restore the shape of an empty [0, P, Df] tensor; `frame_times` stays empty,
  so the pipeline reads no frame of it)."""
  if settings["frames_format"] == "features":
    from vmas_jax.conditioning import frame_features
    size = settings["image_size"]
    shape = frame_features(np.zeros((1, size, size, 3), np.uint8), settings).shape
    return {"features": np.zeros(shape, np.float16)}
  return {"frames": np.zeros(0, dtype=object)}


def local_music_clips(path, settings: dict, name: str | None = None):
  """(key, example) for every whole clip of the audio of a local file, as music-only clips
  (`has_video` False, no frames, `video_beat` zeros: the pipeline fills it); raises
  MediaError if unusable.  Like `local_video_clips`, all or nothing per file."""
  from vmas_jax import beats
  from vmas_jax.data.audio_io import audio_info, load_audio
  path = str(path)
  seconds, sr, rate = settings["clip_seconds"], settings["sample_rate"], settings["frame_rate"]
  num_codes, num_samples = int(round(seconds * rate)), int(round(seconds * sr))
  duration = audio_info(path).duration
  count = int(math.floor(duration / seconds + 0.01))
  if count == 0:
    raise MediaError(path, f"shorter than one clip ({duration:.2f} s < {seconds:g} s)")
  name = name or path
  stem = hashlib.sha1(name.encode()).hexdigest()[:10]
  empty = _no_frames(settings)
  examples = []
  for i in range(count):
    start = i * seconds
    wav = np.asarray(load_audio(path, sr, start=start, duration=seconds), np.float32)
    _check_length(path, len(wav), num_samples, "audio samples", start)
    wav = np.pad(wav[:num_samples], (0, max(0, num_samples - len(wav))))
    music, _ = beats.music_beat_curve(wav, sr, num_codes, frame_rate=rate)
    example = dict(
        id=f"{Path(name).stem}-{stem}-{i:04d}", source=name, start=np.float32(start),
        frame_times=np.zeros(0, np.float32), codes=encode_codes(wav, settings),
        music_beat=np.asarray(music, np.float32), video_beat=np.zeros(num_codes, np.float32),
        has_video=False, **empty)
    if settings["store_waveform"]:
      example["waveform"] = wav
    examples.append((f"{stem}-{i:04d}", example))
  return examples
