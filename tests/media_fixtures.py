"""Small media files written with PyAV for the video I/O and beat tests."""

from __future__ import annotations

from fractions import Fraction

import av
import numpy as np


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
