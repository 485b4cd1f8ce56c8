"""Put generated music into a video: the music video keeps the source's picture, duration and
rotation.

The picture is copied as is (no re-encoding: same packets, timestamps and display matrix) when
the output container can hold its codec and the copy succeeds; otherwise (cinepak, msvideo1,
theora, ... in an mp4) it is decoded and re-encoded as H.264 with the frames' own timestamps
and the source's display rotation.  The music -- a float array [T] or a WAV file, read in
chunks -- is encoded as AAC, trimmed or zero-padded to the video stream's duration, and written
interleaved with the picture by time, so memory does not grow with the video's length.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterator

import av
import numpy as np

from vmas_jax.data.errors import MediaError
from vmas_jax.data.video_io import decoded_frames, open_video

_CHUNK = 8192  # audio samples per AAC encode call
_AHEAD = 0.5   # seconds of audio written ahead of the picture


def mux_music(video_path: str | os.PathLike, audio, sample_rate: int,
              out_path: str | os.PathLike, *, bitrate: int = 192_000) -> Path:
  """Write `out_path` = the video of `video_path` with `audio` as its only audio track.

  audio: mono float array [T] in [-1, 1], or the path of a WAV file at `sample_rate`.
  The output container follows the extension of `out_path` (.mp4 / .mkv / .mov / .webm).
  """
  out_path = Path(out_path)
  tmp = out_path.with_name(out_path.name + ".part" + out_path.suffix)
  out_path.parent.mkdir(parents=True, exist_ok=True)
  try:
    try:
      _mux(video_path, audio, sample_rate, tmp, _format_for(out_path), bitrate, copy=True)
    except (av.FFmpegError, ValueError) as e:
      if isinstance(e, MediaError):
        raise
      # the container refused the copied packets (e.g. no timestamps): re-encode instead
      _mux(video_path, audio, sample_rate, tmp, _format_for(out_path), bitrate, copy=False)
  except BaseException:
    tmp.unlink(missing_ok=True)
    raise
  os.replace(tmp, out_path)  # never leave a half-written output under the final name
  return out_path


def _video_duration(stream, container) -> float:
  if stream.duration is not None and stream.time_base is not None:
    return float(stream.duration * stream.time_base)
  if container.duration is not None:
    return container.duration / av.time_base
  raise MediaError(container.name, "video duration is unknown")


def _mux(video_path, audio, sample_rate, tmp, fmt, bitrate, copy: bool) -> None:
  with open_video(video_path) as (src, vin):
    n = int(round(_video_duration(vin, src) * sample_rate))
    with av.open(str(tmp), "w", format=fmt) as dst:
      frames = None
      if copy and vin.codec_context.name in dst.supported_codecs:
        vout = dst.add_stream_from_template(vin)
      else:
        frames = decoded_frames(src, vin, video_path)
        first = next(frames)
        vout = _h264_stream(dst, vin, first)
      aout = dst.add_stream("aac", rate=sample_rate, layout="mono")
      aout.bit_rate = bitrate
      music = _AudioWriter(dst, aout, _audio_chunks(audio, sample_rate, n), sample_rate)
      if frames is None:
        for packet in src.demux(vin):
          if packet.dts is None:  # the demuxer's final flush packet
            continue
          music.write_until(float(packet.dts * packet.time_base) + _AHEAD)
          packet.stream = vout
          dst.mux(packet)
      else:
        _reencode(dst, vout, vin, first, frames, music)
      music.write_until(float("inf"))


def _h264_stream(dst, vin, first):
  """An H.264 stream for the picture of `vin`, in its time base, with its display rotation."""
  rate = vin.average_rate or vin.guessed_rate or 25
  vout = dst.add_stream("libx264", rate=rate, options={"preset": "veryfast", "crf": "18"})
  # 4:2:0 needs even sizes; a 1-pixel rescale is invisible and plays everywhere
  vout.width, vout.height = first.width + first.width % 2, first.height + first.height % 2
  vout.pix_fmt = "yuv420p"
  vout.time_base = vin.time_base
  vout.codec_context.time_base = vin.time_base
  if getattr(first, "rotation", 0):
    vout.set_display_rotation(first.rotation)
  return vout


def _reencode(dst, vout, vin, first, frames, music) -> None:
  tb = vin.time_base
  step = max(1, int(round(1 / (float(vin.average_rate or vin.guessed_rate or 25) * tb))))
  last = None
  for frame in _chain(first, frames):
    pts = frame.pts if frame.pts is not None else (0 if last is None else last + step)
    if last is not None and pts <= last:  # out of order / duplicate timestamp: drop
      continue
    last = pts
    music.write_until(float(pts * tb) + _AHEAD)
    out = frame.reformat(width=vout.width, height=vout.height, format="yuv420p")
    out.pts, out.time_base = pts, tb
    dst.mux(vout.encode(out))
  dst.mux(vout.encode(None))


def _chain(first, rest):
  yield first
  yield from rest


class _AudioWriter:
  """Encodes audio chunks as they are needed to keep up with the picture."""

  def __init__(self, dst, stream, chunks: Iterator[np.ndarray], sample_rate: int):
    self.dst, self.stream, self.chunks, self.rate = dst, stream, chunks, sample_rate
    self.written = 0
    self.done = False

  def write_until(self, seconds: float) -> None:
    while not self.done and self.written < seconds * self.rate:
      chunk = next(self.chunks, None)
      if chunk is None:
        self.dst.mux(self.stream.encode(None))
        self.done = True
        return
      frame = av.AudioFrame.from_ndarray(chunk[None], format="flt", layout="mono")
      frame.sample_rate, frame.pts = self.rate, self.written
      self.dst.mux(self.stream.encode(frame))
      self.written += chunk.size


def _audio_chunks(audio, sample_rate: int, n: int) -> Iterator[np.ndarray]:
  """Exactly `n` samples (float32, clipped to [-1, 1]) of `audio`, zero-padded, in chunks."""
  if isinstance(audio, (str, os.PathLike)):
    import soundfile as sf
    with sf.SoundFile(str(audio)) as f:
      if f.samplerate != sample_rate:
        raise ValueError(f"{audio}: sample rate {f.samplerate}, expected {sample_rate}")
      source = (b.mean(axis=1) if b.ndim == 2 else b
                for b in f.blocks(_CHUNK, dtype="float32", always_2d=True))
      yield from _exact(source, n)
  else:
    wav = np.asarray(audio, np.float32).reshape(-1)
    yield from _exact((wav[i:i + _CHUNK] for i in range(0, wav.size, _CHUNK)), n)


def _exact(blocks, n: int) -> Iterator[np.ndarray]:
  done = 0
  for b in blocks:
    b = np.clip(b[:n - done], -1.0, 1.0).astype(np.float32)
    if b.size:
      yield b
      done += b.size
    if done >= n:
      return
  while done < n:
    k = min(_CHUNK, n - done)
    yield np.zeros(k, np.float32)
    done += k


def _format_for(path: Path) -> str:
  return {".mp4": "mp4", ".m4v": "mp4", ".mov": "mov", ".mkv": "matroska",
          ".webm": "webm"}.get(path.suffix.lower(), "mp4")
