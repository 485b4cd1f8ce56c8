"""Small media files written with PyAV for the video I/O and beat tests."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from vmas_jax.data import synthetic


def level(i: int) -> int:
  """Gray level that identifies frame i (decodable back with `frame_index`)."""
  return 5 + 6 * (i % 40)


def frame_index(img: np.ndarray) -> int:
  return int(round((float(img.mean()) - 5) / 6))


def write_video(path, frames, times=None, *, codec="libx264", rate=10, rotation=None,
                audio_seconds=0.0, options=None, pix_fmt="yuv420p", audio_codec="aac"):
  """frames: list of uint8 [H, W, 3]; times: seconds per frame (default i / rate)."""
  # Constant rate: time base 1/rate (AVI needs it); explicit times: millisecond time base.
  tb = Fraction(1, rate) if times is None else Fraction(1, 1000)
  times = [i / rate for i in range(len(frames))] if times is None else times
  c = av.open(str(path), "w")
  vs = c.add_stream(codec, rate=rate, options=options or {})
  h, w = frames[0].shape[:2] if frames else (32, 32)
  vs.width, vs.height, vs.pix_fmt = w, h, pix_fmt
  vs.time_base = tb
  vs.codec_context.time_base = tb
  if rotation is not None:
    vs.set_display_rotation(rotation)
  a = _audio_stream(c, audio_codec) if audio_seconds else None  # before the header is written
  if not frames:
    c.start_encoding()  # header + an empty video stream
  for img, t in zip(frames, times):
    f = av.VideoFrame.from_ndarray(img, format="rgb24")
    f.pts = int(round(t / tb))
    f.time_base = tb
    for p in vs.encode(f):
      c.mux(p)
  for p in vs.encode():
    c.mux(p)
  if audio_seconds:
    _write_audio(c, audio_seconds, stream=a)
  c.close()
  return path


def _audio_stream(c, codec="aac", sr=32000):
  a = c.add_stream(codec, rate=sr)
  # FFmpeg's own vorbis encoder is experimental and stereo-only
  a.layout = "stereo" if codec == "vorbis" else "mono"
  a.codec_context.options = {"strict": "experimental"}
  return a


def _write_audio(c, seconds, sr=32000, clicks=(), stream=None):
  a = stream or _audio_stream(c, sr=sr)
  channels = len(a.layout.channels)
  wave = (0.1 * np.sin(2 * np.pi * 440 * np.arange(int(seconds * sr)) / sr)).astype(np.float32)
  for t in clicks:
    wave[int(t * sr):int(t * sr) + 64] = 0.9
  n = 1024
  for i in range(0, len(wave), n):
    f = av.AudioFrame.from_ndarray(np.repeat(wave[None, i:i + n], channels, 0), format="fltp",
                                   layout=a.layout.name)
    f.sample_rate = sr
    f.pts = i
    for p in a.encode(f):
      c.mux(p)
  for p in a.encode():
    c.mux(p)


def write_audio_only(path, seconds=0.5):
  c = av.open(str(path), "w")
  _write_audio(c, seconds)
  c.close()
  return path


def level_frames(n, h=48, w=64):
  return [np.full((h, w, 3), level(i), np.uint8) for i in range(n)]


def make_broken_videos(out_dir, seconds: float = 2.0, size: int = 32,
                       fps: float = 4.0, sample_rate: int = 32000) -> dict[str, str]:
  """Write one unusable file of every kind, for tests of the builder.

  Returns {kind: path} for kinds: empty, unreadable, truncated, no_audio, no_video, too_short.
  `seconds` is the clip length; `too_short` lasts half of it.
  """
  out = Path(out_dir)
  out.mkdir(parents=True, exist_ok=True)
  rng = np.random.default_rng(1)
  beats = synthetic.regular_beats(seconds, 120.0, 0.0)
  frames = synthetic.render_frames(beats, synthetic.PALETTE["red"][0], "square", seconds, fps, size, rng)
  wav = synthetic.render_music(beats, 220.0, (1.0,), seconds, sample_rate)
  paths = {k: out / f"bad_{k}.mp4" for k in
           ("empty", "unreadable", "truncated", "no_audio", "no_video", "too_short")}
  paths["empty"].write_bytes(b"")
  paths["unreadable"].write_bytes(rng.integers(0, 256, 4096, dtype=np.uint8).tobytes())
  # truncated: the index says `seconds` but half of the media data is missing
  synthetic.write_video(paths["truncated"], frames, fps, wav, sample_rate, faststart=True)
  data = paths["truncated"].read_bytes()
  paths["truncated"].write_bytes(data[:len(data) // 2])
  synthetic.write_video(paths["no_audio"], frames, fps, None, sample_rate)
  synthetic.write_video(paths["no_video"], None, fps, wav, sample_rate)
  half = int(len(frames) // 2)
  synthetic.write_video(paths["too_short"], frames[:half], fps, wav[:len(wav) // 2], sample_rate)
  return {k: str(v) for k, v in paths.items()}
