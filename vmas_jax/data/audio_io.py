"""Audio in and out: the audio track of any file PyAV opens, as mono float32 at a given rate.

  wav = load_audio("clip.mp4", 32000, start=12.0, duration=10.0)   # np.float32 [T]
  write_wav("out.wav", wav, 32000)
  with wav_writer("long.wav", 32000) as write:     # appended piece by piece
    write(wav)
  info = audio_info("clip.mkv")   # AudioInfo(duration, sample_rate, channels)

Channels are averaged to mono; resampling is soxr's high-quality band-limited resampler.
Every problem with a file (missing, empty, not media, no audio stream, corrupt or truncated
data) raises `MediaError` naming the file.  Truncation is found when FFmpeg reports bad data,
when fewer samples decode than the container declares, or (WAV) from the RIFF size; a
truncated headerless stream (e.g. an MP3 without a Xing header) is indistinguishable from a
short one and loads as what is there.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
from pathlib import Path

import numpy as np

from vmas_jax.data.errors import MediaError

# A decode that ends this much short of the container's declared duration is a truncated file
# (declared durations of compressed streams can be estimates, hence the slack).
_TRUNCATION_SLACK = 0.1  # fraction of the declared duration
_TRUNCATION_SLACK_S = 0.5


@dataclasses.dataclass(frozen=True)
class AudioInfo:
  duration: float  # seconds (declared by the container; decoded if it declares none)
  sample_rate: int
  channels: int


def _open(path):
  import av
  path = Path(path)
  if not path.exists():
    raise MediaError(path, "no such file")
  if path.is_dir():
    raise MediaError(path, "is a directory, not a media file")
  if path.stat().st_size == 0:
    raise MediaError(path, "empty file")
  _check_riff_size(path)
  try:
    container = av.open(str(path))
  except av.FFmpegError as e:
    raise MediaError(path, f"not a readable media file ({e.strerror or e})") from None
  if not container.streams.audio:
    container.close()
    raise MediaError(path, "no audio stream")
  stream = container.streams.audio[0]
  if stream.codec_context is None:
    container.close()
    from vmas_jax.data.video_io import codec_description
    raise MediaError(path, f"audio codec {codec_description(path, stream.index)} cannot be "
                     "decoded by this FFmpeg build (no decoder for it)")
  return container, stream


def _check_riff_size(path: Path) -> None:
  """WAV/RIFF headers declare the file size; FFmpeg silently decodes a short file, so check."""
  with open(path, "rb") as f:
    head = f.read(12)
  if len(head) == 12 and head[:4] == b"RIFF" and head[8:12] == b"WAVE":
    declared = int.from_bytes(head[4:8], "little") + 8
    actual = path.stat().st_size
    # 0 / 0xFFFFFFFF are placeholders of streaming writers that never patch the header.
    if declared not in (8, 0xFFFFFFFF + 8) and actual < declared:
      raise MediaError(path, f"truncated: the RIFF header declares {declared} bytes, "
                       f"the file has {actual}")


def _declared_duration(container, stream) -> float | None:
  if stream.duration is not None and stream.time_base is not None:
    return float(stream.duration * stream.time_base)
  if container.duration is not None:
    return container.duration / 1_000_000  # AV_TIME_BASE
  return None


def audio_info(path: str | os.PathLike) -> AudioInfo:
  """Duration (s), native sample rate and channel count of the first audio stream."""
  container, stream = _open(path)
  with container:
    rate = stream.codec_context.sample_rate or stream.rate
    channels = stream.codec_context.channels
    duration = _declared_duration(container, stream)
  if duration is None:
    duration = len(load_audio(path, rate)) / rate
  return AudioInfo(duration=duration, sample_rate=int(rate), channels=int(channels))


def _frame_to_mono(frame) -> np.ndarray:
  """An AudioFrame in any sample format -> float32 [n] (mean over channels)."""
  x = frame.to_ndarray()
  channels = len(frame.layout.channels)
  if frame.format.is_packed:  # interleaved: [1, n * C]
    x = x.reshape(-1, channels).T
  if x.dtype.kind == "i":  # s16 / s32: full scale is the integer range
    x = x.astype(np.float32) / np.float32(2 ** (8 * x.dtype.itemsize - 1))
  elif x.dtype.kind == "u":  # u8: offset binary
    x = (x.astype(np.float32) - 128.0) / 128.0
  return x.astype(np.float32).mean(axis=0)


def load_audio(path: str | os.PathLike, sample_rate: int, *, start: float = 0.0,
               duration: float | None = None) -> np.ndarray:
  """Mono float32 `[T]` at `sample_rate` of `[start, start + duration)` seconds of the file's
  first audio stream (to the end when `duration` is None)."""
  import av
  if start < 0 or (duration is not None and duration <= 0):
    raise ValueError(f"{path}: need start >= 0 and duration > 0, got {start}, {duration}")
  container, stream = _open(path)
  declared = _declared_duration(container, stream)
  chunks, native_rate, t0 = [], None, None
  need = None
  try:
    with container:
      if start > 0:
        # Seek to the key frame before `start` (in the stream's time base); the samples
        # between it and `start` are dropped below.
        if stream.time_base:
          container.seek(int(start / stream.time_base), stream=stream, backward=True)
        else:
          container.seek(int(start * 1_000_000), backward=True)  # AV_TIME_BASE units
      got = 0
      for frame in container.decode(stream):
        if native_rate is None:
          native_rate = frame.sample_rate
          t0 = float(frame.time) if frame.time is not None else 0.0
          if duration is not None:
            need = int(np.ceil((start - t0 + duration) * native_rate)) + 1
        chunks.append(_frame_to_mono(frame))
        got += frame.samples
        if need is not None and got >= need:
          break
  except av.FFmpegError as e:
    raise MediaError(path, f"corrupt or truncated {stream.codec_context.name} audio data "
                     f"({e.strerror or e})") from None
  if not chunks:
    raise MediaError(path, "no audio samples could be decoded")
  wav = np.concatenate(chunks)
  decoded_end = t0 + len(wav) / native_rate
  if need is None and declared and start == 0 and (
      decoded_end < declared * (1 - _TRUNCATION_SLACK) - _TRUNCATION_SLACK_S):
    raise MediaError(path, f"truncated: the container declares {declared:.2f} s of audio, "
                     f"only {decoded_end:.2f} s could be decoded")
  skip = max(0, int(round((start - t0) * native_rate)))
  if skip >= len(wav):
    raise MediaError(path, f"start {start:.2f} s is past the end of the audio "
                     f"({decoded_end:.2f} s)")
  wav = wav[skip:]
  if duration is not None:
    wav = wav[:int(round(duration * native_rate))]
  return resample(wav, native_rate, sample_rate)


def resample(wav: np.ndarray, from_rate: int, to_rate: int) -> np.ndarray:
  """Band-limited resampling of `[T]` float32 (soxr, high quality)."""
  if from_rate == to_rate:
    return np.ascontiguousarray(wav, np.float32)
  import soxr
  return soxr.resample(wav.astype(np.float32), from_rate, to_rate, quality="HQ").astype(np.float32)


def write_wav(path: str | os.PathLike, wav: np.ndarray, sample_rate: int,
              subtype: str = "PCM_16") -> Path:
  """Writes `[T]` (mono) or `[T, C]` float audio in [-1, 1] (clipped) as a WAV file."""
  import soundfile as sf
  path = Path(path)
  path.parent.mkdir(parents=True, exist_ok=True)
  wav = np.asarray(wav, np.float32)
  if wav.ndim not in (1, 2):
    raise ValueError(f"{path}: expected audio [T] or [T, C], got shape {wav.shape}")
  sf.write(str(path), np.clip(wav, -1.0, 1.0), int(sample_rate), subtype=subtype, format="WAV")
  return path


@contextlib.contextmanager
def wav_writer(path: str | os.PathLike, sample_rate: int, subtype: str = "PCM_16"):
  """Yields `write(wav [n])`, which appends mono float audio (clipped to [-1, 1]) to the WAV
  file at `path`, so long audio is written without holding it in memory."""
  import soundfile as sf
  path = Path(path)
  path.parent.mkdir(parents=True, exist_ok=True)
  with sf.SoundFile(str(path), "w", int(sample_rate), 1, subtype, format="WAV") as f:
    yield lambda wav: f.write(np.clip(np.asarray(wav, np.float32).reshape(-1), -1.0, 1.0))
